//! `kiln graph --format mermaid`: a Mermaid flowchart, one subgraph per flavor.

use std::collections::HashMap;
use std::fmt::Write;

use super::builder::Graph;
use super::shape::{edges, flavors, nodes_of};

pub fn to_mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    // Mermaid ids must be plain words: number nodes in output order.
    let ids: HashMap<&str, String> = graph
        .node_ids()
        .enumerate()
        .map(|(n, node)| (graph.id_of(node).unwrap_or_default(), format!("n{n}")))
        .collect();
    let node_line = |out: &mut String, indent: &str, n| {
        let id = graph.id_of(n).unwrap_or_default();
        let label = graph.node(n).map(|node| node.label()).unwrap_or_default();
        let _ = writeln!(out, "{indent}{}[\"{label}\"]", ids[id]);
    };
    for (n, flavor) in flavors(graph).into_iter().enumerate() {
        let _ = writeln!(out, "    subgraph f{n}[\"{flavor}\"]");
        for node in nodes_of(graph, Some(flavor)) {
            node_line(&mut out, "        ", node);
        }
        out.push_str("    end\n");
    }
    for node in nodes_of(graph, None) {
        node_line(&mut out, "    ", node);
    }
    for (from, to) in edges(graph) {
        let _ = writeln!(out, "    {} --> {}", ids[from.as_str()], ids[to.as_str()]);
    }
    out
}
