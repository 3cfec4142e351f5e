//! The scheduler: runs a graph of nodes with an [`Executor`], independent of what the
//! nodes do (build an image, run a check).
//!
//! - A node starts once all its dependencies succeeded; at most [`Options::jobs`] run at
//!   once; among ready nodes the lowest [`NodeId`] starts first.
//! - Fail-fast (default): after the first failure nothing new starts, running nodes
//!   finish (they are not cancelled), every other node is skipped. With
//!   [`Options::keep_going`] only the nodes that depend on a failed node are skipped.
//! - Cancellation: tripping the token cancels the token every running node sees
//!   ([`RunContext::cancel`]), starts nothing new and marks every node that has not
//!   started as cancelled; [`run`] returns once the running nodes returned. A node that
//!   returns an error after the cancellation counts as cancelled, not failed.
//! - Fork-join: a node may return [`Step::Expand`] to add nodes and a join node while the
//!   graph runs; see [`Expansion`] for the exact rules. Expansions may nest.
//! - A node that [runs after failures](Node::runs_after_failures) runs once its
//!   dependencies finished, whatever they came to, even after fail-fast or cancellation.
//! - Every state change is an [`Event`] delivered, in order, to every [`Subscriber`];
//!   the event that ends a node carries its duration and, on success, its output. A
//!   running node may say what it does ([`NodeStatus`]); that is an event too.
//!
//! See docs/engine.md.

mod error;
mod event;
mod executor;
mod graph;
mod options;
mod report;
mod scheduler;
mod status;

pub use error::{GraphError, NodeError};
pub use event::{Event, EventKind, SkipReason, Subscriber};
pub use executor::{Executor, Expansion, Node, RunContext, Step, Unfinished};
pub use graph::{NodeId, RunGraph};
pub use options::Options;
pub use report::{Counts, NodeReport, NodeState, Report};
pub use scheduler::run;
pub use status::NodeStatus;
