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

    /// What the plan asks for, as stable text (JSON, each id as the path it shows, each
    /// list in its order): watch mode compares it between cycles. Every field counts —
    /// a field added to `Plan` must be added here, which the pattern below enforces.
    pub fn fingerprint(&self) -> String {
        let Plan {
            build,
            save,
            push,
            export,
            checks,
            clean,
            reports,
            force,
        } = self;
        let text = |path: &PathBuf| path.to_string_lossy().into_owned();
        let clean = match clean {
            None => serde_json::Value::Null,
            Some(CleanScope::All) => "all".into(),
            Some(CleanScope::Flavors(flavors)) => flavors.as_slice().into(),
        };
        serde_json::json!({
            "build": build,
            "save": save,
            "push": push,
            "export": export
                .iter()
                .map(|(step, folder)| (step, text(folder)))
                .collect::<Vec<_>>(),
            "checks": checks,
            "clean": clean,
            "reports": reports
                .iter()
                .map(|r| [&r.junit, &r.html, &r.json].map(|file| file.as_ref().map(text)))
                .collect::<Vec<_>>(),
            "force": { "all": force.all, "from": &force.from },
        })
        .to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_json_of_every_field() {
        let mut plan = Plan {
            build: vec![StepId::new("slc", "release")],
            export: vec![(StepId::new("slc", "base"), PathBuf::from("exports"))],
            checks: vec![CheckId::new("env", "models")],
            reports: vec![ReportOutputs {
                junit: Some(PathBuf::from("out/junit.xml")),
                ..ReportOutputs::default()
            }],
            ..Plan::default()
        };
        let json: serde_json::Value = serde_json::from_str(&plan.fingerprint()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "build": ["slc/release"],
                "save": [],
                "push": [],
                "export": [["slc/base", "exports"]],
                "checks": ["env/models"],
                "clean": null,
                "reports": [["out/junit.xml", null, null]],
                "force": { "all": false, "from": [] },
            })
        );
        let before = plan.fingerprint();
        plan.clean = Some(CleanScope::All);
        let all = plan.fingerprint();
        plan.clean = Some(CleanScope::Flavors(vec!["all".to_owned()]));
        let named = plan.fingerprint();
        assert!(before != all && all != named && named != before);
        plan.force.from.push("base".to_owned());
        assert_ne!(plan.fingerprint(), named);
    }
}
