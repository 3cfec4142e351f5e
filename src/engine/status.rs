//! What a running node says it is doing (`Step 5/12 : RUN make`, `pulling`): a handle
//! the node's run gets in its [`RunContext`](super::RunContext), whose messages reach
//! the subscribers as [`EventKind::Status`](super::EventKind::Status) events, in order
//! with the node's other events.

use tokio::sync::mpsc;

use super::graph::NodeId;

/// Sends status messages of one running node to the scheduler. Cheap to clone; a
/// message sent after the node finished is dropped.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    node: NodeId,
    sender: mpsc::UnboundedSender<(NodeId, String)>,
}

impl NodeStatus {
    pub(super) fn new(node: NodeId, sender: mpsc::UnboundedSender<(NodeId, String)>) -> Self {
        Self { node, sender }
    }

    /// A handle whose messages go nowhere, for running a node outside the scheduler.
    pub fn detached(node: NodeId) -> Self {
        let (sender, _) = mpsc::unbounded_channel();
        Self { node, sender }
    }

    /// Says what the node does now; the newest message replaces the one before.
    pub fn say(&self, message: impl Into<String>) {
        // The scheduler holds the receiver for the whole run; a closed channel means
        // the run is over, and nobody is left to tell.
        let _ = self.sender.send((self.node, message.into()));
    }
}
