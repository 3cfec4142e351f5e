//! The dependency graph kiln runs: a DAG of nodes, edges pointing from a dependency to
//! what depends on it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use daggy::{Dag, NodeIndex, Walker};
use serde::Serialize;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// Analyse a step and get its image: from the daemon, a cache tier, or a build.
    Build,
}

/// One node: a step of a flavor, for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    pub flavor: String,
    pub step: String,
}

impl Node {
    /// Stable, unique id: `<flavor>/<step>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.flavor, self.step)
    }
}

/// The planned graph.
#[derive(Debug, Default)]
pub struct Graph {
    pub dag: Dag<Node, ()>,
    index: BTreeMap<(String, String), NodeIndex>,
}

impl Graph {
    /// The node of `flavor/step`, added if new.
    pub fn node(&mut self, kind: NodeKind, flavor: &str, step: &str) -> NodeIndex {
        let key = (flavor.to_owned(), step.to_owned());
        if let Some(&index) = self.index.get(&key) {
            return index;
        }
        let index = self.dag.add_node(Node {
            kind,
            flavor: flavor.to_owned(),
            step: step.to_owned(),
        });
        self.index.insert(key, index);
        index
    }

    pub fn find(&self, flavor: &str, step: &str) -> Option<NodeIndex> {
        self.index
            .get(&(flavor.to_owned(), step.to_owned()))
            .copied()
    }

    /// Adds the edge `dependency → dependent`; the model was checked for cycles, so a
    /// cycle here is a bug.
    pub fn depend(&mut self, dependent: NodeIndex, dependency: NodeIndex) {
        if self.dag.find_edge(dependency, dependent).is_none() {
            self.dag
                .add_edge(dependency, dependent, ())
                .expect("config validation rejects dependency cycles");
        }
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nodes in a topological order, ties broken by id, so output is stable.
    pub fn ordered(&self) -> Vec<NodeIndex> {
        let mut waiting: Vec<usize> = (0..self.dag.node_count())
            .map(|i| self.dag.parents(NodeIndex::new(i)).iter(&self.dag).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<(String, usize)>> = BinaryHeap::new();
        for (i, count) in waiting.iter().enumerate() {
            if *count == 0 {
                ready.push(Reverse((self.dag[NodeIndex::new(i)].id(), i)));
            }
        }
        let mut out = Vec::with_capacity(waiting.len());
        while let Some(Reverse((_, i))) = ready.pop() {
            let node = NodeIndex::new(i);
            out.push(node);
            for (_, child) in self.dag.children(node).iter(&self.dag) {
                waiting[child.index()] -= 1;
                if waiting[child.index()] == 0 {
                    ready.push(Reverse((self.dag[child].id(), child.index())));
                }
            }
        }
        out
    }

    /// Names of the flavors that have nodes, sorted.
    pub fn flavors(&self) -> Vec<&str> {
        let mut flavors: Vec<&str> = self
            .dag
            .raw_nodes()
            .iter()
            .map(|n| n.weight.flavor.as_str())
            .collect();
        flavors.sort();
        flavors.dedup();
        flavors
    }

    /// The nodes `node` depends on directly, sorted by id.
    pub fn parents(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut parents: Vec<NodeIndex> = self
            .dag
            .parents(node)
            .iter(&self.dag)
            .map(|(_, p)| p)
            .collect();
        parents.sort_by_key(|p| self.dag[*p].id());
        parents
    }

    /// Ids of the nodes `node` depends on, sorted.
    pub fn needs(&self, node: NodeIndex) -> Vec<String> {
        let mut ids: Vec<String> = self
            .dag
            .parents(node)
            .iter(&self.dag)
            .map(|(_, p)| self.dag[p].id())
            .collect();
        ids.sort();
        ids
    }

    /// Every edge as `(dependency id, dependent id)`, sorted.
    pub fn edges(&self) -> Vec<(String, String)> {
        let mut edges: Vec<(String, String)> = self
            .dag
            .raw_edges()
            .iter()
            .map(|e| (self.dag[e.source()].id(), self.dag[e.target()].id()))
            .collect();
        edges.sort();
        edges
    }
}
