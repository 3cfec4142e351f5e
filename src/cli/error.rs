//! Errors a command ends with, and the exit code each maps to.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::build::BuildError;
use crate::config::ConfigErrors;
use crate::plan::PlanError;
use crate::workflow::WorkflowError;

/// Exit code of configuration and usage errors.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code of other failures.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigErrors),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Signing(#[from] crate::signing::SigningError),

    /// Dockerfiles that would fail their builds and check templates that would fail
    /// their entities, found by `kiln validate` (check templates by `kiln plan` too).
    #[error("{}", preflight_count(dockerfiles.len(), checks.len()))]
    #[diagnostic(
        code(kiln::cli::preflight),
        help("each would fail its step's build or its check's entities; the problems are above")
    )]
    Preflight {
        dockerfiles: Vec<crate::build::preflight::Problem>,
        checks: Vec<crate::check::fields::FieldProblem>,
    },

    #[error("no kiln workspace at or above `{}`", start.display())]
    #[diagnostic(
        code(kiln::cli::no_workspace),
        help(
            "a workspace is a folder holding kiln.kdl or flavors/; run kiln inside one or pass --workspace DIR"
        )
    )]
    NoWorkspace { start: PathBuf },

    #[error("workspace `{}` does not exist", path.display())]
    #[diagnostic(
        code(kiln::cli::missing_workspace),
        help("check the path given to --workspace")
    )]
    MissingWorkspace { path: PathBuf },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] BuildError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Workflow(#[from] WorkflowError),

    /// The data repository cannot be read (a bad metadata file, duplicate keys), found
    /// before anything runs.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Check(#[from] crate::check::CheckError),

    #[error("{failed} of {total} node{} failed", if *total == 1 { "" } else { "s" })]
    #[diagnostic(
        code(kiln::cli::failed),
        help("the errors are above; each failed node's full log is in the job record")
    )]
    Failed { failed: usize, total: usize },

    #[error("{failing} of {total} entities failed their check")]
    #[diagnostic(
        code(kiln::cli::checks_failed),
        help("their output and logs are above; `kiln results KEY` shows an entity's history")
    )]
    ChecksFailed { failing: usize, total: usize },

    #[error("no check to run")]
    #[diagnostic(
        code(kiln::cli::nothing_to_check),
        help(
            "the selected flavors declare no `check` (or none of the names given to --check); `kiln list checks` shows them"
        )
    )]
    NothingToCheck,

    #[error("no entity of the selected checks has the key `{key}`")]
    #[diagnostic(code(kiln::cli::unknown_entity))]
    UnknownEntity {
        key: String,
        #[help]
        help: String,
    },

    #[error("`{name}` is no step or entity of the workspace")]
    #[diagnostic(code(kiln::cli::unknown_node))]
    UnknownNode {
        name: String,
        #[help]
        help: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Explain(#[from] crate::explain::ExplainError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Partition(#[from] crate::check::partition::PartitionError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Merge(#[from] crate::check::merge::MergeError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Gc(#[from] crate::gc::GcError),

    #[error("no selected flavor declares a check `{name}`")]
    #[diagnostic(code(kiln::cli::unknown_check))]
    UnknownCheck {
        name: String,
        #[help]
        help: String,
    },

    #[error("{what} needs a registry, and kiln.kdl names none")]
    #[diagnostic(
        code(kiln::cli::no_registry),
        help(
            "add `registry \"HOST:PORT/PATH\"` to kiln.kdl at the workspace root (see docs/language.md)"
        )
    )]
    NoRegistry { what: String },

    #[error("cannot use `{}` as the output folder: {source}", path.display())]
    #[diagnostic(
        code(kiln::cli::output_folder),
        help(
            "--output names a folder kiln creates if need be; it must be possible to create and write it"
        )
    )]
    OutputFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{failed} image tag{} could not be removed", if *failed == 1 { "" } else { "s" })]
    #[diagnostic(
        code(kiln::cli::clean_incomplete),
        help(
            "the warnings above say why; an image a container still uses stays until the container is gone"
        )
    )]
    CleanIncomplete { failed: usize },

    #[error("cannot create the job record in `{}`: {source}", path.display())]
    #[diagnostic(
        code(kiln::cli::job_record),
        help(
            "`job-dir` in kiln.kdl (default .kiln/jobs) must be a folder kiln can create and write"
        )
    )]
    JobRecord {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the job record is incomplete: cannot write `{}`: {source}", path.display())]
    #[diagnostic(
        code(kiln::cli::record_incomplete),
        help(
            "the run itself went on, but what it did is not all recorded (is the disk full?); free space or set `job-dir` in kiln.kdl, then run again"
        )
    )]
    RecordIncomplete {
        path: PathBuf,
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },

    #[error("interrupted: running work was stopped")]
    #[diagnostic(
        code(kiln::cli::interrupted),
        help("nothing half-written was kept; run the command again to go on")
    )]
    Interrupted,

    #[error("internal error: {0}")]
    #[diagnostic(
        code(kiln::cli::internal),
        help("this is a bug in kiln; please report it with the command you ran")
    )]
    Internal(String),

    #[error("cannot write output: {0}")]
    #[diagnostic(code(kiln::cli::output))]
    Output(#[from] std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_)
            | CliError::Plan(_)
            | CliError::Preflight { .. }
            | CliError::NoWorkspace { .. }
            | CliError::MissingWorkspace { .. }
            | CliError::NothingToCheck
            | CliError::UnknownEntity { .. }
            | CliError::UnknownCheck { .. }
            | CliError::UnknownNode { .. }
            | CliError::Partition(_)
            | CliError::NoRegistry { .. }
            | CliError::OutputFolder { .. }
            | CliError::Signing(_)
            | CliError::Workflow(_) => EXIT_CONFIG,
            CliError::Interrupted => EXIT_INTERRUPTED,
            CliError::Build(_)
            | CliError::Merge(_)
            | CliError::Explain(_)
            | CliError::Gc(_)
            | CliError::Check(_)
            | CliError::Failed { .. }
            | CliError::ChecksFailed { .. }
            | CliError::Internal(_)
            | CliError::CleanIncomplete { .. }
            | CliError::JobRecord { .. }
            | CliError::RecordIncomplete { .. }
            | CliError::Output(_) => EXIT_FAILURE,
        }
    }
}

/// "2 problems in Dockerfiles", "1 problem in check templates", or both.
fn preflight_count(dockerfiles: usize, checks: usize) -> String {
    let problems = |n: usize| if n == 1 { "problem" } else { "problems" };
    match (dockerfiles, checks) {
        (d, 0) => format!("{d} {} in Dockerfiles", problems(d)),
        (0, c) => format!("{c} {} in check templates", problems(c)),
        (d, c) => format!(
            "{d} {} in Dockerfiles and {c} in check templates",
            problems(d)
        ),
    }
}
