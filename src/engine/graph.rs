//! The run graph: nodes and their dependencies, built before a run and grown by
//! expansions during it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::error::GraphError;
use super::executor::Node;

/// A node of a [`RunGraph`]: its index, in the order the nodes were added. Ready nodes
/// start in ascending `NodeId` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeId(usize);

impl NodeId {
    /// The id of the `index`th node added to a graph.
    pub const fn new(index: usize) -> Self {
        Self(index)
    }

    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Nodes `N` with edges from a dependency to its dependents.
///
/// [`depend`](Self::depend) refuses edges that would close a cycle, so the graph is
/// always acyclic. Checking costs nothing while every edge points from an earlier node
/// to a later one (the usual case: nodes added in a topological order, as kiln's plan
/// builder does); otherwise it walks what the dependent already reaches.
pub struct RunGraph<N> {
    pub(super) nodes: Vec<Arc<N>>,
    pub(super) ids: Vec<String>,
    pub(super) dependencies: Vec<Vec<NodeId>>,
    pub(super) dependents: Vec<Vec<NodeId>>,
    /// `(dependency, dependent)` of every edge, to ignore repeated edges.
    edges: HashSet<(usize, usize)>,
    /// Every edge points from a lower to a higher id (so no cycle is possible).
    ascending: bool,
}

impl<N> Default for RunGraph<N> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            ids: Vec::new(),
            dependencies: Vec::new(),
            dependents: Vec::new(),
            edges: HashSet::new(),
            ascending: true,
        }
    }
}

impl<N> fmt::Debug for RunGraph<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunGraph")
            .field("nodes", &self.ids)
            .field("edges", &self.edges.len())
            .finish()
    }
}

impl<N> RunGraph<N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's id, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + use<N> {
        (0..self.nodes.len()).map(NodeId)
    }

    pub fn node(&self, node: NodeId) -> Option<&N> {
        self.nodes.get(node.0).map(|n| &**n)
    }

    /// The node's display id ([`Node::id`]), computed once when it was added.
    pub fn id_of(&self, node: NodeId) -> Option<&str> {
        self.ids.get(node.0).map(String::as_str)
    }

    /// What `node` depends on, in the order the edges were added.
    pub fn dependencies(&self, node: NodeId) -> &[NodeId] {
        self.dependencies.get(node.0).map_or(&[], Vec::as_slice)
    }

    /// What depends on `node`, in the order the edges were added.
    pub fn dependents(&self, node: NodeId) -> &[NodeId] {
        self.dependents.get(node.0).map_or(&[], Vec::as_slice)
    }

    /// Makes `dependent` wait for `dependency`. Adding an edge twice does nothing;
    /// unknown nodes and cycles (a node depending on itself included) are refused and
    /// leave the graph unchanged.
    pub fn depend(&mut self, dependent: NodeId, dependency: NodeId) -> Result<(), GraphError> {
        for node in [dependent, dependency] {
            if node.0 >= self.nodes.len() {
                return Err(GraphError::UnknownNode { node });
            }
        }
        if self.edges.contains(&(dependency.0, dependent.0)) {
            return Ok(());
        }
        let ascending = dependency < dependent;
        if !(self.ascending && ascending) && self.reaches(dependent, dependency) {
            return Err(GraphError::Cycle {
                dependent: self.ids[dependent.0].clone(),
                dependency: self.ids[dependency.0].clone(),
            });
        }
        self.ascending &= ascending;
        self.push_edge(dependency, dependent);
        Ok(())
    }

    /// Adds an edge known to keep the graph acyclic and not to exist yet.
    pub(super) fn push_edge(&mut self, dependency: NodeId, dependent: NodeId) {
        if self.edges.insert((dependency.0, dependent.0)) {
            self.ascending &= dependency < dependent;
            self.dependencies[dependent.0].push(dependency);
            self.dependents[dependency.0].push(dependent);
        }
    }

    /// Adds a node with a precomputed display id.
    pub(super) fn push_node(&mut self, node: N, id: String) -> NodeId {
        self.nodes.push(Arc::new(node));
        self.ids.push(id);
        self.dependencies.push(Vec::new());
        self.dependents.push(Vec::new());
        NodeId(self.nodes.len() - 1)
    }

    /// Whether `to` is `from` or waits for it, directly or not.
    fn reaches(&self, from: NodeId, to: NodeId) -> bool {
        if from == to {
            return true;
        }
        let mut seen = HashSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for &next in &self.dependents[node.0] {
                if next == to {
                    return true;
                }
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        false
    }
}

impl<N: Node> RunGraph<N> {
    /// Adds a node with no dependencies yet.
    pub fn add(&mut self, node: N) -> NodeId {
        let id = node.id();
        self.push_node(node, id)
    }
}
