//! Images: the ladder and its tiers, one file each.

mod daemon;
pub mod file;
mod ladder;
mod record;
mod registry;
mod tier;

use std::collections::HashMap;

pub use ladder::{ImageLadder, Located, Obtained, TierAnswer};
pub use tier::{Fetched, ImageTier, Probe, Tier, Want};

/// Whether an image's labels say it is the image of the step hashed `hash`.
fn has_hash(labels: &HashMap<String, String>, hash: &str) -> bool {
    labels.get(crate::docker::labels::HASH).map(String::as_str) == Some(hash)
}
