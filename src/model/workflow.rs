//! Named workflows: tasks over flavors, compiled into one graph by a later stage.

use std::path::PathBuf;

use super::Spanned;
use crate::model::{Loc, SourceId};

#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub source: SourceId,
    pub params: Vec<Param>,
    pub tasks: Vec<Task>,
}

/// A workflow parameter, settable with `--set name=value`.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub kind: TaskKind,
    /// Flavor name or glob (`*` when not given); may use `{{ param }}`.
    pub flavor: Spanned<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub enum TaskKind {
    Build {
        goal: Option<Spanned<String>>,
    },
    Check {
        name: Option<Spanned<String>>,
    },
    Save {
        goal: Option<Spanned<String>>,
    },
    Push {
        goal: Option<Spanned<String>>,
    },
    Export {
        goal: Option<Spanned<String>>,
        dir: PathBuf,
    },
    Clean,
    Report(ReportOutputs),
}

/// Files a `report` task writes, relative to the workspace root.
#[derive(Debug, Clone, Default)]
pub struct ReportOutputs {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
}

impl TaskKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            TaskKind::Build { .. } => "build",
            TaskKind::Check { .. } => "check",
            TaskKind::Save { .. } => "save",
            TaskKind::Push { .. } => "push",
            TaskKind::Export { .. } => "export",
            TaskKind::Clean => "clean",
            TaskKind::Report(_) => "report",
        }
    }

    /// The goal a task names, if it takes one.
    pub fn goal(&self) -> Option<&Spanned<String>> {
        match self {
            TaskKind::Build { goal }
            | TaskKind::Save { goal }
            | TaskKind::Push { goal }
            | TaskKind::Export { goal, .. } => goal.as_ref(),
            _ => None,
        }
    }
}
