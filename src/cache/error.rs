//! What a cache tier can fail with when asked to store, or to hold an image's lock.

use miette::Diagnostic;
use thiserror::Error;

use crate::docker::{DockerError, labels};
use crate::signing::Unverified;

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
    #[error("{tier} {repository}: {what} failed ({source})")]
    #[diagnostic(code(kiln::cache::registry))]
    Registry {
        /// `results registry`, `registry`.
        tier: &'static str,
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

    /// An entry of a shared tier that failed verification, where kiln.kdl says
    /// `require-signed #true`.
    #[error("{tier}: {what} is not trusted: {why}")]
    #[diagnostic(
        code(kiln::cache::untrusted),
        help(
            "kiln.kdl requires signed cache entries; remove the entry from the {tier}, or sign what is stored with a trusted key (docs/guarantees.md)"
        )
    )]
    Untrusted {
        tier: &'static str,
        what: String,
        #[source]
        why: Refusal,
    },

    /// Storing into a shared tier whose readers check signatures, without a key to sign.
    #[error(
        "{tier}: nothing is stored: kiln.kdl trusts signed entries only, and this run has no signing key"
    )]
    #[diagnostic(
        code(kiln::cache::cannot_sign),
        help(
            "set KILN_SIGNING_KEY (or `key-file` in `signing`) where entries are written, as on the main branch's CI"
        )
    )]
    CannotSign { tier: &'static str },
}

/// Why an entry of a shared tier is not used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(transparent)]
    Signature(#[from] Unverified),
    #[error("it has no record of the image kiln stored (written by an older kiln, or removed)")]
    NoRecord,
    #[error("its record is unreadable")]
    BadRecord,
    #[error("its record is of `{found}`, not `{expected}`")]
    OtherStep { expected: String, found: String },
    #[error(
        "it holds image {found}, not {recorded}, which kiln recorded when it stored the step's image (an image built on top of it, or another)"
    )]
    NotRecorded { recorded: String, found: String },
    #[error("its manifest lists more than one layer of type `{media_type}`")]
    Layers { media_type: String },
    #[error("its {what} is not the blob its manifest names ({found}, not {expected})")]
    Digest {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("its {what} is {size} bytes, more than the {limit} bytes kiln ever stores")]
    Oversized {
        what: &'static str,
        size: u64,
        limit: u64,
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
