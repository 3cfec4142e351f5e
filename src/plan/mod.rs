//! Planning: the model plus what the user asked for becomes a dependency graph.

mod dot;
mod error;
mod graph;
mod json;
mod mermaid;
mod select;

pub use dot::to_dot;
pub use error::PlanError;
pub use graph::{Graph, Node, NodeKind};
pub use json::{GRAPH_FORMAT_VERSION, to_json};
pub use mermaid::to_mermaid;
pub use select::{Selection, flavors, goal_steps, targets};

use crate::model::{Flavor, Workspace};

/// The build graph of the selected goals: each goal's steps and everything they need.
pub fn build_graph(workspace: &Workspace, selection: &Selection) -> Result<Graph, PlanError> {
    let mut graph = Graph::default();
    for (flavor, steps) in targets(workspace, selection)? {
        for step in steps {
            add_step(&mut graph, flavor, step);
        }
    }
    Ok(graph)
}

/// The build graph of the given `(flavor, step)` pairs and everything they need — the
/// environment images of checks. Pairs naming no flavor or step are left out (the
/// configuration was validated, so there are none).
pub fn steps_graph(workspace: &Workspace, steps: &[(String, String)]) -> Graph {
    let mut graph = Graph::default();
    for (flavor, step) in steps {
        if let Some(flavor) = workspace.flavor(flavor)
            && flavor.step(step).is_some()
        {
            add_step(&mut graph, flavor, step);
        }
    }
    graph
}

/// Adds `step` of `flavor` and, recursively, what it needs.
fn add_step(graph: &mut Graph, flavor: &Flavor, step: &str) -> daggy::NodeIndex {
    if let Some(existing) = graph.find(&flavor.name, step) {
        return existing;
    }
    let node = graph.node(NodeKind::Build, &flavor.name, step);
    let needs = flavor
        .step(step)
        .map(|s| s.needs.clone())
        .unwrap_or_default();
    for need in needs {
        let dependency = add_step(graph, flavor, &need);
        graph.depend(node, dependency);
    }
    node
}
