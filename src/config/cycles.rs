//! Dependency cycles between the steps of a flavor, shown whole, step by step.

use std::collections::{BTreeSet, HashMap};

use miette::LabeledSpan;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::error::{ConfigError, Note};
use crate::model::Sources;
use crate::model::{Flavor, Loc};

/// The most edges of one cycle a diagnostic labels.
const MAX_CYCLE_EDGES: usize = 12;

pub fn check(flavors: &[Flavor], sources: &Sources, errors: &mut Vec<ConfigError>) {
    for flavor in flavors {
        let mut graph: DiGraph<usize, Loc> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..flavor.steps.len()).map(|i| graph.add_node(i)).collect();
        let index: HashMap<&str, usize> = flavor
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        for (i, step) in flavor.steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(&j) = index.get(need.as_str()) {
                    graph.add_edge(nodes[i], nodes[j], need.loc);
                }
            }
        }
        for component in tarjan_scc(&graph) {
            let cyclic = component.len() > 1 || graph.contains_edge(component[0], component[0]);
            if !cyclic {
                continue;
            }
            // A cycle made only of inherited steps is its base flavor's to report.
            let members: BTreeSet<usize> = component.iter().map(|n| graph[*n]).collect();
            if members
                .iter()
                .all(|&i| flavor.steps[i].declared_in != flavor.name.value)
            {
                continue;
            }
            errors.push(report(flavor, &graph, &nodes, &index, &members, sources));
        }
    }
}

/// Walks one cycle inside the strongly connected `members`, starting from the first
/// step in declaration order, and turns it into a diagnostic.
fn report(
    flavor: &Flavor,
    graph: &DiGraph<usize, Loc>,
    nodes: &[NodeIndex],
    index: &HashMap<&str, usize>,
    members: &BTreeSet<usize>,
    sources: &Sources,
) -> ConfigError {
    let start = *members.iter().next().expect("a cycle has members");
    let mut path = vec![start];
    // Where each step is on `path`, so that the walk stays linear in the cycle's length.
    let mut position: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut edges: Vec<Loc> = Vec::new();
    let mut current = start;
    loop {
        // Follow the first edge (in declaration order) that stays inside the cycle and
        // either closes it or reaches a step not yet on the path.
        let mut next = None;
        for need in &flavor.steps[current].needs {
            let Some(&j) = index.get(need.as_str()) else {
                continue;
            };
            if !members.contains(&j) {
                continue;
            }
            if j == start || !position.contains_key(&j) {
                next = Some((j, need.loc));
                break;
            }
        }
        let Some((j, loc)) = next.or_else(|| {
            // Only edges back into the middle of the path: cut the path there.
            graph
                .edges(nodes[current])
                .find(|e| members.contains(&graph[petgraph::visit::EdgeRef::target(e)]))
                .map(|e| (graph[petgraph::visit::EdgeRef::target(&e)], *e.weight()))
        }) else {
            break;
        };
        edges.push(loc);
        if j == start {
            path.push(j);
            break;
        }
        if let Some(&pos) = position.get(&j) {
            path.drain(..pos);
            edges.drain(..pos);
            path.push(j);
            break;
        }
        position.insert(j, path.len());
        path.push(j);
        current = j;
    }
    let names: Vec<&str> = path
        .iter()
        .map(|&i| flavor.steps[i].name.as_str())
        .collect();
    let main = edges[0].source;
    let mut labels = Vec::new();
    let mut elsewhere = Vec::new();
    // A long cycle shows its first edges and the one that closes it: each label costs
    // a pass over its file when the diagnostic is drawn.
    let shown = |k: usize| k + 1 < MAX_CYCLE_EDGES || k + 1 == edges.len();
    for (k, loc) in edges.iter().enumerate().filter(|(k, _)| shown(*k)) {
        let text = format!("{}. `{}` needs `{}`", k + 1, names[k], names[k + 1]);
        if loc.source == main {
            labels.push(LabeledSpan::at(loc.span, text));
        } else {
            elsewhere.push(Note {
                message: text,
                src: sources.named(loc.source),
                span: loc.span,
            });
        }
    }
    ConfigError::Cycle {
        src: sources.named(main),
        edges: labels,
        path: if edges.len() > MAX_CYCLE_EDGES {
            format!(
                "{} → … {} more steps … → {}",
                names[..MAX_CYCLE_EDGES].join(" → "),
                names.len() - 2 - MAX_CYCLE_EDGES,
                names[names.len() - 2..].join(" → ")
            )
        } else {
            names.join(" → ")
        },
        help: format!(
            "steps of flavor `{}` must not need themselves, directly or through others; remove one of these `needs`",
            flavor.name.value
        ),
        elsewhere,
    }
}
