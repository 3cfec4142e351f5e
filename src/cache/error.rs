//! What a cache tier can fail with when asked to store, or to hold an image's lock.

use miette::Diagnostic;
use thiserror::Error;

use crate::docker::{DockerError, labels};

#[derive(Debug, Error, Diagnostic)]
pub enum CacheError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    #[error("cannot read or write `{path}`: {source}")]
    #[diagnostic(code(kiln::cache::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// What a registry holds under the step's tag is another image.
    #[error("`{image}` is another image: its {} label is {}, not the step's hash `{expected}`", labels::HASH, found.as_ref().map(|f| format!("`{f}`")).unwrap_or_else(|| "missing".to_owned()))]
    #[diagnostic(
        code(kiln::build::wrong_image),
        help(
            "delete the tag from the registry, then `kiln push` the step's image (a push skips a tag the registry has)"
        )
    )]
    WrongImage {
        image: String,
        expected: String,
        found: Option<String>,
    },

    /// A shared result tier refused or did not answer.
    #[error("results registry {repository}: {what} failed ({source})")]
    #[diagnostic(code(kiln::cache::registry))]
    Registry {
        repository: String,
        what: &'static str,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },

    #[error("`{reference}` is not an image reference: {source}")]
    #[diagnostic(code(kiln::cache::reference))]
    Reference {
        reference: String,
        #[source]
        source: oci_client::ParseError,
    },
}

impl CacheError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
