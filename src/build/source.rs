//! Where a step's image came from: a cache tier, or a build.

use serde::{Serialize, Serializer};

use crate::cache::ImageTier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A tier of the image ladder had it (the daemon: it was there already).
    Tier(ImageTier),
    /// Built.
    Built,
}

impl Source {
    pub const DAEMON: Source = Source::Tier(ImageTier::Daemon);
    pub const FILE: Source = Source::Tier(ImageTier::File);
    pub const REGISTRY: Source = Source::Tier(ImageTier::Registry);

    /// The tier as a sentence names it: `the file cache`, `the registry`.
    pub fn place(self) -> &'static str {
        match self {
            Source::Tier(tier) => tier.place(),
            Source::Built => "a build",
        }
    }

    /// As events, summaries and `kiln plan --json` write it: `daemon`, `file`,
    /// `registry`, `built`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tier(tier) => tier.as_str(),
            Source::Built => "built",
        }
    }

    /// The tier; `None` for a build.
    pub fn tier(self) -> Option<ImageTier> {
        match self {
            Source::Tier(tier) => Some(tier),
            Source::Built => None,
        }
    }
}

/// The first tier that had it; none: a build.
impl From<Option<ImageTier>> for Source {
    fn from(tier: Option<ImageTier>) -> Self {
        tier.map_or(Source::Built, Source::Tier)
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
