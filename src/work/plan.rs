//! What a run does, before it becomes a graph: the steps to build, the images to save,
//! push and export, the checks, a clean-up and reports. `kiln check` fills in checks;
//! a workflow fills in any of it.

use std::path::PathBuf;

use crate::model::ReportOutputs;

#[derive(Debug, Clone, Default)]
pub struct WorkPlan {
    /// Steps whose images are wanted, as (flavor, step); what they need follows.
    pub build: Vec<(String, String)>,
    pub save: Vec<(String, String)>,
    pub push: Vec<(String, String)>,
    /// (flavor, step, folder) — the folder relative to the workspace root.
    pub export: Vec<(String, String, PathBuf)>,
    /// (flavor, check).
    pub checks: Vec<(String, String)>,
    /// Remove the images of these flavors once everything else is done.
    pub clean: Option<Vec<String>>,
    pub reports: Vec<ReportOutputs>,
}
