//! Every configuration error kiln reports. Each carries the file it is about, a
//! labelled span and a help line; a run collects all of them before reporting.

use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use thiserror::Error;

/// The source a diagnostic quotes.
pub type Src = NamedSource<Arc<String>>;

#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("{message}")]
    #[diagnostic(code(kiln::config::syntax))]
    Syntax {
        #[source_code]
        src: Src,
        #[label("{label}")]
        span: SourceSpan,
        message: String,
        label: String,
        #[help]
        help: String,
    },

    /// A key in `signing` that is not one, or a key file that holds none.
    #[error("invalid {what}")]
    #[diagnostic(code(kiln::config::key))]
    Key {
        #[source_code]
        src: Src,
        #[label("here")]
        span: SourceSpan,
        what: &'static str,
        #[source]
        source: crate::signing::SigningError,
        #[help]
        help: &'static str,
    },

    /// A secret key written into a configuration file: named by its line, never
    /// quoted.
    #[error("{file}:{line}: a secret signing key is written into the workspace")]
    #[diagnostic(
        code(kiln::config::secret_key),
        help(
            "remove it (and from the repository's history), treat it as leaked and write a new one with `kiln keygen`; kiln.kdl trusts public keys only (`ed25519:…`), and the secret goes into KILN_SIGNING_KEY or a key file outside the workspace"
        )
    )]
    SecretKey { file: String, line: usize },

    /// `KILN_SIGNING_KEY` holds no signing key.
    #[error("{variable} holds no signing key")]
    #[diagnostic(
        code(kiln::config::environment),
        help(
            "set it to the content of a key file `kiln keygen` wrote (`ed25519-secret:…`), or unset it"
        )
    )]
    Environment {
        variable: &'static str,
        #[source]
        source: crate::signing::SigningError,
    },

    #[error("cannot read `{path}`: {source}")]
    #[diagnostic(
        code(kiln::config::read),
        help("check that the file exists and that you may read it")
    )]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("unknown node `{name}` in {context}")]
    #[diagnostic(code(kiln::config::unknown_node))]
    UnknownNode {
        #[source_code]
        src: Src,
        #[label("not known here")]
        span: SourceSpan,
        name: String,
        context: String,
        #[help]
        help: String,
    },

    #[error("unknown property `{name}` on `{node}`")]
    #[diagnostic(code(kiln::config::unknown_property))]
    UnknownProperty {
        #[source_code]
        src: Src,
        #[label("not known here")]
        span: SourceSpan,
        name: String,
        node: String,
        #[help]
        help: String,
    },

    #[error("too many arguments to `{node}`")]
    #[diagnostic(code(kiln::config::unexpected_argument))]
    UnexpectedArgument {
        #[source_code]
        src: Src,
        #[label("not expected")]
        span: SourceSpan,
        node: String,
        #[help]
        help: String,
    },

    #[error("`{node}` takes no children block")]
    #[diagnostic(code(kiln::config::unexpected_children))]
    UnexpectedChildren {
        #[source_code]
        src: Src,
        #[label("remove this block")]
        span: SourceSpan,
        node: String,
        #[help]
        help: String,
    },

    #[error("wrong type for {what}: expected {expected}, found {found}")]
    #[diagnostic(code(kiln::config::wrong_type))]
    WrongType {
        #[source_code]
        src: Src,
        #[label("expected {expected}")]
        span: SourceSpan,
        what: String,
        expected: &'static str,
        found: &'static str,
        #[help]
        help: String,
    },

    #[error("{node} is missing {what}")]
    #[diagnostic(code(kiln::config::missing_value))]
    MissingValue {
        #[source_code]
        src: Src,
        #[label("{what} missing here")]
        span: SourceSpan,
        node: String,
        what: String,
        #[help]
        help: String,
    },

    #[error("invalid {what}: {reason}")]
    #[diagnostic(code(kiln::config::invalid_value))]
    InvalidValue {
        #[source_code]
        src: Src,
        #[label("{label}")]
        span: SourceSpan,
        what: String,
        reason: String,
        label: String,
        #[help]
        help: String,
    },

    #[error("{kind} `{name}` is defined more than once")]
    #[diagnostic(code(kiln::config::duplicate))]
    Duplicate {
        #[source_code]
        src: Src,
        #[label("defined again here")]
        span: SourceSpan,
        #[label("first defined here")]
        first: Option<SourceSpan>,
        kind: &'static str,
        name: String,
        #[help]
        help: String,
        #[related]
        elsewhere: Vec<Note>,
    },

    #[error("{owner} needs unknown step `{name}`")]
    #[diagnostic(code(kiln::config::unknown_step))]
    UnknownStep {
        #[source_code]
        src: Src,
        #[label("no step `{name}` in flavor `{flavor}`")]
        span: SourceSpan,
        owner: String,
        name: String,
        flavor: String,
        #[help]
        help: String,
    },

    #[error("dependency cycle: {path}")]
    #[diagnostic(code(kiln::config::cycle))]
    Cycle {
        #[source_code]
        src: Src,
        #[label(collection)]
        edges: Vec<LabeledSpan>,
        path: String,
        #[help]
        help: String,
        #[related]
        elsewhere: Vec<Note>,
    },

    #[error("{owner} names unknown flavor `{name}`")]
    #[diagnostic(code(kiln::config::unknown_flavor))]
    UnknownFlavor {
        #[source_code]
        src: Src,
        #[label("no flavor `{name}` in this workspace")]
        span: SourceSpan,
        owner: String,
        name: String,
        #[help]
        help: String,
    },

    #[error("{owner} names unknown goal `{name}`")]
    #[diagnostic(code(kiln::config::unknown_goal))]
    UnknownGoal {
        #[source_code]
        src: Src,
        #[label("no goal `{name}` in flavor `{flavor}`")]
        span: SourceSpan,
        owner: String,
        name: String,
        flavor: String,
        #[help]
        help: String,
    },

    #[error("{owner} uses unknown parameter `{name}`")]
    #[diagnostic(code(kiln::config::unknown_parameter))]
    UnknownParameter {
        #[source_code]
        src: Src,
        #[label("not a parameter of this workflow")]
        span: SourceSpan,
        owner: String,
        name: String,
        #[help]
        help: String,
    },

    #[error("{what} `{path}` does not exist")]
    #[diagnostic(code(kiln::config::path_missing))]
    PathMissing {
        #[source_code]
        src: Src,
        #[label("no such file or folder")]
        span: SourceSpan,
        what: String,
        path: String,
        #[help]
        help: String,
    },

    #[error("`{path}` is {size} bytes, more than kiln reads ({limit} bytes)")]
    #[diagnostic(
        code(kiln::config::too_large),
        help(
            "configuration files are at most {limit} bytes (docs/language.md, \"Limits\"); check that this is the file you meant"
        )
    )]
    TooLarge { path: String, size: u64, limit: u64 },

    #[error("`{path}` line {line} is {columns} columns wide, more than kiln reads ({limit})")]
    #[diagnostic(
        code(kiln::config::line_too_long),
        help(
            "configuration lines are at most {limit} columns (docs/language.md, \"Limits\"; a tab counts 4, a character beyond ASCII 2); break the line — in KDL a `\\` at a line's end continues the node on the next — or check that this is the file you meant"
        )
    )]
    LineTooLong {
        path: String,
        line: usize,
        columns: usize,
        limit: usize,
    },

    #[error("{what} nest {depth} deep, more than {limit}")]
    #[diagnostic(code(kiln::config::too_deep))]
    TooDeep {
        #[source_code]
        src: Src,
        #[label("level {depth} opens here")]
        span: SourceSpan,
        what: String,
        depth: usize,
        limit: usize,
        #[help]
        help: String,
    },

    #[error("`{path}` is too complex to parse safely")]
    #[diagnostic(
        code(kiln::config::too_complex),
        help(
            "kiln bounds the stack its KDL parser may use; real configuration files stay far below. Check that this is the file you meant"
        )
    )]
    TooComplex {
        path: String,
        #[source]
        source: super::limits::LimitError,
    },

    #[error("{omitted} more configuration error{} not shown", if *omitted == 1 { "" } else { "s" })]
    #[diagnostic(
        code(kiln::config::too_many_errors),
        help(
            "kiln shows the first {shown} errors of a load; fix those and run `kiln validate` again"
        )
    )]
    TooManyErrors { omitted: usize, shown: usize },

    #[error("the mount `{path}` holds the Docker daemon's socket `{socket}`")]
    #[diagnostic(
        code(kiln::config::docker_socket),
        help(
            "with the socket, an entity's command controls the daemon, and through it the machine (read-only does not stop it); mount a narrower folder, or set `allow-docker-socket #true` in kiln.kdl if the check really needs the daemon"
        )
    )]
    DockerSocketMount {
        #[source_code]
        src: Src,
        #[label("holds the daemon's socket")]
        span: SourceSpan,
        path: String,
        socket: String,
    },

    #[error("the `run` template of check `{check}` uses `{name}`, which is not defined")]
    #[diagnostic(code(kiln::config::undefined_name))]
    UndefinedName {
        #[source_code]
        src: Src,
        #[label("not defined")]
        span: SourceSpan,
        check: String,
        name: String,
        #[help]
        help: String,
    },

    #[error("{what} `{path}` escapes the workspace {how}")]
    #[diagnostic(code(kiln::config::path_escapes))]
    PathEscapes {
        #[source_code]
        src: Src,
        #[label("{resolved}")]
        span: SourceSpan,
        what: String,
        path: String,
        how: String,
        resolved: String,
        #[help]
        help: String,
    },
}

impl ConfigError {
    /// An invalid value; the label repeats a short reason, a long one stays in the message.
    pub fn invalid(
        src: Src,
        span: SourceSpan,
        what: &str,
        reason: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        let reason = reason.into();
        let label = if reason.chars().count() <= 48 {
            reason.clone()
        } else {
            "not valid".to_owned()
        };
        ConfigError::InvalidValue {
            src,
            span,
            what: what.to_owned(),
            reason,
            label,
            help: help.into(),
        }
    }
}

/// A secondary location attached to a diagnostic, possibly in another file.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(severity(Advice))]
pub struct Note {
    pub message: String,
    #[source_code]
    pub src: Src,
    #[label("here")]
    pub span: SourceSpan,
}

/// All configuration errors of one load, in the order they were found; past
/// [`MAX_ERRORS`](super::limits::MAX_ERRORS), the last one counts the rest
/// ([`ConfigError::TooManyErrors`]).
#[derive(Debug, Error, Diagnostic)]
#[error("{} configuration error{} in the workspace", self.total(), if self.total() == 1 { "" } else { "s" })]
#[diagnostic(code(kiln::config::invalid))]
pub struct ConfigErrors {
    #[related]
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Keeps the first [`MAX_ERRORS`](super::limits::MAX_ERRORS) of `errors` and counts
    /// the rest: rendering each diagnostic reads its file up to its span, so thousands
    /// of them on a large file would take minutes.
    pub fn new(mut errors: Vec<ConfigError>) -> Self {
        let shown = super::limits::MAX_ERRORS;
        if errors.len() > shown {
            let omitted = errors.len() - shown;
            errors.truncate(shown);
            errors.push(ConfigError::TooManyErrors { omitted, shown });
        }
        Self { errors }
    }

    /// How many errors the load found, shown or not.
    pub fn total(&self) -> usize {
        self.errors
            .iter()
            .map(|e| match e {
                ConfigError::TooManyErrors { omitted, .. } => *omitted,
                _ => 1,
            })
            .sum()
    }
}
