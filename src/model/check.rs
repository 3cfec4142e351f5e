//! An entity check: run every entity of a data repository inside an environment image.

use std::path::PathBuf;
use std::time::Duration;

use super::Spanned;

/// A `check` block of a flavor.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// Step of this flavor whose image runs the check.
    pub image: Spanned<String>,
    pub entities: EntitySource,
    /// Only entities whose metadata field equals the value (all must match).
    pub filters: Vec<Filter>,
    /// Environment chosen per entity from a metadata field.
    pub environment: Option<EnvironmentSelect>,
    /// Command and arguments; templated with `entity.*` fields.
    pub run: Vec<Spanned<String>>,
    pub env: Vec<(Spanned<String>, String)>,
    pub mounts: Vec<Mount>,
    pub workdir: Option<Spanned<String>>,
    pub timeout: Option<Spanned<Duration>>,
    pub outcome: Outcome,
    pub artifacts: Vec<Spanned<String>>,
    /// Globs of files outside the entity's folder its result depends on, relative to the
    /// workspace root and templated with `entity.*` (`problems/{{ entity.problem }}/**`):
    /// hashed into the result's key.
    pub inputs: Vec<Spanned<String>>,
}

/// How entities are discovered: a glob of metadata files relative to the workspace root.
#[derive(Debug, Clone)]
pub struct EntitySource {
    pub glob: Spanned<String>,
    /// Metadata field holding the entity's unique key.
    pub key: Spanned<String>,
    /// Globs of metadata files the glob matches that are no entities (a data
    /// repository's `_template`), relative to the workspace root.
    pub exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub field: Spanned<String>,
    pub value: Spanned<String>,
}

/// `environment field="…" { when "value" flavor="…" step="…" }`.
#[derive(Debug, Clone)]
pub struct EnvironmentSelect {
    pub field: Spanned<String>,
    pub cases: Vec<EnvironmentCase>,
}

#[derive(Debug, Clone)]
pub struct EnvironmentCase {
    pub value: Spanned<String>,
    pub flavor: Spanned<String>,
    /// Step of that flavor; defaults to the check's `image` step.
    pub step: Option<Spanned<String>>,
}

/// A host folder mounted into the environment container.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Absolute host path.
    pub source: Spanned<PathBuf>,
    pub target: Spanned<String>,
    pub readonly: bool,
}

/// Exit-code mapping; any other code is a script error, a timeout its own class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: Vec<u8>,
    pub inaccurate: Vec<u8>,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            success: vec![0],
            inaccurate: Vec::new(),
        }
    }
}
