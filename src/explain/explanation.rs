//! What `kiln explain` says of a step: where its image comes from (each tier asked),
//! and — when it would be built — what changed since the inputs it is compared with,
//! a changed dependency explained in turn. As text and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cache::ImageTier;
use crate::cache::image::TierAnswer;
use crate::hash::{Change, EntryKind};

use super::earlier::Origin;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// `flavor/step`.
    pub node: String,
    /// The image the step's inputs name now.
    pub image: String,
    pub hash: String,
    /// Each tier, asked in order.
    pub tiers: Vec<TierAnswer>,
    /// The first tier that has the image; `None`: it would be built.
    pub from: Option<ImageTier>,
    /// Why it would be built: what changed since the earlier inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

/// What differs between a step's inputs now and earlier ones.
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// The earlier inputs compared with; `None` when none are known.
    pub compared_with: Option<Compared>,
    pub changed: Vec<Changed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub hash: String,
    #[serde(flatten)]
    pub origin: Origin,
}

/// One changed input.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    #[serde(flatten)]
    pub change: Change,
    /// A file's path in the workspace (or on the host, for an include from outside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A changed dependency: why it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Box<Because>>,
}

/// Why a dependency's hash changed.
#[derive(Debug, Clone, Serialize)]
pub struct Because {
    pub node: String,
    #[serde(flatten)]
    pub changes: Changes,
}

impl Explanation {
    /// The explanation as a person reads it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        match self.from {
            Some(tier) => {
                let _ = writeln!(
                    out,
                    "{}: from the {} ({})",
                    self.node,
                    tier.name(),
                    self.image
                );
            }
            None => {
                let _ = writeln!(out, "{}: would be built ({})", self.node, self.image);
            }
        }
        for answer in &self.tiers {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                if answer.hit { "hit " } else { "miss" },
                answer.tier.name(),
                answer.detail
            );
        }
        match (self.from, &self.changes) {
            (Some(tier), _) => {
                let _ = writeln!(
                    out,
                    "  nothing changed: the {} has the image of these very inputs (hash {})",
                    tier.name(),
                    short(&self.hash)
                );
            }
            (None, Some(changes)) => write_changes(&mut out, changes, 1),
            (None, None) => {}
        }
        out
    }
}

pub(super) fn write_changes(out: &mut String, changes: &Changes, depth: usize) {
    let indent = "  ".repeat(depth);
    let Some(compared) = &changes.compared_with else {
        let _ = writeln!(
            out,
            "{indent}no earlier inputs of this step are known (no job record of it, no image of it in the daemon with kiln's manifest label): nothing to compare with"
        );
        return;
    };
    if changes.changed.is_empty() {
        let _ = writeln!(
            out,
            "{indent}the same inputs as in {} (hash {})",
            compared.origin,
            short(&compared.hash)
        );
        return;
    }
    let _ = writeln!(
        out,
        "{indent}changed since {} (hash {}):",
        compared.origin,
        short(&compared.hash)
    );
    for changed in &changes.changed {
        let _ = write!(out, "{indent}- {}", describe(&changed.change));
        if let Some(source) = &changed.source {
            let _ = write!(out, " ({source})");
        }
        let _ = writeln!(out);
        if let Some(because) = &changed.because {
            let _ = writeln!(out, "{indent}  because `{}` changed:", because.node);
            write_changes(out, &because.changes, depth + 2);
        }
    }
}

/// A change in words: `file `a.txt`: content changed`.
fn describe(change: &Change) -> String {
    match change {
        Change::Changed { old, new } if new.kind == EntryKind::Dependency => format!(
            "dependency `{}` changed: {} → {}",
            new.name,
            short(&old.digest),
            short(&new.digest)
        ),
        Change::Changed { old, new } if new.kind == EntryKind::Arg => {
            format!(
                "build arg `{}` has another value (was {} by digest)",
                new.name,
                short(&old.digest)
            )
        }
        other => other.to_string(),
    }
}

pub(super) fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
