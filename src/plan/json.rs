//! `kiln graph --format json`: a stable, versioned description of the graph.
//!
//! ```json
//! { "format": 1,
//!   "nodes": [ { "id": "slc/release", "kind": "build", "flavor": "slc",
//!                "step": "release", "needs": ["slc/build_run", …] } ],
//!   "edges": [ { "from": "slc/build_run", "to": "slc/release" } ] }
//! ```
//! Nodes come in topological order (ties by id), `needs` and `edges` sorted by id. A
//! node of a check has `check` instead of `step`; a clean-up has neither. Fields are
//! only ever added; a change to existing ones raises `format`.

use serde::Serialize;

use super::builder::Graph;
use super::node::Node;
use super::shape::{edges, needs};

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
    id: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flavor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'a str>,
    needs: Vec<String>,
}

#[derive(Serialize)]
struct JsonEdge {
    from: String,
    to: String,
}

pub fn to_json(graph: &Graph) -> String {
    let nodes = graph
        .node_ids()
        .filter_map(|n| {
            let node = graph.node(n)?;
            let (step, check) = match node {
                Node::Step { step, .. }
                | Node::Save(step)
                | Node::Push(step)
                | Node::Export { step, .. } => (Some(step.step.as_str()), None),
                Node::Obtain(obtain) => (Some(obtain.step.step.as_str()), None),
                Node::Discover(check) | Node::Record(check) => (None, Some(check.check.as_str())),
                Node::Entity(task) => (None, Some(task.id.check.check.as_str())),
                Node::Clean(_) => (None, None),
            };
            Some(JsonNode {
                id: graph.id_of(n)?,
                kind: node.kind(),
                flavor: node.flavor(),
                step,
                check,
                needs: needs(graph, n),
            })
        })
        .collect();
    let edges = edges(graph)
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
