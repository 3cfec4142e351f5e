//! `kiln graph --format mermaid`: a Mermaid flowchart, one subgraph per flavor.

use std::collections::HashMap;
use std::fmt::Write;

use super::graph::Graph;

pub fn to_mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let order = graph.ordered();
    // Mermaid ids must be plain words: number nodes in output order.
    let ids: HashMap<String, String> = order
        .iter()
        .enumerate()
        .map(|(n, &i)| (graph.dag[i].id(), format!("n{n}")))
        .collect();
    let flavors = graph.flavors();
    for (n, flavor) in flavors.into_iter().enumerate() {
        let _ = writeln!(out, "    subgraph f{n}[\"{flavor}\"]");
        for &i in order.iter().filter(|&&i| graph.dag[i].flavor == flavor) {
            let node = &graph.dag[i];
            let _ = writeln!(out, "        {}[\"{}\"]", ids[&node.id()], node.step);
        }
        out.push_str("    end\n");
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "    {} --> {}", ids[&from], ids[&to]);
    }
    out
}
