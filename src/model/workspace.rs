//! A whole loaded workspace.

use std::path::PathBuf;

use super::Sources;
use super::{Flavor, Settings, Workflow};

/// Everything `kiln.kdl`, `flavors/*/flavor.kdl` and `workflows/*.kdl` declare, validated.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub settings: Settings,
    /// Flavors sorted by name; derived flavors already hold their inherited steps.
    pub flavors: Vec<Flavor>,
    /// Workflows sorted by name.
    pub workflows: Vec<Workflow>,
    pub sources: Sources,
}

impl Workspace {
    pub fn flavor(&self, name: &str) -> Option<&Flavor> {
        self.flavors.iter().find(|f| f.name.as_str() == name)
    }

    /// The check `check` of flavor `flavor`.
    /// Whether the images of `flavor` carry EXASLCT's `/build_info` files.
    pub fn build_info(&self, flavor: &str) -> bool {
        self.flavor(flavor)
            .and_then(|f| f.build_info)
            .unwrap_or(false)
    }

    pub fn check(&self, flavor: &str, check: &str) -> Option<&super::Check> {
        self.flavor(flavor)
            .and_then(|f| f.checks.iter().find(|c| c.name.as_str() == check))
    }

    /// The declaration of step `id`.
    pub fn find_step(&self, id: &super::StepId) -> Option<&super::Step> {
        self.flavor(&id.flavor).and_then(|f| f.step(&id.step))
    }

    /// The declaration of check `id`.
    pub fn find_check(&self, id: &super::CheckId) -> Option<&super::Check> {
        self.check(&id.flavor, &id.check)
    }

    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name.as_str() == name)
    }
}
