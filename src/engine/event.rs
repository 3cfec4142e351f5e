//! Events: every state change of every node, in the order it happened, delivered to
//! every [`Subscriber`] (progress display, JSON output, job record, reports). A finished
//! node's event carries what it produced, so a listener never needs to ask anyone else.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::graph::NodeId;

/// One state change of one node; `O` is what a node produces (the executor's output).
///
/// As JSON (flat): `{"at_ms":12,"node":3,"id":"sci/base","kind":"failed","error":"…",
/// "duration_ms":40}`; `parent`, `duration_ms` and `output` only where they apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event<O> {
    /// Time since the run started (`at_ms`, whole milliseconds, in JSON).
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub node: NodeId,
    /// The node's display id.
    pub id: String,
    /// The node whose expansion added this one (`None` for the nodes of the graph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<NodeId>,
    #[serde(flatten)]
    pub kind: EventKind,
    /// How long the node ran, on the event that ends a node that started
    /// (`succeeded`, `failed`, `expanded`, `cancelled`).
    #[serde(
        rename = "duration_ms",
        serialize_with = "maybe_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// What the node produced, on `succeeded` (`result` in JSON).
    #[serde(rename = "result", skip_serializing_if = "Option::is_none")]
    pub output: Option<Arc<O>>,
}

/// What happened to the node.
///
/// Per node the order is `queued`, `started`, any number of `status`, then one of
/// `succeeded`, `failed`, `expanded`, `cancelled`; or, for a node that never starts, just `skipped` or
/// `cancelled` (possibly after `queued`). A dependency's last event comes before its
/// dependents' `queued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// All dependencies succeeded; waits for a job slot.
    Queued,
    Started,
    /// What the running node does now, as it said ([`NodeStatus`](super::NodeStatus)):
    /// `Step 5/12 : RUN make`, `pulling`.
    Status {
        message: String,
    },
    Succeeded,
    Failed {
        error: String,
        /// The node's log, when the executor named one.
        #[serde(skip_serializing_if = "Option::is_none")]
        log: Option<std::path::PathBuf>,
    },
    /// Will not run, and never ran.
    Skipped {
        #[serde(flatten)]
        reason: SkipReason,
    },
    /// The run was cancelled: the node never started, or stopped with an error after
    /// the cancellation.
    Cancelled,
    /// The node finished by adding `added` nodes, `join` (the last of them) included.
    Expanded {
        added: usize,
        join: NodeId,
    },
}

/// Why a node was skipped; both name the failed node that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum SkipReason {
    /// A node it depends on (directly or not) failed.
    DependencyFailed { failed: NodeId, failed_id: String },
    /// Fail-fast: a node failed and nothing new starts after a failure.
    Stopped { failed: NodeId, failed_id: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::DependencyFailed { failed_id, .. } => {
                write!(f, "dependency `{failed_id}` failed")
            }
            SkipReason::Stopped { failed_id, .. } => {
                write!(
                    f,
                    "not started after `{failed_id}` failed (use --keep-going to run independent nodes)"
                )
            }
        }
    }
}

fn millis<S: Serializer>(at: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(at.as_millis()).unwrap_or(u64::MAX))
}

fn maybe_millis<S: Serializer>(at: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Receives every event of a run, in order, on the scheduler's task: return quickly.
///
/// A subscriber that panics is dropped for the rest of the run (the run goes on).
/// Closures `FnMut(&Event<O>) + Send` are subscribers.
pub trait Subscriber<O>: Send {
    /// Called once before the first event with the number of nodes in the graph
    /// (expansions add more: see [`EventKind::Expanded`]).
    fn started(&mut self, nodes: usize) {
        let _ = nodes;
    }

    fn event(&mut self, event: &Event<O>);

    /// Called once after the last event of the run, with whether it was cancelled.
    fn finished(&mut self, cancelled: bool) {
        let _ = cancelled;
    }
}

impl<O, F: FnMut(&Event<O>) + Send> Subscriber<O> for F {
    fn event(&mut self, event: &Event<O>) {
        self(event)
    }
}
