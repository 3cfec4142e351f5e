//! Entity results: the ladder and its tiers, one file each.

mod ladder;
mod local;
mod registry;
mod source;
mod tier;

pub use ladder::ResultLadder;
pub use local::LocalResults;
pub use source::ResultSource;
pub use tier::{ARTIFACTS_CAP, Answer, LOG_CAP, ResultTier, Stored};
