//! Why `kiln explain` could not explain.

use miette::Diagnostic;
use thiserror::Error;

use crate::build::BuildError;
use crate::check::CheckError;
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

    /// Reading an entity's inputs failed (its folder unreadable).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Check(#[from] CheckError),
}
