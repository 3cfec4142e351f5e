//! The first result tier: this machine's result cache, `<dir>/<key>.json` with the
//! inputs it was keyed on beside it as `<dir>/<key>.inputs.json` (for `kiln explain`).
//! Each file is written to a temporary name and renamed: readers never see half an
//! entry, and the inputs go first, so a result is never there without them.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::source::ResultSource;
use super::tier::{ResultTier, Stored};
use crate::cache::CacheError;
use crate::job::write_atomic;

#[derive(Debug, Clone)]
pub struct LocalResults {
    dir: PathBuf,
}

impl LocalResults {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn result_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn inputs_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.inputs.json"))
    }

    /// The result under `key`; a missing entry is a miss, an unreadable one too
    /// (logged).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        read_json(&self.result_path(key))
    }

    /// Stores a result and the inputs it was keyed on.
    pub fn put(
        &self,
        key: &str,
        result: &serde_json::Value,
        inputs: Option<&serde_json::Value>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if let Some(inputs) = inputs {
            write_json(&self.inputs_path(key), inputs)?;
        }
        write_json(&self.result_path(key), result)
    }

    /// Every entry's key and recorded inputs (entries without inputs, and unreadable
    /// ones, passed over).
    pub fn all_inputs(&self) -> Vec<(String, serde_json::Value)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let key = name.strip_suffix(".inputs.json")?.to_owned();
                let text = std::fs::read_to_string(entry.path()).ok()?;
                Some((key, serde_json::from_str(&text).ok()?))
            })
            .collect()
    }
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(
                "ignoring the corrupt result cache entry {}: {e}",
                path.display()
            );
            None
        }
    }
}

fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, text.as_bytes())
}

#[async_trait]
impl ResultTier for LocalResults {
    fn source(&self) -> ResultSource {
        ResultSource::Cache
    }

    /// A readable entry: a corrupt one is no answer, as a run would find.
    async fn probe(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self.get(key).is_some())
    }

    /// The result alone: its inputs stay on disk until `kiln explain` reads them
    /// ([`LocalResults::all_inputs`]); a run that takes the result needs none.
    async fn fetch(&self, key: &str) -> Result<Option<Stored>, CacheError> {
        Ok(self.get(key).map(|result| Stored {
            result,
            ..Stored::default()
        }))
    }

    async fn store(&self, key: &str, stored: &Stored) -> Result<(), CacheError> {
        self.put(key, &stored.result, stored.inputs.as_ref())
            .map_err(|e| CacheError::io(&self.dir, e))
    }
}
