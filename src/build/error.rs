//! Why getting a step's image failed.

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

use crate::docker::DockerError;
use crate::hash::HashError;

use super::dockerfile::RenderError;

#[derive(Debug, Error, Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Hash(#[from] HashError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] Box<RenderError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    InstructionFailed(Box<InstructionFailed>),

    #[error("build arg `{arg}` of step `{step}` reads ${var}, which is not set")]
    #[diagnostic(
        code(kiln::build::unset_variable),
        help(
            "set {var} in the environment, or give the arg a default: arg \"{arg}\" env=\"{var}\" default=\"…\""
        )
    )]
    UnsetVariable {
        step: String,
        arg: String,
        var: String,
    },

    #[error("base image `{reference}` is not in the daemon and could not be pulled")]
    #[diagnostic(
        code(kiln::build::base_unavailable),
        help(
            "a FROM that kiln does not build must be in the daemon or in a registry it can pull from: load, pull or build it first (its identity is part of the step's hash)"
        )
    )]
    BaseUnavailable {
        reference: String,
        #[source]
        source: Box<crate::docker::DockerError>,
    },

    #[error("step `{step}` declares build secrets ({}), and the classic builder cannot pass them", ids.join(", "))]
    #[diagnostic(
        code(kiln::build::secrets_need_buildkit),
        help("build with BuildKit: `builder \"buildkit\"` in kiln.kdl, or --builder buildkit")
    )]
    SecretsNeedBuildKit { step: String, ids: Vec<String> },

    #[error("secret `{id}` of step `{step}` reads ${var}, which is not set")]
    #[diagnostic(
        code(kiln::build::secret_unset),
        help(
            "set {var} in the environment of kiln (its value is passed to the build only, never hashed, logged or kept)"
        )
    )]
    SecretUnset {
        step: String,
        id: String,
        var: String,
    },

    #[error("secret `{id}` of step `{step}` cannot be read from {}: {source}", path.display())]
    #[diagnostic(
        code(kiln::build::secret_unreadable),
        help("the secret's file= is relative to the flavor's folder; make it readable by kiln")
    )]
    SecretUnreadable {
        step: String,
        id: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read or write `{path}`: {source}")]
    #[diagnostic(code(kiln::build::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{} image{} would need building, but --no-build forbids it:\n{}", images.len(), if images.len() == 1 { "" } else { "s" }, images.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code(kiln::build::no_build),
        help(
            "build them where building is allowed (and --save or --push them), or drop --no-build"
        )
    )]
    NoBuild { images: Vec<String> },

    /// A needed image `--shortcut` left in the file cache or the registry went away
    /// before a step built on it was built.
    #[error(
        "`{image}` was in {tier} when the run began, and a build needs it now, but it is not there any more"
    )]
    #[diagnostic(
        code(kiln::build::shortcut_gone),
        help("run again: the new run sees where each image is now (or drop --shortcut)")
    )]
    ShortcutGone { image: String, tier: &'static str },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] crate::cache::CacheError),
}

/// A build that failed at an instruction kiln found in the Dockerfile: shown once, at
/// its file and line, with the builder's message and the last lines of the output.
#[derive(Debug, Error, Diagnostic)]
#[error("building `{image}` failed at {place}: {message}")]
#[diagnostic(
    code(kiln::docker::build_failed),
    help("last lines of the build output:\n{tail}")
)]
pub struct InstructionFailed {
    pub image: String,
    /// `flavors/slc/release/Dockerfile:7`
    pub place: String,
    pub message: String,
    pub tail: String,
    #[source_code]
    pub src: NamedSource<std::sync::Arc<String>>,
    #[label("failed here")]
    pub span: SourceSpan,
}
