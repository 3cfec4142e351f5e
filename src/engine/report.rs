//! What a run did: one entry per node, nodes added by expansions included.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::NodeError;
use super::event::SkipReason;
use super::graph::NodeId;

/// How a node ended.
pub enum NodeState<O> {
    /// Ran and returned [`Step::Done`](super::Step::Done) with this output.
    Succeeded(Arc<O>),
    Failed(NodeError),
    /// Ran and returned [`Step::Expand`](super::Step::Expand): it has no output; `join`
    /// is the join node it added, `added` the number of nodes it added (join included).
    Expanded {
        join: NodeId,
        added: usize,
    },
    /// Never ran because of a failure; [`NodeReport::reason`] says which.
    Skipped,
    /// Never ran, or stopped with an error, because the run was cancelled.
    Cancelled,
}

impl<O> NodeState<O> {
    /// `succeeded`, `failed`, `expanded`, `skipped` or `cancelled`.
    pub fn name(&self) -> &'static str {
        match self {
            NodeState::Succeeded(_) => "succeeded",
            NodeState::Failed(_) => "failed",
            NodeState::Expanded { .. } => "expanded",
            NodeState::Skipped => "skipped",
            NodeState::Cancelled => "cancelled",
        }
    }

    /// Succeeded or expanded.
    pub fn is_success(&self) -> bool {
        matches!(self, NodeState::Succeeded(_) | NodeState::Expanded { .. })
    }
}

impl<O> fmt::Debug for NodeState<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeState::Failed(error) => f.debug_tuple("Failed").field(&error.to_string()).finish(),
            NodeState::Expanded { join, added } => f
                .debug_struct("Expanded")
                .field("join", join)
                .field("added", added)
                .finish(),
            other => f.write_str(match other {
                NodeState::Succeeded(_) => "Succeeded(..)",
                NodeState::Skipped => "Skipped",
                _ => "Cancelled",
            }),
        }
    }
}

/// One node of a finished run.
pub struct NodeReport<N, O> {
    pub node: NodeId,
    /// The display id.
    pub id: String,
    pub value: Arc<N>,
    pub state: NodeState<O>,
    /// Why the node was skipped, when it was.
    pub reason: Option<SkipReason>,
    /// When the node started, since the start of the run; `None` if it never did.
    pub started: Option<Duration>,
    /// How long it ran; `None` if it never started.
    pub duration: Option<Duration>,
    /// Its direct dependencies, edges added by expansions included.
    pub dependencies: Vec<NodeId>,
    /// The node whose expansion added this one.
    pub expanded_from: Option<NodeId>,
}

impl<N, O> NodeReport<N, O> {
    /// The output, if the node succeeded.
    pub fn output(&self) -> Option<&O> {
        match &self.state {
            NodeState::Succeeded(output) => Some(output),
            _ => None,
        }
    }

    pub fn error(&self) -> Option<&NodeError> {
        match &self.state {
            NodeState::Failed(error) => Some(error),
            _ => None,
        }
    }
}

impl<N, O> fmt::Debug for NodeReport<N, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeReport")
            .field("node", &self.node)
            .field("id", &self.id)
            .field("state", &self.state)
            .field("reason", &self.reason)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// How many nodes ended in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub expanded: usize,
    pub skipped: usize,
    pub cancelled: usize,
}

/// Everything a run did, by ascending `NodeId` (the nodes of the graph, then the nodes
/// expansions added, in the order they were added).
pub struct Report<N, O> {
    pub nodes: Vec<NodeReport<N, O>>,
    /// How long the run took.
    pub elapsed: Duration,
    /// Whether the run was cancelled.
    pub cancelled: bool,
}

impl<N, O> Report<N, O> {
    /// Every node succeeded or expanded (true for an empty graph).
    pub fn succeeded(&self) -> bool {
        self.nodes.iter().all(|n| n.state.is_success())
    }

    /// The failed nodes and their errors, by `NodeId`.
    pub fn failures(&self) -> impl Iterator<Item = (&NodeReport<N, O>, &NodeError)> {
        self.nodes.iter().filter_map(|n| n.error().map(|e| (n, e)))
    }

    pub fn get(&self, node: NodeId) -> Option<&NodeReport<N, O>> {
        self.nodes.get(node.index())
    }

    /// The node whose display id is `id` (the first, should several share it).
    pub fn find(&self, id: &str) -> Option<&NodeReport<N, O>> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The output of `node`, if it succeeded.
    pub fn output(&self, node: NodeId) -> Option<&O> {
        self.get(node).and_then(NodeReport::output)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, NodeReport<N, O>> {
        self.nodes.iter()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for node in &self.nodes {
            *match node.state {
                NodeState::Succeeded(_) => &mut counts.succeeded,
                NodeState::Failed(_) => &mut counts.failed,
                NodeState::Expanded { .. } => &mut counts.expanded,
                NodeState::Skipped => &mut counts.skipped,
                NodeState::Cancelled => &mut counts.cancelled,
            } += 1;
        }
        counts
    }
}

impl<'a, N, O> IntoIterator for &'a Report<N, O> {
    type Item = &'a NodeReport<N, O>;
    type IntoIter = std::slice::Iter<'a, NodeReport<N, O>>;

    fn into_iter(self) -> Self::IntoIter {
        self.nodes.iter()
    }
}

impl<N, O> fmt::Debug for Report<N, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("nodes", &self.nodes)
            .field("elapsed", &self.elapsed)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}
