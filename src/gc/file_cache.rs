//! The file cache within `max-size`: the oldest tarballs go first; the newest tarball of
//! each step stays whatever the budget (a build may need it next), and so does every
//! tarball a running kiln holds — the lock `obtain` and `save` hold for the image
//! (`.kiln/locks/<image>.lock`) and the one a load or a store holds on the tarball
//! (`<cache>/<image>.lock`), both tried without waiting.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Collected, GcError, Removal};

struct Tarball {
    path: PathBuf,
    /// The file name without `.tar`: the image's file stem.
    stem: String,
    /// The step: the stem without its hash.
    step: String,
    bytes: u64,
    modified: SystemTime,
}

pub fn collect(
    cache_dir: &Path,
    lock_dir: &Path,
    max_size: Option<u64>,
    dry_run: bool,
    collected: &mut Collected,
) -> Result<(), GcError> {
    let mut tarballs = list(cache_dir)?;
    let mut total: u64 = tarballs.iter().map(|t| t.bytes).sum();
    collected.file_cache_bytes = total;
    let Some(max_size) = max_size else {
        return Ok(());
    };
    // Newest first: the first of each step is the one that stays.
    tarballs.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.stem.cmp(&b.stem)));
    let mut newest_seen = HashSet::new();
    let mut candidates = Vec::new();
    for tarball in tarballs {
        if newest_seen.insert(tarball.step.clone()) {
            continue;
        }
        candidates.push(tarball);
    }
    // Oldest first.
    candidates.reverse();
    // A lock file is made where none was yet: nobody holds it then.
    let _ = std::fs::create_dir_all(lock_dir);
    for tarball in candidates {
        if total <= max_size {
            break;
        }
        let locks = [
            lock_dir.join(format!("{}.lock", tarball.stem)),
            cache_dir.join(format!("{}.lock", tarball.stem)),
        ];
        let held: Vec<File> = locks.iter().filter_map(|l| try_lock(l)).collect();
        if held.len() < locks.len() {
            collected.kept.push(format!(
                "{}: a running kiln holds it",
                tarball.path.display()
            ));
            continue;
        }
        if !dry_run {
            remove(&tarball.path)?;
            remove(&tarball.path.with_extension("tar.sha256"))?;
            remove(&tarball.path.with_extension("tar.record.json"))?;
        }
        total -= tarball.bytes;
        collected.removed.push(Removal {
            kind: "tarball",
            what: tarball.path.display().to_string(),
            bytes: tarball.bytes,
        });
        drop(held);
    }
    if total > max_size {
        collected.kept.push(format!(
            "the file cache holds {total} bytes, over the budget of {max_size}: what is left is each step's newest tarball, or held by a running kiln"
        ));
    }
    collected.file_cache_bytes = total;
    Ok(())
}

/// The lock at `path`, taken without waiting; `None` when another process holds it. A
/// lock file that cannot be opened (a read-only folder) counts as held: kiln keeps what
/// it cannot be sure of.
fn try_lock(path: &Path) -> Option<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

fn remove(path: &Path) -> Result<(), GcError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(GcError::io(path, e)),
    }
}

/// The tarballs of the cache (with their checksum sidecars' size counted).
fn list(cache_dir: &Path) -> Result<Vec<Tarball>, GcError> {
    let entries = match std::fs::read_dir(cache_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(GcError::io(cache_dir, e)),
    };
    let mut tarballs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".tar"))
            .map(str::to_owned)
        else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let sidecar = ["tar.sha256", "tar.record.json"]
            .iter()
            .map(|ext| std::fs::metadata(path.with_extension(ext)).map_or(0, |m| m.len()))
            .sum::<u64>();
        let step = stem
            .rsplit_once('_')
            .map_or(stem.clone(), |(step, _)| step.to_owned());
        tarballs.push(Tarball {
            bytes: meta.len() + sidecar,
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            path,
            stem,
            step,
        });
    }
    Ok(tarballs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, name: &str, bytes: usize, age_s: u64) {
        let path = dir.join(format!("{name}.tar"));
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let when = SystemTime::now() - std::time::Duration::from_secs(age_s);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn the_oldest_go_first_and_each_steps_newest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        tarball(&cache, "kiln_f-a_111", 100, 30);
        tarball(&cache, "kiln_f-a_222", 100, 20);
        tarball(&cache, "kiln_f-a_333", 100, 10);
        tarball(&cache, "kiln_f-b_444", 100, 40);
        let mut collected = Collected::default();
        collect(
            &cache,
            &dir.path().join("locks"),
            Some(150),
            false,
            &mut collected,
        )
        .unwrap();
        let removed: Vec<&str> = collected
            .removed
            .iter()
            .map(|r| r.what.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(removed, ["kiln_f-a_111.tar", "kiln_f-a_222.tar"]);
        assert!(cache.join("kiln_f-a_333.tar").is_file());
        assert!(cache.join("kiln_f-b_444.tar").is_file(), "b's only tarball");
        assert_eq!(collected.file_cache_bytes, 200);
        assert!(collected.kept.iter().any(|k| k.contains("over the budget")));
    }

    #[test]
    fn a_held_tarball_stays_and_a_dry_run_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let locks = dir.path().join("locks");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::create_dir_all(&locks).unwrap();
        tarball(&cache, "kiln_f-a_111", 100, 30);
        tarball(&cache, "kiln_f-a_222", 100, 20);
        tarball(&cache, "kiln_f-a_333", 100, 10);
        let held = try_lock(&locks.join("kiln_f-a_111.lock")).unwrap();
        let mut dry = Collected::default();
        collect(&cache, &locks, Some(0), true, &mut dry).unwrap();
        assert_eq!(dry.removed.len(), 1, "{dry:?}");
        assert!(
            cache.join("kiln_f-a_222.tar").is_file(),
            "a dry run removes nothing"
        );
        let mut collected = Collected::default();
        collect(&cache, &locks, Some(0), false, &mut collected).unwrap();
        assert!(cache.join("kiln_f-a_111.tar").is_file(), "held");
        assert!(!cache.join("kiln_f-a_222.tar").exists());
        assert!(collected.kept.iter().any(|k| k.contains("running kiln")));
        drop(held);
    }
}
