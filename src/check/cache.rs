//! The result cache: an entity's result under a key of what determines it — which check
//! and entity it is, the entity folder's content hash, the environment image's id, the
//! check's declaration and the user the command runs as.

use std::path::{Path, PathBuf};

use super::results::EntityResult;

/// Version of the key's encoding; raised when what goes into a key changes.
pub const CACHE_KEY_VERSION: u32 = 3;

/// What a cached result depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInputs<'a> {
    /// `<flavor>/<check>`: two checks over the same folders (an inherited check, say)
    /// keep their own results.
    pub check: &'a str,
    /// The entity's key: two metadata files in one folder are two entities.
    pub entity: &'a str,
    pub entity_hash: &'a str,
    pub image_id: &'a str,
    pub declaration: &'a str,
    pub user: &'a str,
}

/// sha256 hex of `kiln-result-cache <version>` and each input, NUL-separated in the
/// order of [`KeyInputs`]' fields.
pub fn cache_key(inputs: &KeyInputs<'_>) -> String {
    let KeyInputs {
        check,
        entity,
        entity_hash,
        image_id,
        declaration,
        user,
    } = inputs;
    crate::hash::sha256_hex(
        format!(
            "kiln-result-cache {CACHE_KEY_VERSION}\0{check}\0{entity}\0{entity_hash}\0{image_id}\0{declaration}\0{user}"
        )
        .as_bytes(),
    )
}

/// Entries are `<dir>/<key>.json`.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The cached result; a missing entry is a miss, an unreadable one too (logged).
    pub fn get(&self, key: &str) -> Option<EntityResult> {
        let path = self.path(key);
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str(&text) {
            Ok(result) => Some(result),
            Err(e) => {
                tracing::warn!(
                    "ignoring the corrupt result cache entry {}: {e}",
                    path.display()
                );
                None
            }
        }
    }

    /// Stores `result` (temporary name, then rename: readers never see half an entry).
    pub fn put(&self, key: &str, result: &EntityResult) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(key);
        let temp = self
            .dir
            .join(format!(".{key}.json.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(result).map_err(std::io::Error::other)?;
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }

    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::outcome::ResultClass;

    pub(crate) fn result(key: &str) -> EntityResult {
        EntityResult {
            key: key.to_owned(),
            check: "env/models".to_owned(),
            class: ResultClass::Success,
            exit_code: Some(0),
            runtime_ms: 12,
            date: "2026-11-23T00:00:00Z".to_owned(),
            environment: "kiln:env-base_0123".to_owned(),
            image_id: "sha256:abc".to_owned(),
            container: None,
            cached: false,
            output_tail: String::new(),
            log: None,
            artifacts: vec![],
        }
    }

    #[test]
    fn keys_change_with_each_input() {
        let base = KeyInputs {
            check: "env/models",
            entity: "alpha",
            entity_hash: "e",
            image_id: "i",
            declaration: "d",
            user: "u",
        };
        let key = cache_key(&base);
        assert_eq!(key, cache_key(&base.clone()));
        let changed = [
            KeyInputs {
                check: "env-debug/models",
                ..base
            },
            KeyInputs {
                entity: "beta",
                ..base
            },
            KeyInputs {
                entity_hash: "e2",
                ..base
            },
            KeyInputs {
                image_id: "i2",
                ..base
            },
            KeyInputs {
                declaration: "d2",
                ..base
            },
            KeyInputs {
                user: "1000:1000",
                ..base
            },
        ];
        for inputs in changed {
            assert_ne!(key, cache_key(&inputs), "{inputs:?}");
        }
        // The separator keeps inputs apart: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            cache_key(&KeyInputs {
                entity_hash: "ab",
                image_id: "c",
                ..base
            }),
            cache_key(&KeyInputs {
                entity_hash: "a",
                image_id: "bc",
                ..base
            })
        );
    }

    #[test]
    fn round_trip_miss_and_corrupt_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path().join("cache"));
        assert!(cache.get("k").is_none());
        cache.put("k", &result("hello")).unwrap();
        assert_eq!(cache.get("k"), Some(result("hello")));
        std::fs::write(dir.path().join("cache/k.json"), "{ not json").unwrap();
        assert!(cache.get("k").is_none());
        cache.remove("k");
        assert!(!dir.path().join("cache/k.json").exists());
    }
}
