//! The result cache: an entity's result under a key of what determines it — which check
//! and entity it is, the entity folder's content hash, the environment (its step's
//! hash: content only, so two machines that build the same environment compute the same
//! key), the check's declaration and the user the command runs as. Beside each result, the inputs
//! it was keyed on ([`EntityInputs`]), for `kiln explain` to compare with.

use std::path::{Path, PathBuf};

use super::inputs::EntityInputs;
use super::results::EntityResult;

/// Version of the key's encoding; raised when what goes into a key changes.
pub const CACHE_KEY_VERSION: u32 = 4;

/// What a cached result depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInputs<'a> {
    /// `<flavor>/<check>`: two checks over the same folders (an inherited check, say)
    /// keep their own results.
    pub check: &'a str,
    /// The entity's key: two metadata files in one folder are two entities.
    pub entity: &'a str,
    pub entity_hash: &'a str,
    /// The hash of the files outside its folder the check's `inputs` name ("" when it
    /// declares none).
    pub extra: &'a str,
    /// The environment step's hash (its image's `io.kiln.hash` label): the same on
    /// every machine, where the image id is not (the classic builder stamps a time).
    pub environment: &'a str,
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
        extra,
        environment,
        declaration,
        user,
    } = inputs;
    crate::hash::sha256_hex(
        format!(
            "kiln-result-cache {CACHE_KEY_VERSION}\0{check}\0{entity}\0{entity_hash}\0{extra}\0{environment}\0{declaration}\0{user}"
        )
        .as_bytes(),
    )
}

/// Entries are `<dir>/<key>.json`, their inputs `<dir>/<key>.inputs.json`.
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

    /// Stores `result` and the inputs it was keyed on (each by a temporary name, then
    /// rename: readers never see half an entry). The inputs go first: a result is never
    /// there without them.
    pub fn put(
        &self,
        key: &str,
        result: &EntityResult,
        inputs: &EntityInputs,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let inputs = EntityInputs {
            recorded: result.date.clone(),
            ..inputs.clone()
        };
        self.write(&format!("{key}.inputs.json"), &inputs)?;
        self.write(&format!("{key}.json"), result)
    }

    fn write(&self, name: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
        let path = self.dir.join(name);
        let temp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }

    /// The inputs recorded with every cached result of entity `entity` of `check`,
    /// newest first (by the date of the result). Entries without inputs (written
    /// before they were kept) and unreadable ones are passed over.
    pub fn inputs_of(&self, check: &str, entity: &str) -> Vec<(String, EntityInputs)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(String, EntityInputs)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let key = name.strip_suffix(".inputs.json")?.to_owned();
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let inputs: EntityInputs = serde_json::from_str(&text).ok()?;
                (inputs.check == check && inputs.entity == entity).then_some((key, inputs))
            })
            .collect();
        found.sort_by(|a, b| b.1.recorded.cmp(&a.1.recorded).then(a.0.cmp(&b.0)));
        found
    }

    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
        let _ = std::fs::remove_file(self.dir.join(format!("{key}.inputs.json")));
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
            extra: "",
            environment: "i",
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
                environment: "i2",
                ..base
            },
            KeyInputs { extra: "x", ..base },
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
                environment: "c",
                ..base
            }),
            cache_key(&KeyInputs {
                entity_hash: "a",
                environment: "bc",
                ..base
            })
        );
    }

    fn inputs(entity: &str) -> EntityInputs {
        use crate::check::inputs::EnvironmentImage;
        let context = crate::hash::Context { files: Vec::new() };
        EntityInputs {
            format: CACHE_KEY_VERSION,
            check: "env/models".to_owned(),
            entity: entity.to_owned(),
            folder: crate::hash::step_hash(&crate::hash::StepInputs {
                bases: Vec::new(),
                dockerfile: b"",
                args: Vec::new(),
                dependencies: Vec::new(),
                context: &context,
            }),
            extra: None,
            environment: EnvironmentImage {
                step: "env/base".to_owned(),
                image: "kiln:env-base_0123".to_owned(),
                image_id: "sha256:abc".to_owned(),
                hash: None,
            },
            declaration: "{}".to_owned(),
            user: "0:0".to_owned(),
            recorded: String::new(),
        }
    }

    #[test]
    fn round_trip_miss_and_corrupt_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path().join("cache"));
        assert!(cache.get("k").is_none());
        cache.put("k", &result("hello"), &inputs("hello")).unwrap();
        assert_eq!(cache.get("k"), Some(result("hello")));
        std::fs::write(dir.path().join("cache/k.json"), "{ not json").unwrap();
        assert!(cache.get("k").is_none());
        cache.remove("k");
        assert!(!dir.path().join("cache/k.json").exists());
        assert!(!dir.path().join("cache/k.inputs.json").exists());
    }

    #[test]
    fn the_inputs_of_an_entity_come_newest_first_and_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path().join("cache"));
        let dated = |date: &str| EntityResult {
            date: date.to_owned(),
            ..result("alpha")
        };
        cache
            .put("old", &dated("2026-01-01T00:00:00Z"), &inputs("alpha"))
            .unwrap();
        cache
            .put("new", &dated("2026-02-01T00:00:00Z"), &inputs("alpha"))
            .unwrap();
        cache
            .put("other", &dated("2026-03-01T00:00:00Z"), &inputs("beta"))
            .unwrap();
        let found = cache.inputs_of("env/models", "alpha");
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["new", "old"]);
        assert_eq!(
            found[0].1.recorded, "2026-02-01T00:00:00Z",
            "dated by the result"
        );
    }
}
