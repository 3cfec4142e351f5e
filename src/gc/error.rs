//! Why `kiln gc` could not collect.

use miette::Diagnostic;
use thiserror::Error;

use crate::build::BuildError;
use crate::docker::DockerError;

#[derive(Debug, Error, Diagnostic)]
pub enum GcError {
    #[error("cannot read or remove `{path}`: {source}")]
    #[diagnostic(code(kiln::gc::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Hashing the workspace's steps (to know which images are still its own) failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Analysis(#[from] BuildError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}

impl GcError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        GcError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
