//! What the scheduler runs: [`Node`]s, the [`Executor`] that runs them, and what a run
//! of one node returns ([`Step`]).

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::error::NodeError;
use super::graph::NodeId;
use super::status::NodeStatus;

/// A node of the graph.
pub trait Node: Send + Sync + 'static {
    /// Stable display id, e.g. `slc/release`, used in events and reports.
    fn id(&self) -> String;

    /// Runs once its dependencies finished, whatever their outcome (like `finally`): not
    /// skipped when one fails, is skipped or is cancelled, and started even after
    /// fail-fast or a cancellation stopped new work, so what finished is kept. Its
    /// [`RunContext::unfinished`] says which dependencies did not succeed; its
    /// [`RunContext::cancel`] may already be cancelled, so it must be quick and not give
    /// up because of it. Recording a check's results is such a node.
    fn runs_after_failures(&self) -> bool {
        false
    }
}

/// Runs nodes. One executor serves every node of a run, from several tasks at once.
#[async_trait]
pub trait Executor<N: Node>: Send + Sync + 'static {
    /// What a successful node leaves for its dependents and the report. Dependents
    /// running at the same time on other threads read it, hence `Sync`.
    type Output: Send + Sync + 'static;

    /// Runs `node` once all its dependencies succeeded; `ctx.deps` holds the outputs of
    /// its direct dependencies. Return promptly, with an error, once `ctx.cancel` is
    /// cancelled: the scheduler waits for every running node before it returns.
    async fn run(
        &self,
        node: &N,
        ctx: RunContext<'_, Self::Output>,
    ) -> Result<Step<N, Self::Output>, NodeError>;
}

/// What a node's run produced.
#[derive(Debug)]
pub enum Step<N, O> {
    /// The node is done; `O` is its output.
    Done(O),
    /// The node is done and adds nodes to the graph (fork-join); see [`Expansion`].
    Expand(Expansion<N>),
}

/// Fork-join: nodes an expanding node adds to the running graph.
///
/// - Each of `nodes` depends on the expanding node and on the nodes named next to it
///   (existing nodes, by `NodeId`); it runs once they succeeded.
/// - `join` depends on the expanding node and on every one of `nodes`; its `deps` are the
///   outputs of `nodes` (new ids ascend in the order listed here; one of `nodes` that
///   expands in turn is represented by its own join's output, see below).
/// - Every dependent of the expanding node now also depends on `join`. The expanding node
///   has no output, so a dependent's `deps` hold the join's output (under the join's
///   `NodeId`) where they would have held the expanding node's. If the join expands in
///   turn, its own join takes its place the same way.
/// - Depending on an expanded node, as an extra dependency here, means depending on its
///   join (following joins that expanded in turn).
///
/// A dependency that does not exist, or one that waits for the expanding node (which
/// would make a cycle), fails the expanding node instead; nothing is added then.
#[derive(Debug)]
pub struct Expansion<N> {
    pub nodes: Vec<(N, Vec<NodeId>)>,
    pub join: N,
}

/// What a node's run gets besides the node itself.
#[derive(Debug)]
pub struct RunContext<'a, O> {
    /// The node being run.
    pub node: NodeId,
    /// Cancelled when the run is cancelled (Ctrl-C): stop and return an error.
    pub cancel: CancellationToken,
    /// Outputs of the direct dependencies that have one, by ascending `NodeId`. An
    /// expanded dependency has none; its join is a dependency too (see [`Expansion`]).
    pub deps: Vec<(NodeId, &'a O)>,
    /// Direct dependencies that failed, were skipped or cancelled, by ascending
    /// `NodeId`: always empty, except for a node that [runs after
    /// failures](Node::runs_after_failures).
    pub unfinished: Vec<Unfinished>,
    /// Says what the node does now (the subscribers see it as a `status` event).
    pub status: NodeStatus,
}

/// A dependency that did not succeed, as a node that runs after failures sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub node: NodeId,
    pub id: String,
    /// What happened to it: the error, or why it was skipped.
    pub why: String,
}

impl<O> RunContext<'_, O> {
    /// The output of dependency `node`, if it is a direct dependency with an output.
    pub fn dep(&self, node: NodeId) -> Option<&O> {
        self.deps
            .binary_search_by_key(&node, |(id, _)| *id)
            .ok()
            .map(|i| self.deps[i].1)
    }
}
