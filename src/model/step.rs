//! A build step: one Dockerfile and its context.

use std::path::PathBuf;

use super::Spanned;

/// One image of a flavor, built from a Dockerfile in a context folder.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// The flavor whose `flavor.kdl` declared this step (differs from the owning
    /// flavor for steps a derived flavor inherits).
    pub declared_in: String,
    /// Build context folder (absolute; may not exist if validation failed). `None`: the
    /// context is made of the includes only (`context #null`, or a flavor whose
    /// `step-folders` have `layout="subfolder"`).
    pub context: Option<Spanned<PathBuf>>,
    /// Dockerfile template (absolute). Empty when an error already reported makes it
    /// unknown.
    pub dockerfile: Spanned<PathBuf>,
    /// Steps of the same flavor this one is built on, in declaration order.
    pub needs: Vec<Spanned<String>>,
    /// Extra files or folders mapped into the build context (with `layout="subfolder"`,
    /// the step's own folder first).
    pub includes: Vec<Include>,
    pub args: Vec<BuildArg>,
    /// Globs of context files left out of the context and the hash.
    pub ignore: Vec<Spanned<String>>,
    /// Build secrets (BuildKit): read when the step is built, never hashed or logged.
    pub secrets: Vec<Secret>,
}

/// A build secret: `RUN --mount=type=secret,id=<id>` reads it during the build; it is in
/// no layer, no log and no hash.
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: Spanned<String>,
    pub source: SecretSource,
}

/// Where a secret's value comes from when the step is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (absolute path).
    File(std::path::PathBuf),
}

/// A host file or folder copied into the build context at `target`.
#[derive(Debug, Clone)]
pub struct Include {
    /// Absolute host path.
    pub source: Spanned<PathBuf>,
    /// Relative path inside the context.
    pub target: Spanned<String>,
    pub origin: IncludeOrigin,
}

/// Why a path is in a step's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeOrigin {
    /// An `include` the step declares.
    Declared,
    /// The step's own folder, which `step-folders … layout="subfolder"` puts into the
    /// context as `<step>/` (EXASLCT's layout).
    StepFolder,
}

/// A `--build-arg`.
#[derive(Debug, Clone)]
pub struct BuildArg {
    pub name: Spanned<String>,
    pub value: ArgValue,
    /// Transparent args change nothing in the image (proxies, mirrors): they are
    /// neither hashed nor logged.
    pub transparent: bool,
}

/// Where a build arg's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    Literal(String),
    /// Read from the environment when the build runs; `default` when unset.
    Env {
        var: String,
        default: Option<String>,
    },
}
