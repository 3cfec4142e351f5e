//! Errors a command ends with, and the exit code each maps to.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::config::ConfigErrors;
use crate::plan::PlanError;

/// Exit code of configuration and usage errors.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code of other failures.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigErrors),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),

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

    #[error("cannot write output: {0}")]
    #[diagnostic(code(kiln::cli::output))]
    Output(#[from] std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Output(_) => EXIT_FAILURE,
            _ => EXIT_CONFIG,
        }
    }
}
