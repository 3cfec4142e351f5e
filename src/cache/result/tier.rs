//! One tier of the result ladder, and a result as the tiers hold it: JSON text they do
//! not interpret, kept byte for byte (the check layer above writes it from its types and
//! checks what comes back), a log and an artifacts tar.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::source::ResultSource;
use crate::cache::{CacheError, Refusal};

/// The most of a log a result carries to a shared tier (its end), and the most a
/// fetched log may be.
pub const LOG_CAP: usize = 1024 * 1024;
/// The most a result's artifacts may take to travel to a shared tier; over it they stay
/// local.
pub const ARTIFACTS_CAP: u64 = 16 * 1024 * 1024;

/// A result with what travels with it.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The result as JSON (`results.json` layout).
    pub result: Vec<u8>,
    /// The inputs it was keyed on, as JSON; `None` when the tier kept none (this
    /// machine's tier does not read them back with a result).
    pub inputs: Option<Vec<u8>>,
    /// The end of its log; tiers on this machine keep none (the job record has it).
    pub log: Option<Vec<u8>>,
    /// Its artifacts as a tar; tiers on this machine keep none.
    pub artifacts: Option<Vec<u8>>,
    /// Short facts a shared tier shows without fetching (check, entity, class).
    pub annotations: BTreeMap<String, String>,
}

/// What a tier has under a key.
#[derive(Debug)]
pub enum Answer {
    Found(Stored),
    Missing,
    /// It has an entry, which is not used (over a bound, or not signed by a trusted
    /// key).
    Refused(Refusal),
}

/// One tier. `Err` is the tier failing (down, refusing): the ladder's breaker
/// remembers it for the run; a key the tier does not have is `Ok(false)`/`Ok(None)`.
#[async_trait]
pub trait ResultTier: Send + Sync {
    fn source(&self) -> ResultSource;

    /// Whether it has a result under `key` (as cheaply as it can tell).
    async fn probe(&self, key: &str) -> Result<bool, CacheError>;

    async fn fetch(&self, key: &str) -> Result<Answer, CacheError>;

    async fn store(&self, key: &str, stored: &Stored) -> Result<(), CacheError>;
}
