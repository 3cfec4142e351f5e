//! What a command asks for, before it becomes a graph: the steps whose images are
//! wanted, the images to save, push and export, the checks to run, a clean-up, the
//! reports to write, and how far the caches may be trusted. Every command fills one in —
//! `kiln build --save` is {build, save}, `kiln export` is {export}, `kiln check` is
//! {checks}, a workflow is whatever its tasks say — and [`build`](super::build) compiles
//! it into the one graph the engine runs.

use std::path::PathBuf;

use crate::model::{CheckId, ReportOutputs, StepId};

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Steps whose images are wanted; what they need follows.
    pub build: Vec<StepId>,
    /// Images to write to the file cache.
    pub save: Vec<StepId>,
    /// Images to push to the registry.
    pub push: Vec<StepId>,
    /// Images to write as `.tar.gz` into a folder (relative to the workspace root, or
    /// absolute).
    pub export: Vec<(StepId, PathBuf)>,
    pub checks: Vec<CheckId>,
    /// Remove images (and first the environment containers using them), after
    /// everything else.
    pub clean: Option<CleanScope>,
    /// Report files to write when the run ends (listeners, not nodes).
    pub reports: Vec<ReportOutputs>,
    /// Steps to build whatever the caches hold.
    pub force: Force,
}

/// Whose images a clean-up removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanScope {
    /// Every flavor of the workspace.
    All,
    /// These flavors.
    Flavors(Vec<String>),
}

impl CleanScope {
    /// The flavors named, `None` for all.
    pub fn flavors(&self) -> Option<&[String]> {
        match self {
            CleanScope::All => None,
            CleanScope::Flavors(flavors) => Some(flavors),
        }
    }
}

/// `--force-rebuild` and `--force-rebuild-from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Force {
    /// Every step of the plan.
    pub all: bool,
    /// These steps (in every flavor) and everything that depends on them.
    pub from: Vec<String>,
}

impl Plan {
    /// Sorts every list and drops repeats: a step several tasks name is one node.
    pub fn normalize(&mut self) {
        for list in [&mut self.build, &mut self.save, &mut self.push] {
            list.sort();
            list.dedup();
        }
        self.export.sort();
        self.export.dedup();
        self.checks.sort();
        self.checks.dedup();
    }

    /// Nothing to do at all.
    pub fn is_empty(&self) -> bool {
        self.build.is_empty()
            && self.save.is_empty()
            && self.push.is_empty()
            && self.export.is_empty()
            && self.checks.is_empty()
            && self.clean.is_none()
    }
}
