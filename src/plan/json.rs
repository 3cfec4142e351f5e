//! `kiln graph --format json`: a stable, versioned description of the graph.
//!
//! ```json
//! { "format": 1,
//!   "nodes": [ { "id": "slc/release", "kind": "build", "flavor": "slc",
//!                "step": "release", "needs": ["slc/build_run", …] } ],
//!   "edges": [ { "from": "slc/build_run", "to": "slc/release" } ] }
//! ```
//! Nodes come in topological order (ties by id), `needs` and `edges` sorted by id.
//! Fields are only ever added; a change to existing ones raises `format`.

use serde::Serialize;

use super::graph::{Graph, NodeKind};

/// Version of the JSON layout.
pub const GRAPH_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonGraph<'a> {
    format: u32,
    nodes: Vec<JsonNode<'a>>,
    edges: Vec<JsonEdge>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    id: String,
    kind: NodeKind,
    flavor: &'a str,
    step: &'a str,
    needs: Vec<String>,
}

#[derive(Serialize)]
struct JsonEdge {
    from: String,
    to: String,
}

pub fn to_json(graph: &Graph) -> String {
    let nodes = graph
        .ordered()
        .into_iter()
        .map(|i| {
            let node = &graph.dag[i];
            JsonNode {
                id: node.id(),
                kind: node.kind,
                flavor: &node.flavor,
                step: &node.step,
                needs: graph.needs(i),
            }
        })
        .collect();
    let edges = graph
        .edges()
        .into_iter()
        .map(|(from, to)| JsonEdge { from, to })
        .collect();
    let doc = JsonGraph {
        format: GRAPH_FORMAT_VERSION,
        nodes,
        edges,
    };
    serde_json::to_string_pretty(&doc).expect("graph serializes") + "\n"
}
