//! Errors: a node that failed ([`NodeError`]) and a graph that cannot be built
//! ([`GraphError`]).

use std::fmt::Display;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::graph::NodeId;

/// Why one node failed: a message, optionally the diagnostic that caused it (so a failing
/// build keeps its code, labels and help), a help line and the path of a log.
///
/// The message is what [`Display`] shows and what the `failed` event carries. When built
/// with [`NodeError::from_diagnostic`] the message is the diagnostic's own message and the
/// diagnostic is the [`Diagnostic::diagnostic_source`], which miette renders in full under
/// this error; a renderer that wants only the original calls [`NodeError::diagnostic`].
#[derive(Debug, Error)]
#[error("{message}")]
pub struct NodeError {
    message: String,
    diagnostic: Option<Box<dyn Diagnostic + Send + Sync + 'static>>,
    help: Option<String>,
    log: Option<PathBuf>,
}

// By hand: miette's derive takes no optional `diagnostic_source`.
impl Diagnostic for NodeError {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        Some(Box::new("kiln::engine::node_failed"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn Display>)
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.diagnostic.as_deref().map(|d| d as &dyn Diagnostic)
    }
}

impl NodeError {
    /// A failure described by `message` alone.
    pub fn message(message: impl Display) -> Self {
        Self {
            message: message.to_string(),
            diagnostic: None,
            help: None,
            log: None,
        }
    }

    /// The node stopped because the run was cancelled (for
    /// `CancellationToken::run_until_cancelled(…).ok_or_else(NodeError::cancelled)`).
    pub fn cancelled() -> Self {
        Self::message("cancelled")
    }

    /// A failure caused by `diagnostic`; the message is the diagnostic's message.
    pub fn from_diagnostic(diagnostic: impl Diagnostic + Send + Sync + 'static) -> Self {
        Self {
            message: diagnostic.to_string(),
            diagnostic: Some(Box::new(diagnostic)),
            help: None,
            log: None,
        }
    }

    /// Adds a help line (shown after any earlier one).
    pub fn with_help(mut self, help: impl Display) -> Self {
        self.help = Some(match self.help.take() {
            Some(old) => format!("{old}\n{help}"),
            None => help.to_string(),
        });
        self
    }

    /// Records the log file of the failing node and names it in the help.
    pub fn with_log(mut self, log: impl AsRef<Path>) -> Self {
        let log = log.as_ref().to_owned();
        self = self.with_help(format_args!("full log: {}", log.display()));
        self.log = Some(log);
        self
    }

    /// The diagnostic that caused this failure, if any.
    pub fn diagnostic(&self) -> Option<&(dyn Diagnostic + Send + Sync + 'static)> {
        self.diagnostic.as_deref()
    }

    /// The log file of the failing node, if the executor named one.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }
}

/// A dependency that [`RunGraph::depend`](super::RunGraph::depend) refused.
#[derive(Debug, Clone, PartialEq, Eq, Error, Diagnostic)]
pub enum GraphError {
    #[error("no node {node} in the graph")]
    #[diagnostic(
        code(kiln::engine::unknown_node),
        help("use a NodeId returned by RunGraph::add on the same graph")
    )]
    UnknownNode { node: NodeId },

    #[error("`{dependent}` depending on `{dependency}` would make a dependency cycle")]
    #[diagnostic(
        code(kiln::engine::cycle),
        help("a node cannot wait, directly or through others, for itself")
    )]
    Cycle {
        dependent: String,
        dependency: String,
    },
}
