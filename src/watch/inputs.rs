//! What a watch watches: the configuration files and every input of the workflow's nodes
//! (contexts, Dockerfiles, included files, entity folders, mounts), and what it ignores:
//! kiln's own job and cache folders, `.git`, declared `ignore` globs and check artifacts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::model::Workspace;
use crate::plan::{self, Plan};

/// Paths to watch (recursively when folders) and the filter for events.
pub struct Inputs {
    pub roots: BTreeSet<PathBuf>,
    ignored_dirs: Vec<PathBuf>,
    /// Globs matched against paths relative to the workspace root, and against any
    /// path's tail (step `ignore` globs and check artifacts, written `**/<glob>`).
    ignored: GlobSet,
}

impl Inputs {
    pub fn of(workspace: &Workspace, work: &Plan) -> Self {
        let root = &workspace.root;
        let mut roots = BTreeSet::new();
        for config in ["kiln.kdl", "flavors", "workflows"] {
            let path = root.join(config);
            if path.exists() {
                roots.insert(path);
            }
        }
        let mut globs = GlobSetBuilder::new();
        for id in plan::all_steps(workspace, work) {
            let Some(step) = workspace.find_step(&id) else {
                continue;
            };
            if let Some(context) = &step.context {
                roots.insert(context.value.clone());
            }
            roots.insert(step.dockerfile.value.clone());
            for include in &step.includes {
                roots.insert(include.source.value.clone());
            }
            for glob in &step.ignore {
                add(&mut globs, &format!("**/{}", glob.value));
            }
        }
        for check in &work.checks {
            let Some(declared) = workspace.find_check(check) else {
                continue;
            };
            roots.insert(crate::check::entity::data_folder(root, declared));
            // The literal folders of the `inputs` globs.
            for input in &declared.inputs {
                roots.insert(root.join(crate::check::entity::literal_prefix(&input.value)));
            }
            for artifact in &declared.artifacts {
                add(&mut globs, &format!("**/{}", artifact.value));
                // The folder the artifacts go in, which the check creates.
                if let Some((folder, _)) = artifact.value.rsplit_once('/') {
                    add(&mut globs, &format!("**/{folder}"));
                }
            }
        }
        // A root inside another is watched through it.
        let all: Vec<PathBuf> = roots.iter().cloned().collect();
        roots.retain(|r| {
            !all.iter()
                .any(|other| other != r && r.starts_with(other) && other.is_dir())
        });
        roots.retain(|r| r.exists());
        Self {
            roots,
            ignored_dirs: [
                workspace.settings.job_dir.clone(),
                workspace.settings.cache_dir.clone(),
                workspace.settings.state_dir.clone(),
                root.join(".git"),
                root.join("target"),
            ]
            .into_iter()
            .chain(workspace.settings.own_dirs())
            .collect(),
            ignored: globs.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    /// Whether a change of `path` may matter.
    pub fn wants(&self, path: &Path) -> bool {
        if self.ignored_dirs.iter().any(|d| path.starts_with(d)) {
            return false;
        }
        if path.components().any(|c| c.as_os_str() == ".git") {
            return false;
        }
        !self.ignored.is_match(path)
    }
}

fn add(globs: &mut GlobSetBuilder, pattern: &str) {
    if let Ok(glob) = Glob::new(pattern) {
        globs.add(glob);
    }
}

/// Whether `path` is a configuration file: a reload, not only a rehash.
pub fn is_config(root: &Path, path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "kdl")
        && (path == root.join("kiln.kdl")
            || path.starts_with(root.join("flavors"))
            || path.starts_with(root.join("workflows")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckId, StepId};

    #[test]
    fn kiln_folders_ignore_globs_and_artifacts_are_not_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("flavors/f/a")).unwrap();
        std::fs::create_dir_all(root.join("data/e1")).unwrap();
        std::fs::write(root.join("flavors/f/a/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(
            root.join("flavors/f/flavor.kdl"),
            "flavor \"f\" {\n    step \"a\" { ignore \"*.tmp\"; }\n    check \"c\" {\n        image \"a\"\n        entities \"data/*/meta.yml\"\n        run \"true\"\n        artifacts \"_out/*\"\n    }\n}\n",
        )
        .unwrap();
        let workspace = crate::config::load(root).unwrap();
        let work = Plan {
            build: vec![StepId::new("f", "a")],
            checks: vec![CheckId::new("f", "c")],
            ..Plan::default()
        };
        let inputs = Inputs::of(&workspace, &work);
        assert!(
            inputs.roots.contains(&root.join("flavors")),
            "{:?}",
            inputs.roots
        );
        assert!(
            inputs.roots.contains(&root.join("data")),
            "{:?}",
            inputs.roots
        );
        assert!(inputs.wants(&root.join("flavors/f/a/Dockerfile")));
        assert!(inputs.wants(&root.join("data/e1/run.sh")));
        assert!(!inputs.wants(&root.join("flavors/f/a/scratch.tmp")));
        assert!(!inputs.wants(&root.join("data/e1/_out")));
        assert!(!inputs.wants(&root.join("data/e1/_out/plot.png")));
        assert!(!inputs.wants(&root.join(".kiln/jobs/x/logs/a.log")));
        assert!(is_config(root, &root.join("flavors/f/flavor.kdl")));
        assert!(!is_config(root, &root.join("data/e1/meta.kdl")));
    }
}
