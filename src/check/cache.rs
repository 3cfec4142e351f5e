//! The result cache: an entity's result under a key of what determines it — which check
//! and entity it is, the entity folder's content hash, the environment (its step's
//! hash: content only, so two machines that build the same environment compute the same
//! key), the check's declaration and the user the command runs as. Beside each result, the inputs
//! it was keyed on ([`EntityInputs`]), for `kiln explain` to compare with.

use std::collections::BTreeMap;
use std::path::Path;

use super::inputs::EntityInputs;
use super::remote;
use super::results::EntityResult;
use crate::cache::result::Stored;
use crate::cache::{CacheError, ResultLadder, ResultSource};
use crate::model::Settings;

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

/// A result a tier had, with what came with it.
#[derive(Debug)]
pub struct Found {
    pub source: ResultSource,
    pub result: EntityResult,
    /// The inputs it was keyed on (a shared tier always sends them).
    pub inputs: Option<EntityInputs>,
    /// The end of its log, from a shared tier.
    pub log: Option<Vec<u8>>,
    /// Its artifacts as a tar, from a shared tier.
    pub artifacts: Option<Vec<u8>>,
}

/// The typed face of the result ladder (`cache::ResultLadder`): entity results in,
/// entity results out, and what a shared tier sends checked as hostile: the result must
/// be of the entity and key asked for.
pub struct Results {
    ladder: ResultLadder,
}

impl Results {
    /// The workspace's result tiers; `shared`: the registry's too, if one is set.
    pub fn new(settings: &Settings, shared: bool) -> Self {
        Self {
            ladder: ResultLadder::new(settings, shared),
        }
    }

    /// Where the result of `key` would come from (a shared tier is asked for its
    /// manifest only).
    pub async fn locate(&self, key: &str) -> ResultSource {
        self.ladder.locate(key).await
    }

    /// The result of `key`, if a tier has one of entity `entity` of `check`; an error
    /// only for a shared entry that fails verification where kiln.kdl requires
    /// signatures.
    pub async fn get(
        &self,
        key: &str,
        check: &str,
        entity: &str,
    ) -> Result<Option<Found>, CacheError> {
        let found = self
            .ladder
            .fetch(key, |source, stored| match source {
                ResultSource::Cache => readable(stored, key),
                ResultSource::Registry | ResultSource::Run => of(stored, key, check, entity),
            })
            .await?;
        Ok(found.map(|(source, found)| Found { source, ..found }))
    }

    /// Keeps `result` (keyed on `inputs`) in each tier before `from`, where it came
    /// from (`Run`: every tier); its log and the artifacts under `artifacts_dir` (the
    /// job record's copies) travel to shared tiers, within their caps.
    pub async fn put(
        &self,
        key: &str,
        result: &EntityResult,
        inputs: &EntityInputs,
        artifacts_dir: &Path,
        from: ResultSource,
    ) {
        let inputs = EntityInputs {
            recorded: result.date.clone(),
            ..inputs.clone()
        };
        // Written from the types as before: this machine's entries byte for byte.
        let (Ok(result_json), Ok(inputs_json)) = (
            serde_json::to_vec_pretty(result),
            serde_json::to_vec_pretty(&inputs),
        ) else {
            return;
        };
        let mut stored = Stored {
            result: result_json,
            inputs: Some(inputs_json),
            ..Stored::default()
        };
        if from == ResultSource::Run && self.ladder.shared() {
            stored.log = result
                .log
                .as_ref()
                .and_then(|l| remote::read_tail(Path::new(l), remote::LOG_CAP));
            if !result.artifacts.is_empty() {
                stored.artifacts = remote::pack(artifacts_dir, &result.artifacts);
                if stored.artifacts.is_none() {
                    tracing::info!(
                        "{}/{}: artifacts over {} bytes stay local",
                        result.check,
                        result.key,
                        remote::ARTIFACTS_CAP
                    );
                }
            }
            stored.annotations = BTreeMap::from([
                ("io.kiln.result.check".to_owned(), result.check.clone()),
                ("io.kiln.result.entity".to_owned(), result.key.clone()),
                ("io.kiln.result.class".to_owned(), result.class.to_string()),
            ]);
        }
        if let Err(e) = self.ladder.store(key, &stored, from).await {
            tracing::warn!(
                "cannot cache the result of {}/{}: {e}",
                result.check,
                result.key
            );
        }
    }

    /// The inputs recorded with every result this machine cached of entity `entity`
    /// of `check`, newest first (by the date of the result). Entries without inputs
    /// (written before they were kept) and unreadable ones are passed over.
    pub fn inputs_of(&self, check: &str, entity: &str) -> Vec<(String, EntityInputs)> {
        let mut found: Vec<(String, EntityInputs)> = self
            .ladder
            .local()
            .all_inputs()
            .into_iter()
            .filter_map(|(key, bytes)| Some((key, serde_json::from_slice(&bytes).ok()?)))
            .filter(|(_, inputs): &(String, EntityInputs)| {
                inputs.check == check && inputs.entity == entity
            })
            .collect();
        found.sort_by(|a, b| b.1.recorded.cmp(&a.1.recorded).then(a.0.cmp(&b.0)));
        found
    }
}

/// This machine's entry under `key`, read; a corrupt one is a miss (logged), and the
/// next tier is asked. Its inputs stay on disk: a run that takes it needs none.
fn readable(stored: Stored, key: &str) -> Option<Found> {
    match serde_json::from_slice::<EntityResult>(&stored.result) {
        Ok(result) => Some(Found {
            source: ResultSource::Cache,
            result,
            inputs: None,
            log: None,
            artifacts: None,
        }),
        Err(e) => {
            tracing::warn!("ignoring the corrupt result cache entry {key}: {e}");
            None
        }
    }
}

/// What a shared tier sent under `key`, read, if it is a result of `check`/`entity`
/// keyed on inputs whose key is `key`: another entity's result under this tag is no
/// answer.
fn of(stored: Stored, key: &str, check: &str, entity: &str) -> Option<Found> {
    let result: Option<EntityResult> = serde_json::from_slice(&stored.result).ok();
    let inputs: Option<EntityInputs> = stored
        .inputs
        .as_ref()
        .and_then(|i| serde_json::from_slice(i).ok());
    match (result, inputs) {
        (Some(result), Some(inputs))
            if result.check == check && result.key == entity && inputs.key() == key =>
        {
            Some(Found {
                source: ResultSource::Registry,
                result,
                inputs: Some(inputs),
                log: stored.log,
                artifacts: stored.artifacts,
            })
        }
        _ => {
            tracing::warn!(
                "results registry: the result under `result-{key}` is not of {check}/{entity}; ignored"
            );
            None
        }
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

    fn settings(dir: &Path) -> Settings {
        Settings::defaults(dir)
    }

    #[tokio::test]
    async fn round_trip_miss_and_corrupt_entry() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(&settings(dir.path()), false);
        let (check, key) = ("env/models", "hello");
        assert!(results.get("k", check, key).await.unwrap().is_none());
        assert_eq!(results.locate("k").await, ResultSource::Run);
        let put = |r: EntityResult| {
            let results = &results;
            async move {
                results
                    .put(
                        "k",
                        &r,
                        &inputs(key),
                        Path::new("/nowhere"),
                        ResultSource::Run,
                    )
                    .await
            }
        };
        put(result(key)).await;
        let found = results.get("k", check, key).await.unwrap().unwrap();
        assert_eq!(found.source, ResultSource::Cache);
        assert_eq!(found.result, result(key));
        assert_eq!(results.locate("k").await, ResultSource::Cache);
        let entry = settings(dir.path()).result_cache_dir().join("k.json");
        std::fs::write(&entry, "{ not json").unwrap();
        assert!(results.get("k", check, key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_inputs_of_an_entity_come_newest_first_and_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::new(&settings(dir.path()), false);
        let dated = |date: &str| EntityResult {
            date: date.to_owned(),
            ..result("alpha")
        };
        for (key, date, entity) in [
            ("old", "2026-01-01T00:00:00Z", "alpha"),
            ("new", "2026-02-01T00:00:00Z", "alpha"),
            ("other", "2026-03-01T00:00:00Z", "beta"),
        ] {
            results
                .put(
                    key,
                    &dated(date),
                    &inputs(entity),
                    Path::new("/nowhere"),
                    ResultSource::Run,
                )
                .await;
        }
        let found = results.inputs_of("env/models", "alpha");
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["new", "old"]);
        assert_eq!(
            found[0].1.recorded, "2026-02-01T00:00:00Z",
            "dated by the result"
        );
    }
}
