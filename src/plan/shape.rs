//! What the renderers read of a [`Graph`]: ids, flavors and edges, sorted so output is
//! byte-for-byte stable. Nodes themselves come in `NodeId` order, which the builder
//! made a topological order with ties broken by id.

use crate::engine::NodeId;

use super::builder::Graph;

/// Ids of the nodes `node` depends on, sorted.
pub fn needs(graph: &Graph, node: NodeId) -> Vec<String> {
    let mut ids: Vec<String> = graph
        .dependencies(node)
        .iter()
        .filter_map(|&d| graph.id_of(d).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Every edge as `(dependency id, dependent id)`, sorted.
pub fn edges(graph: &Graph) -> Vec<(String, String)> {
    let mut edges: Vec<(String, String)> = graph
        .node_ids()
        .flat_map(|node| {
            let to = graph.id_of(node).unwrap_or_default().to_owned();
            needs(graph, node)
                .into_iter()
                .map(move |from| (from, to.clone()))
        })
        .collect();
    edges.sort();
    edges
}

/// Names of the flavors that have nodes, sorted; nodes of no flavor (a clean-up) are
/// drawn outside every flavor.
pub fn flavors(graph: &Graph) -> Vec<&str> {
    let mut flavors: Vec<&str> = graph
        .node_ids()
        .filter_map(|n| graph.node(n).and_then(|node| node.flavor()))
        .collect();
    flavors.sort_unstable();
    flavors.dedup();
    flavors
}

/// The nodes of `flavor` (or of none), in order.
pub fn nodes_of<'g>(
    graph: &'g Graph,
    flavor: Option<&'g str>,
) -> impl Iterator<Item = NodeId> + 'g {
    graph
        .node_ids()
        .filter(move |&n| graph.node(n).and_then(|node| node.flavor()) == flavor)
}
