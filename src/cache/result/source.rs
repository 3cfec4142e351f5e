//! Where an entity's result comes from, or for `kiln plan --checks` would come from.

use serde::Serialize;

/// The result tiers in the order a run asks them, then running the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultSource {
    /// This machine's result cache.
    Cache,
    /// A result another machine pushed to the registry.
    Registry,
    /// No tier has it: the entity runs.
    Run,
}

impl ResultSource {
    /// As summaries, `--json` and `kiln plan` write it: `cache`, `registry`, `run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Registry => "registry",
            Self::Run => "run",
        }
    }
}

impl ResultSource {
    /// As a warning names the tier: `result cache`, `results registry`.
    pub fn tier_name(self) -> &'static str {
        match self {
            Self::Cache => "result cache",
            Self::Registry => "results registry",
            Self::Run => "run",
        }
    }
}

impl std::fmt::Display for ResultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
