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

/// All configuration errors of one load, in the order they were found.
#[derive(Debug, Error, Diagnostic)]
#[error("{} configuration error{} in the workspace", errors.len(), if errors.len() == 1 { "" } else { "s" })]
#[diagnostic(code(kiln::config::invalid))]
pub struct ConfigErrors {
    #[related]
    pub errors: Vec<ConfigError>,
}
