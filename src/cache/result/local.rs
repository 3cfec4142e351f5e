//! The first result tier: this machine's result cache, `<dir>/<key>.json` with the
//! inputs it was keyed on beside it as `<dir>/<key>.inputs.json` (for `kiln explain`).
//! Each file is written to a temporary name and renamed: readers never see half an
//! entry, and the inputs go first, so a result is never there without them.

use std::path::PathBuf;

use async_trait::async_trait;

use super::source::ResultSource;
use super::tier::{Answer, ResultTier, Stored};
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

    /// The result under `key` as written; a missing or unreadable entry is a miss.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.result_path(key)).ok()
    }

    /// Stores a result and the inputs it was keyed on.
    pub fn put(&self, key: &str, result: &[u8], inputs: Option<&[u8]>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if let Some(inputs) = inputs {
            write_atomic(&self.inputs_path(key), inputs)?;
        }
        write_atomic(&self.result_path(key), result)
    }

    /// Every entry's key and recorded inputs (entries without inputs, and unreadable
    /// ones, passed over).
    pub fn all_inputs(&self) -> Vec<(String, Vec<u8>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let key = name.strip_suffix(".inputs.json")?.to_owned();
                Some((key, std::fs::read(entry.path()).ok()?))
            })
            .collect()
    }
}

#[async_trait]
impl ResultTier for LocalResults {
    fn source(&self) -> ResultSource {
        ResultSource::Cache
    }

    /// An entry that is JSON at least (the check layer knows its type).
    async fn probe(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self
            .get(key)
            .is_some_and(|bytes| serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()))
    }

    /// The result alone: its inputs stay on disk until `kiln explain` reads them
    /// ([`LocalResults::all_inputs`]); a run that takes the result needs none.
    async fn fetch(&self, key: &str) -> Result<Answer, CacheError> {
        Ok(match self.get(key) {
            Some(result) => Answer::Found(Stored {
                result,
                ..Stored::default()
            }),
            None => Answer::Missing,
        })
    }

    async fn store(&self, key: &str, stored: &Stored) -> Result<(), CacheError> {
        self.put(key, &stored.result, stored.inputs.as_deref())
            .map_err(|e| CacheError::io(&self.dir, e))
    }
}
