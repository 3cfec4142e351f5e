//! A flavor: a family of images built from steps that depend on each other.

use std::path::PathBuf;

use super::{Check, Spanned, Step};
use crate::model::SourceId;

#[derive(Debug, Clone)]
pub struct Flavor {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub extends: Option<Spanned<String>>,
    /// Folder holding `flavor.kdl` (absolute).
    pub dir: PathBuf,
    pub source: SourceId,
    /// Steps in declaration order; a derived flavor lists inherited steps first.
    pub steps: Vec<Step>,
    pub goals: Vec<Goal>,
    pub checks: Vec<Check>,
    /// `build-info #true`: every image of the flavor carries `/build_info/image_info/`
    /// and `/build_info/dockerfiles/` files as EXASLCT's do. `None`: not said here (a
    /// derived flavor then follows its base); off unless said.
    pub build_info: Option<bool>,
}

/// A named target: building it builds its steps and everything they need.
#[derive(Debug, Clone)]
pub struct Goal {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub steps: Vec<Spanned<String>>,
    pub default: bool,
}

impl Flavor {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name.as_str() == name)
    }

    pub fn goal(&self, name: &str) -> Option<&Goal> {
        self.goals.iter().find(|g| g.name.as_str() == name)
    }

    /// Goals built when none is asked for: those marked `default`, or else every step.
    pub fn default_steps(&self) -> Vec<&str> {
        let defaults: Vec<&str> = self
            .goals
            .iter()
            .filter(|g| g.default)
            .flat_map(|g| g.steps.iter().map(|s| s.as_str()))
            .collect();
        if defaults.is_empty() {
            self.steps.iter().map(|s| s.name.as_str()).collect()
        } else {
            defaults
        }
    }
}
