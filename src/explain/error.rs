//! Why `kiln explain` could not explain.

use miette::Diagnostic;
use thiserror::Error;

use crate::build::BuildError;
use crate::docker::DockerError;

#[derive(Debug, Error, Diagnostic)]
pub enum ExplainError {
    /// Hashing a step failed (its Dockerfile unreadable, a context file gone).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Analysis(#[from] BuildError),

    /// Asking the daemon for the images it has failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}
