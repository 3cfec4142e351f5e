//! Configuration: reading `kiln.kdl`, `flavors/*/flavor.kdl` and `workflows/*.kdl` into
//! the typed [`crate::model`], reporting every error of the whole workspace at once.

mod boundaries;
mod check;
mod cycles;
mod error;
mod extends;
mod flavor;
pub mod glob;
pub mod grammar;
pub mod limits;
mod paths;
mod reader;
mod references;
mod settings;
mod signing;

mod suggest;
mod syntax;
pub mod template;
pub mod template_names;
mod workflow;
mod workflow_refs;

use std::path::{Path, PathBuf};

pub use crate::model::{SourceFile, Sources, display_path};
pub use error::{ConfigError, ConfigErrors, Note};
pub use suggest::{closest, help as suggest_help};
pub use workflow_refs::{has_target, is_glob, select};

use crate::model::{Flavor, Settings, Spanned, Workflow, Workspace};
use reader::Reader;

/// Workspace settings file.
pub const SETTINGS_FILE: &str = "kiln.kdl";
/// Folder of flavors, one sub-folder each.
pub const FLAVORS_DIR: &str = "flavors";
/// Name of a flavor's declaration file.
pub const FLAVOR_FILE: &str = "flavor.kdl";
/// Folder of workflow files.
pub const WORKFLOWS_DIR: &str = "workflows";

/// The nearest folder from `start` upward that holds `kiln.kdl` or `flavors/`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(SETTINGS_FILE).is_file() || dir.join(FLAVORS_DIR).is_dir())
        .map(Path::to_path_buf)
}

/// Loads and validates the workspace at `root`.
pub fn load(root: &Path) -> Result<Workspace, ConfigErrors> {
    let root = root.canonicalize().map_err(|source| {
        ConfigErrors::new(vec![ConfigError::Read {
            path: root.display().to_string(),
            source,
        }])
    })?;
    let mut loader = Loader {
        root: root.clone(),
        sources: Sources::default(),
        errors: Vec::new(),
    };
    let settings = loader.settings();
    let flavors = loader.flavors();
    let workflows = loader.workflows();
    let Loader {
        sources,
        mut errors,
        ..
    } = loader;

    let flavors = extends::resolve(flavors, &sources, &mut errors);
    references::check(&flavors, &sources, &mut errors);
    cycles::check(&flavors, &sources, &mut errors);
    paths::check(&root, &flavors, &sources, &mut errors);
    boundaries::check(
        &root,
        &settings,
        &flavors,
        &workflows,
        &sources,
        &mut errors,
    );
    workflow_refs::check(&workflows, &flavors, &sources, &mut errors);

    if errors.is_empty() {
        Ok(Workspace {
            root,
            settings,
            flavors,
            workflows,
            sources,
        })
    } else {
        Err(ConfigErrors::new(errors))
    }
}

struct Loader {
    root: PathBuf,
    sources: Sources,
    errors: Vec<ConfigError>,
}

impl Loader {
    /// Reads and parses one file, recording its source; `None` on read or syntax errors.
    fn parse(&mut self, path: PathBuf) -> Option<(crate::model::SourceId, kdl::KdlDocument)> {
        let text = match limits::read_limited(&path, limits::MAX_CONFIG_BYTES) {
            Ok(Ok(text)) => text,
            Ok(Err(limit)) => {
                let size = match limit {
                    limits::LimitError::TooLarge { size, .. } => size,
                    _ => 0,
                };
                self.errors.push(ConfigError::TooLarge {
                    path: display_path(&self.root, &path),
                    size,
                    limit: limits::MAX_CONFIG_BYTES,
                });
                return None;
            }
            Err(source) => {
                self.errors.push(ConfigError::Read {
                    path: display_path(&self.root, &path),
                    source,
                });
                return None;
            }
        };
        let id = self.sources.add(&self.root, path, text);
        match syntax::parse(self.sources.get(id)) {
            Ok(doc) => Some((id, doc)),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    fn reader(&mut self, id: crate::model::SourceId) -> (Reader<'_>, &Path) {
        (
            Reader {
                id,
                file: self.sources.get(id),
                errors: &mut self.errors,
            },
            &self.root,
        )
    }

    fn settings(&mut self) -> Settings {
        let path = self.root.join(SETTINGS_FILE);
        if !path.exists() {
            signing::check_environment(&mut self.errors);
            return Settings::defaults(&self.root);
        }
        match self.parse(path) {
            Some((id, doc)) => {
                let (mut r, root) = self.reader(id);
                settings::decode(&mut r, &doc, root)
            }
            None => Settings::defaults(&self.root),
        }
    }

    fn flavors(&mut self) -> Vec<Flavor> {
        let mut flavors: Vec<Flavor> = Vec::new();
        let mut seen = reader::Seen::default();
        for dir in sorted_entries(&self.root.join(FLAVORS_DIR), |p| p.is_dir()) {
            let file = dir.join(FLAVOR_FILE);
            if !file.is_file() {
                tracing::warn!(
                    "{} holds no {FLAVOR_FILE}; skipped",
                    display_path(&self.root, &dir)
                );
                continue;
            }
            let Some((id, doc)) = self.parse(file) else {
                continue;
            };
            let (mut r, root) = self.reader(id);
            let Some(flavor) = flavor::decode(&mut r, &doc, &dir, root) else {
                continue;
            };
            match seen.first(&flavor.name, flavors.len()) {
                Some(first) => {
                    let error = self.duplicate("flavor", &flavors[first].name, &flavor.name);
                    self.errors.push(error);
                }
                None => flavors.push(flavor),
            }
        }
        flavors
    }

    fn workflows(&mut self) -> Vec<Workflow> {
        let mut workflows: Vec<Workflow> = Vec::new();
        let mut seen = reader::Seen::default();
        let files = sorted_entries(&self.root.join(WORKFLOWS_DIR), |p| {
            p.is_file() && p.extension().is_some_and(|e| e == "kdl")
        });
        for file in files {
            let Some((id, doc)) = self.parse(file) else {
                continue;
            };
            let (mut r, _) = self.reader(id);
            for workflow in workflow::decode(&mut r, &doc) {
                match seen.first(&workflow.name, workflows.len()) {
                    Some(first) => {
                        let error =
                            self.duplicate("workflow", &workflows[first].name, &workflow.name);
                        self.errors.push(error);
                    }
                    None => workflows.push(workflow),
                }
            }
        }
        workflows.sort_by(|a, b| a.name.value.cmp(&b.name.value));
        workflows
    }

    /// A name declared twice across the workspace, possibly in two files.
    fn duplicate(
        &self,
        kind: &'static str,
        first: &Spanned<String>,
        again: &Spanned<String>,
    ) -> ConfigError {
        let same_file = first.loc.source == again.loc.source;
        ConfigError::Duplicate {
            src: self.sources.named(again.loc.source),
            span: again.loc.span,
            first: same_file.then_some(first.loc.span),
            kind,
            name: again.value.clone(),
            help: format!("{kind} names are unique in a workspace; rename one of them"),
            elsewhere: if same_file {
                Vec::new()
            } else {
                vec![Note {
                    message: format!("{kind} `{}` is first defined here", first.value),
                    src: self.sources.named(first.loc.source),
                    span: first.loc.span,
                }]
            },
        }
    }
}

/// Entries of `dir` that satisfy `keep`, sorted by name; none if `dir` is absent.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .collect();
    paths.sort();
    paths
}
