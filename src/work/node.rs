//! The nodes of a run that builds and checks: build steps, check discovery, one node per
//! entity, and the join that records a check's results.

use std::sync::Arc;

use crate::build::{BuildNode, BuildOutput};
use crate::check::EntityTask;
use crate::check::results::EntityResult;
use crate::engine::Node;

#[derive(Debug, Clone)]
pub enum WorkNode {
    /// Get a step's image (analysis, then load, pull or build).
    Build(BuildNode),
    /// Read a check's entities; expands into one `Entity` node each and a `Record` join.
    Discover { flavor: String, check: String },
    /// Check one entity.
    Entity(Arc<EntityTask>),
    /// Write a check's results (the join of its entities).
    Record { flavor: String, check: String },
    /// Write a step's image to the file cache.
    Save { flavor: String, step: String },
    /// Push a step's image to the registry.
    Push { flavor: String, step: String },
    /// Write a step's image as a .tar.gz into a folder (relative to the workspace root).
    Export {
        flavor: String,
        step: String,
        dir: std::path::PathBuf,
    },
    /// Remove the images of these flavors (after everything else).
    Clean(Vec<String>),
    /// Write reports of the builds and checks it depends on.
    Report(crate::model::ReportOutputs),
}

impl Node for WorkNode {
    fn id(&self) -> String {
        match self {
            WorkNode::Build(node) => node.id(),
            WorkNode::Discover { flavor, check } => format!("{flavor}/{check}:discover"),
            WorkNode::Entity(task) => task.id(),
            WorkNode::Record { flavor, check } => format!("{flavor}/{check}:results"),
            WorkNode::Save { flavor, step } => format!("{flavor}/{step}:save"),
            WorkNode::Push { flavor, step } => format!("{flavor}/{step}:push"),
            WorkNode::Export { flavor, step, .. } => format!("{flavor}/{step}:export"),
            WorkNode::Clean(_) => "clean".to_owned(),
            WorkNode::Report(_) => "report".to_owned(),
        }
    }

    /// A report is written however the run went: after a failed build it is needed most.
    /// A check's results are recorded even when some of its entities could not run (an
    /// environment that failed to build, a placeholder an entity lacks): the others
    /// ran, and their results are kept.
    fn runs_after_failures(&self) -> bool {
        matches!(self, WorkNode::Report(_) | WorkNode::Record { .. })
    }
}

/// What a node leaves for its dependents and the summary.
#[derive(Debug)]
pub enum WorkOutput {
    Build(BuildOutput),
    Entity(EntityResult),
    /// A check's results, the history file they were recorded in (none when no
    /// entity ran), and the entity nodes that did not succeed.
    Recorded {
        check: String,
        results: Vec<EntityResult>,
        history: Option<std::path::PathBuf>,
        not_done: Vec<crate::engine::Unfinished>,
    },
    /// A task that only has an effect: what it did, for the console.
    Task(String),
}

impl WorkOutput {
    pub fn build(&self) -> Option<&BuildOutput> {
        match self {
            WorkOutput::Build(output) => Some(output),
            _ => None,
        }
    }
}
