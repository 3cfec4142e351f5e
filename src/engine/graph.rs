//! The run graph: nodes and their dependencies, built before a run and grown by
//! expansions during it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use daggy::{Dag, NodeIndex};
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

    /// The node's index in the [`Dag`]: nodes are never removed, so the `i`th node added
    /// is daggy's node `i` too.
    fn dag_index(self) -> NodeIndex<usize> {
        NodeIndex::new(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the [`Dag`] holds for a node: the node, its display id, and its edges in the
/// order they were added.
///
/// The edges are the `Dag`'s own, listed again: petgraph links a node's edges newest
/// first, while [`RunGraph::dependencies`] and [`RunGraph::dependents`] lend slices in
/// the order of addition, and the scheduler walks them on every event.
pub(super) struct Slot<N> {
    pub(super) node: Arc<N>,
    pub(super) id: String,
    pub(super) dependencies: Vec<NodeId>,
    pub(super) dependents: Vec<NodeId>,
}

/// Nodes `N` with edges from a dependency to its dependents, in a [`daggy::Dag`].
///
/// [`depend`](Self::depend) refuses edges that would close a cycle (daggy's check), so
/// the graph is always acyclic. Checking costs nothing while the dependency depends on
/// nothing yet or nothing depends on the dependent yet — the usual case: each node given
/// its dependencies as it is added, in a topological order, as kiln's plan builder does;
/// otherwise daggy walks what the dependent reaches.
pub struct RunGraph<N> {
    /// Edges point from a dependency to its dependent; indices are `usize`, so the graph
    /// holds as many nodes and edges as memory does.
    dag: Dag<Slot<N>, (), usize>,
    /// `(dependency, dependent)` of every edge, to ignore repeated edges at once: daggy
    /// keeps parallel edges, and its `find_edge` walks all of the dependency's dependents
    /// (quadratic for one node that many depend on).
    edges: HashSet<(NodeId, NodeId)>,
}

impl<N> Default for RunGraph<N> {
    fn default() -> Self {
        Self {
            dag: Dag::default(),
            edges: HashSet::new(),
        }
    }
}

impl<N> fmt::Debug for RunGraph<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.slots().map(|slot| slot.id.as_str()).collect();
        f.debug_struct("RunGraph")
            .field("nodes", &ids)
            .field("edges", &self.dag.edge_count())
            .finish()
    }
}

impl<N> RunGraph<N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node's id, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + use<N> {
        (0..self.len()).map(NodeId)
    }

    pub fn node(&self, node: NodeId) -> Option<&N> {
        self.get(node).map(|slot| &*slot.node)
    }

    /// The node's display id ([`Node::id`]), computed once when it was added.
    pub fn id_of(&self, node: NodeId) -> Option<&str> {
        self.get(node).map(|slot| slot.id.as_str())
    }

    /// What `node` depends on, in the order the edges were added.
    pub fn dependencies(&self, node: NodeId) -> &[NodeId] {
        self.get(node).map_or(&[], |slot| &slot.dependencies)
    }

    /// What depends on `node`, in the order the edges were added.
    pub fn dependents(&self, node: NodeId) -> &[NodeId] {
        self.get(node).map_or(&[], |slot| &slot.dependents)
    }

    /// Makes `dependent` wait for `dependency`. Adding an edge twice does nothing;
    /// unknown nodes and cycles (a node depending on itself included) are refused and
    /// leave the graph unchanged.
    pub fn depend(&mut self, dependent: NodeId, dependency: NodeId) -> Result<(), GraphError> {
        for node in [dependent, dependency] {
            if node.0 >= self.len() {
                return Err(GraphError::UnknownNode { node });
            }
        }
        // One hash for a new edge: noted first, forgotten again if refused.
        if !self.edges.insert((dependency, dependent)) {
            return Ok(());
        }
        // daggy refuses the edge when `dependency` is `dependent` or a node that waits
        // for it, directly or not, and adds nothing then.
        if self
            .dag
            .add_edge(dependency.dag_index(), dependent.dag_index(), ())
            .is_err()
        {
            self.edges.remove(&(dependency, dependent));
            return Err(GraphError::Cycle {
                dependent: self.dag[dependent.dag_index()].id.clone(),
                dependency: self.dag[dependency.dag_index()].id.clone(),
            });
        }
        self.dag[dependent.dag_index()]
            .dependencies
            .push(dependency);
        self.dag[dependency.dag_index()].dependents.push(dependent);
        Ok(())
    }

    /// The node's slot, for the scheduler, which asks only for nodes of this graph.
    ///
    /// # Panics
    ///
    /// If `node` is not one.
    pub(super) fn slot(&self, node: NodeId) -> &Slot<N> {
        &self.dag[node.dag_index()]
    }

    /// Every node's slot in `NodeId` order, for the scheduler's report.
    pub(super) fn into_slots(self) -> impl Iterator<Item = Slot<N>> {
        let (nodes, _) = self.dag.into_graph().into_nodes_edges();
        nodes.into_iter().map(|node| node.weight)
    }

    fn get(&self, node: NodeId) -> Option<&Slot<N>> {
        self.dag.node_weight(node.dag_index())
    }

    fn slots(&self) -> impl Iterator<Item = &Slot<N>> {
        self.dag.raw_nodes().iter().map(|node| &node.weight)
    }
}

impl<N: Node> RunGraph<N> {
    /// Adds a node with no dependencies yet.
    pub fn add(&mut self, node: N) -> NodeId {
        let id = node.id();
        NodeId(self.dag.add_node(Slot::new(node, id)).index())
    }
}

impl<N> Slot<N> {
    fn new(node: N, id: String) -> Self {
        Self {
            node: Arc::new(node),
            id,
            dependencies: Vec::new(),
            dependents: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    impl Node for Named {
        fn id(&self) -> String {
            self.0.to_owned()
        }
    }

    /// A chain `a ← b ← c` (b depends on a, c on b).
    fn chain() -> (RunGraph<Named>, [NodeId; 3]) {
        let mut graph = RunGraph::new();
        let a = graph.add(Named("a"));
        let b = graph.add(Named("b"));
        let c = graph.add(Named("c"));
        graph.depend(b, a).unwrap();
        graph.depend(c, b).unwrap();
        (graph, [a, b, c])
    }

    fn cycle(dependent: &str, dependency: &str) -> Result<(), GraphError> {
        Err(GraphError::Cycle {
            dependent: dependent.into(),
            dependency: dependency.into(),
        })
    }

    #[test]
    fn cycles_are_refused_and_leave_the_graph_unchanged() {
        let (mut graph, [a, b, c]) = chain();
        assert_eq!(graph.depend(a, c), cycle("a", "c"));
        assert_eq!(graph.depend(a, b), cycle("a", "b"));
        assert_eq!(graph.depend(b, b), cycle("b", "b"));
        assert_eq!(graph.dependencies(a), []);
        assert_eq!(graph.dependents(c), []);
        assert_eq!(graph.dag.edge_count(), 2);
        assert_eq!(graph.edges.len(), 2);
        // An edge against the order of addition that closes no cycle is taken; one that
        // closes a cycle through it is not.
        let d = graph.add(Named("d"));
        graph.depend(a, d).unwrap();
        assert_eq!(graph.depend(d, c), cycle("d", "c"));
        assert_eq!(graph.dependents(d), [a]);
        assert_eq!(graph.dependencies(d), []);
        assert_eq!(graph.dag.edge_count(), 3);
    }

    #[test]
    fn a_refused_edge_can_be_added_the_other_way() {
        let (mut graph, [a, _, c]) = chain();
        assert!(graph.depend(a, c).is_err());
        graph.depend(c, a).unwrap();
        assert_eq!(graph.dependencies(c), [NodeId(1), a]);
    }

    #[test]
    fn repeated_edges_are_ignored() {
        let (mut graph, [a, b, c]) = chain();
        graph.depend(c, b).unwrap();
        graph.depend(b, a).unwrap();
        graph.depend(c, a).unwrap();
        graph.depend(c, a).unwrap();
        assert_eq!(graph.dependencies(c), [b, a]);
        assert_eq!(graph.dependents(a), [b, c]);
        assert_eq!(graph.dag.edge_count(), 3);
        assert_eq!(graph.edges.len(), 3);
    }

    #[test]
    fn unknown_nodes_are_refused_without_a_panic() {
        let (mut graph, [a, ..]) = chain();
        let unknown = NodeId::new(7);
        assert_eq!(
            graph.depend(a, unknown),
            Err(GraphError::UnknownNode { node: unknown })
        );
        assert_eq!(
            graph.depend(unknown, a),
            Err(GraphError::UnknownNode { node: unknown })
        );
        assert_eq!(graph.len(), 3);
        assert_eq!(graph.dependencies(unknown), []);
        assert_eq!(graph.dependents(unknown), []);
        assert!(graph.node(unknown).is_none());
        assert_eq!(graph.id_of(unknown), None);
    }

    #[test]
    fn the_report_takes_the_slots_in_node_order() {
        let (graph, _) = chain();
        let slots: Vec<_> = graph
            .into_slots()
            .map(|slot| (slot.id, slot.dependencies, slot.dependents))
            .collect();
        assert_eq!(
            slots,
            [
                ("a".to_owned(), vec![], vec![NodeId(1)]),
                ("b".to_owned(), vec![NodeId(0)], vec![NodeId(2)]),
                ("c".to_owned(), vec![NodeId(1)], vec![]),
            ]
        );
    }
}
