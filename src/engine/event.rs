//! Events: every state change of every node, in the order it happened, delivered to
//! every [`Subscriber`] (progress display, JSON output, job record).

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::graph::NodeId;

/// One state change of one node.
///
/// As JSON (flat): `{"at_ms":12,"node":3,"id":"sci/base","kind":"failed","error":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Time since the run started (`at_ms`, whole milliseconds, in JSON).
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub node: NodeId,
    /// The node's display id.
    pub id: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened to the node.
///
/// Per node the order is `queued`, `started`, then one of `succeeded`, `failed`,
/// `expanded`, `cancelled`; or, for a node that never starts, just `skipped` or
/// `cancelled` (possibly after `queued`). A dependency's last event comes before its
/// dependents' `queued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// All dependencies succeeded; waits for a job slot.
    Queued,
    Started,
    Succeeded,
    Failed {
        error: String,
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

/// Receives every event of a run, in order, on the scheduler's task: return quickly.
///
/// A subscriber that panics is dropped for the rest of the run (the run goes on).
/// Closures `FnMut(&Event) + Send` are subscribers.
pub trait Subscriber: Send {
    /// Called once before the first event with the number of nodes in the graph
    /// (expansions add more: see [`EventKind::Expanded`]).
    fn started(&mut self, nodes: usize) {
        let _ = nodes;
    }

    fn event(&mut self, event: &Event);

    /// Called once after the last event of the run.
    fn finished(&mut self) {}
}

impl<F: FnMut(&Event) + Send> Subscriber for F {
    fn event(&mut self, event: &Event) {
        self(event)
    }
}
