//! `kiln graph --format dot`: Graphviz, one cluster per flavor.

use std::fmt::Write;

use super::graph::Graph;

pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph kiln {\n    rankdir=LR;\n    node [shape=box];\n");
    let order = graph.ordered();
    let flavors = graph.flavors();
    for flavor in flavors {
        let _ = writeln!(
            out,
            "    subgraph {} {{",
            quote(&format!("cluster_{flavor}"))
        );
        let _ = writeln!(out, "        label={};", quote(flavor));
        for &i in order.iter().filter(|&&i| graph.dag[i].flavor == flavor) {
            let node = &graph.dag[i];
            let _ = writeln!(
                out,
                "        {} [label={}];",
                quote(&node.id()),
                quote(&node.step)
            );
        }
        out.push_str("    }\n");
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "    {} -> {};", quote(&from), quote(&to));
    }
    out.push_str("}\n");
    out
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
