//! The result cache keeps, per entity of a check, its newest `keep` results (and the
//! inputs recorded beside each): an older one only answers if an entity's inputs go
//! back to what they were that long ago. A result whose entry does not parse is left to
//! the cache (it counts as a miss there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check::results::EntityResult;

use super::{Collected, GcError, Removal};

pub fn collect(
    cache_dir: &Path,
    keep: usize,
    dry_run: bool,
    collected: &mut Collected,
) -> Result<(), GcError> {
    let entries = match std::fs::read_dir(cache_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(GcError::io(cache_dir, e)),
    };
    // (check, entity) → (date, entry path), of every readable result.
    let mut by_entity: BTreeMap<(String, String), Vec<(String, PathBuf)>> = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".json") || name.ends_with(".inputs.json") || name.starts_with('.') {
            continue;
        }
        let Some(result) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<EntityResult>(&text).ok())
        else {
            continue;
        };
        by_entity
            .entry((result.check, result.key))
            .or_default()
            .push((result.date, path));
    }
    for mut results in by_entity.into_values() {
        // Newest first; equal dates by path, so that a collection is deterministic.
        results.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, path) in results.into_iter().skip(keep) {
            let inputs = path.with_extension("inputs.json");
            let bytes = size(&path) + size(&inputs);
            if !dry_run {
                remove(&inputs)?;
                remove(&path)?;
            }
            collected.removed.push(Removal {
                kind: "cached result",
                what: path.display().to_string(),
                bytes,
            });
        }
    }
    Ok(())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Removes `path`; one already gone (another collection) is fine.
fn remove(path: &Path) -> Result<(), GcError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(GcError::io(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, name: &str, key: &str, date: &str) {
        let result = serde_json::json!({
            "key": key, "check": "env/models", "class": "success", "exit_code": 0,
            "runtime_ms": 1, "date": date, "environment": "e", "image_id": "i",
            "container": null, "cached": false, "output_tail": "", "log": null,
            "artifacts": []
        });
        std::fs::write(dir.join(format!("{name}.json")), result.to_string()).unwrap();
        std::fs::write(dir.join(format!("{name}.inputs.json")), "{}").unwrap();
    }

    #[test]
    fn each_entity_keeps_its_newest_results() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "a1", "alpha", "2026-01-01T00:00:00Z");
        put(dir.path(), "a2", "alpha", "2026-02-01T00:00:00Z");
        put(dir.path(), "a3", "alpha", "2026-03-01T00:00:00Z");
        put(dir.path(), "b1", "beta", "2026-01-01T00:00:00Z");
        std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();

        let mut dry = Collected::default();
        collect(dir.path(), 2, true, &mut dry).unwrap();
        assert_eq!(dry.removed.len(), 1);
        assert!(
            dir.path().join("a1.json").exists(),
            "a dry run removes nothing"
        );

        let mut collected = Collected::default();
        collect(dir.path(), 2, false, &mut collected).unwrap();
        let gone: Vec<&str> = collected.removed.iter().map(|r| r.what.as_str()).collect();
        assert!(gone[0].ends_with("a1.json"), "{gone:?}");
        assert!(
            !dir.path().join("a1.json").exists() && !dir.path().join("a1.inputs.json").exists()
        );
        for stays in [
            "a2.json",
            "a3.json",
            "a3.inputs.json",
            "b1.json",
            "broken.json",
        ] {
            assert!(dir.path().join(stays).exists(), "{stays}");
        }
    }
}
