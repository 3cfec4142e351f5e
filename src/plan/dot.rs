//! `kiln graph --format dot`: Graphviz, one cluster per flavor.

use std::fmt::Write;

use super::builder::Graph;
use super::shape::{edges, flavors, nodes_of};

pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph kiln {\n    rankdir=LR;\n    node [shape=box];\n");
    let node_line = |out: &mut String, indent: &str, n| {
        let id = graph.id_of(n).unwrap_or_default();
        let label = graph.node(n).map(|node| node.label()).unwrap_or_default();
        let _ = writeln!(out, "{indent}{} [label={}];", quote(id), quote(&label));
    };
    for flavor in flavors(graph) {
        let _ = writeln!(
            out,
            "    subgraph {} {{",
            quote(&format!("cluster_{flavor}"))
        );
        let _ = writeln!(out, "        label={};", quote(flavor));
        for n in nodes_of(graph, Some(flavor)) {
            node_line(&mut out, "        ", n);
        }
        out.push_str("    }\n");
    }
    for n in nodes_of(graph, None) {
        node_line(&mut out, "    ", n);
    }
    for (from, to) in edges(graph) {
        let _ = writeln!(out, "    {} -> {};", quote(&from), quote(&to));
    }
    out.push_str("}\n");
    out
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
