//! The one node type of every run, and what a node produces. The engine runs these
//! without knowing what they do; the executor (`src/run/`) does the work; listeners
//! (`src/report/`) read the [`Output`] the engine's events carry.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::build::{Cleaned, Exported, Image, Obtain, Source};
use crate::check::results::EntityResult;
use crate::check::{EntityTask, PlannedEntity, Recorded};
use crate::engine;
use crate::model::{CheckId, StepId};

use super::work::CleanScope;

#[derive(Debug, Clone)]
pub enum Node {
    /// Hash a step and find where its image is; unless the daemon has it, the node
    /// continues as an [`Node::Obtain`] (an expansion that adds only its join).
    Step {
        step: StepId,
        forced: bool,
        /// The plan needs this step's image itself (a goal, a save, push or export, a
        /// check's environment), not only as what another step is built on.
        wanted: bool,
    },
    /// Load, pull or build a step's image.
    Obtain(Arc<Obtain>),
    /// Read a check's entities; expands into one [`Node::Entity`] each and a
    /// [`Node::Record`] join.
    Discover(CheckId),
    /// Check one entity in its environment.
    Entity(Arc<EntityTask>),
    /// Write a check's results (the join of its entities; runs after failures and
    /// cancellation, so what finished is kept).
    Record(CheckId),
    /// Write a step's image to the file cache.
    Save(StepId),
    /// Push a step's image to the registry.
    Push(StepId),
    /// Write a step's image as a `.tar.gz` into a folder.
    Export { step: StepId, dir: PathBuf },
    /// Remove environment containers, then images (after everything else).
    Clean(CleanScope),
}

impl engine::Node for Node {
    fn id(&self) -> String {
        match self {
            Node::Step { step, .. } => step.to_string(),
            Node::Obtain(obtain) => format!(
                "{}:{}",
                obtain.step,
                obtain.source.tier().map_or("build", |tier| tier.verb())
            ),
            Node::Discover(check) => format!("{check}:discover"),
            Node::Entity(task) => task.id.to_string(),
            Node::Record(check) => format!("{check}:results"),
            Node::Save(step) => format!("{step}:save"),
            Node::Push(step) => format!("{step}:push"),
            Node::Export { step, .. } => format!("{step}:export"),
            Node::Clean(_) => "clean".to_owned(),
        }
    }

    /// A check's results are recorded even when some of its entities could not run (an
    /// environment that failed to build, an interrupt): the others ran, and their
    /// results are kept.
    fn runs_after_failures(&self) -> bool {
        matches!(self, Node::Record(_))
    }
}

impl Node {
    /// `build`, `obtain`, `discover`, `entity`, `record`, `save`, `push`, `export` or
    /// `clean` (`kiln graph --format json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Step { .. } => "build",
            Node::Obtain(_) => "obtain",
            Node::Discover(_) => "discover",
            Node::Entity(_) => "entity",
            Node::Record(_) => "record",
            Node::Save(_) => "save",
            Node::Push(_) => "push",
            Node::Export { .. } => "export",
            Node::Clean(_) => "clean",
        }
    }

    /// The flavor the node belongs to, if one.
    pub fn flavor(&self) -> Option<&str> {
        match self {
            Node::Step { step, .. }
            | Node::Save(step)
            | Node::Push(step)
            | Node::Export { step, .. } => Some(&step.flavor),
            Node::Obtain(obtain) => Some(&obtain.step.flavor),
            Node::Discover(check) | Node::Record(check) => Some(&check.flavor),
            Node::Entity(task) => Some(&task.id.check.flavor),
            Node::Clean(_) => None,
        }
    }

    /// A short label inside its flavor: the step or check name, with the task.
    pub fn label(&self) -> String {
        match self {
            Node::Step { step, .. } => step.step.clone(),
            Node::Obtain(obtain) => obtain.step.step.clone(),
            Node::Discover(check) => format!("{} (check)", check.check),
            Node::Entity(task) => task.id.key.clone(),
            Node::Record(check) => format!("{} (results)", check.check),
            Node::Save(step) => format!("{} (save)", step.step),
            Node::Push(step) => format!("{} (push)", step.step),
            Node::Export { step, .. } => format!("{} (export)", step.step),
            Node::Clean(_) => "clean".to_owned(),
        }
    }
}

/// What a node produced: the `result` of its `succeeded` event (docs/cli.md, "Events").
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Output {
    /// A step's image is in the daemon.
    Image(Image),
    /// Where a step's image would come from (`kiln plan`, `--no-build`): nothing was
    /// loaded, pulled or built.
    Planned(Image),
    /// One entity's result.
    Entity(EntityResult),
    /// Where an entity's result would come from (`kiln plan --checks`): nothing ran.
    PlannedEntity(PlannedEntity),
    /// A check's results were recorded.
    Recorded(Recorded),
    /// An image written to the file cache (`written` is false when it was already there).
    Saved {
        step: StepId,
        tag: String,
        written: bool,
    },
    /// An image pushed to the registry (`written` is false when it was already there).
    Pushed {
        step: StepId,
        tag: String,
        written: bool,
    },
    Exported(Exported),
    Cleaned(Cleaned),
}

impl Output {
    /// The image of a step node, if this is one.
    pub fn image(&self) -> Option<&Image> {
        match self {
            Output::Image(image) | Output::Planned(image) => Some(image),
            _ => None,
        }
    }

    /// Whether getting it changed something: an image loaded, pulled or built, an
    /// entity run, a file written. An image the daemon had, a cached result, a plan do
    /// not (watch mode shows only what did).
    pub fn did_work(&self) -> bool {
        match self {
            Output::Image(image) => image.deferred.is_none() && image.tier != Source::DAEMON,
            Output::Planned(_) | Output::Recorded(_) | Output::PlannedEntity(_) => false,
            Output::Entity(result) => !result.cached,
            Output::Saved { written, .. } | Output::Pushed { written, .. } => *written,
            Output::Exported(_) | Output::Cleaned(_) => true,
        }
    }

    /// What a task node did, as the console says it; `None` for steps and entities
    /// (the summary shows those).
    pub fn describe(&self) -> Option<String> {
        match self {
            Output::Saved { tag, written, .. } => Some(if *written {
                format!("saved {tag}")
            } else {
                format!("already saved: {tag}")
            }),
            Output::Pushed { tag, written, .. } => Some(if *written {
                format!("pushed {tag}")
            } else {
                format!("already in the registry: {tag}")
            }),
            Output::Exported(exported) => Some(format!(
                "exported {} (sha256 {})",
                exported.archive.display(),
                exported.sha256
            )),
            Output::Cleaned(cleaned) => Some(cleaned.to_string()),
            _ => None,
        }
    }
}
