//! A [`WorkPlan`] as the engine's graph.

use std::collections::HashMap;

use crate::build::BuildNode;
use crate::engine::{NodeId, RunGraph};
use crate::model::Workspace;
use crate::plan;

use super::node::WorkNode;
use super::plan::WorkPlan;

/// The graph and where its build nodes are.
pub struct WorkGraph {
    pub graph: RunGraph<WorkNode>,
    /// The build node of each `flavor/step`.
    pub steps: HashMap<String, NodeId>,
}

/// Builds each step once, however many tasks need it; then saves, pushes and exports
/// after their step's build, checks after nothing (their entities wait for their
/// environments), reports after the builds and checks, and a clean-up after everything.
pub fn work_graph(workspace: &Workspace, work: &WorkPlan) -> WorkGraph {
    let wanted = wanted_steps(workspace, work);
    let planned = plan::steps_graph(workspace, &wanted);
    let mut graph = RunGraph::new();
    let mut ids = HashMap::new();
    let order = planned.ordered();
    for &index in &order {
        let node = &planned.dag[index];
        ids.insert(
            index,
            graph.add(WorkNode::Build(BuildNode::analyze(
                &node.flavor,
                &node.step,
            ))),
        );
    }
    for &index in &order {
        for parent in planned.parents(index) {
            graph
                .depend(ids[&index], ids[&parent])
                .expect("the planned graph is acyclic and holds both nodes");
        }
    }
    let steps: HashMap<String, NodeId> = order
        .iter()
        .map(|i| (planned.dag[*i].id(), ids[i]))
        .collect();
    let mut tasks = Vec::new();
    let add_after = |graph: &mut RunGraph<WorkNode>, node: WorkNode, flavor: &str, step: &str| {
        let id = graph.add(node);
        if let Some(&build) = steps.get(&format!("{flavor}/{step}")) {
            graph.depend(id, build).expect("both exist");
        }
        id
    };
    for (flavor, step) in &work.save {
        tasks.push(add_after(
            &mut graph,
            WorkNode::Save {
                flavor: flavor.clone(),
                step: step.clone(),
            },
            flavor,
            step,
        ));
    }
    for (flavor, step) in &work.push {
        tasks.push(add_after(
            &mut graph,
            WorkNode::Push {
                flavor: flavor.clone(),
                step: step.clone(),
            },
            flavor,
            step,
        ));
    }
    for (flavor, step, dir) in &work.export {
        let node = WorkNode::Export {
            flavor: flavor.clone(),
            step: step.clone(),
            dir: dir.clone(),
        };
        tasks.push(add_after(&mut graph, node, flavor, step));
    }
    let mut discoveries = Vec::new();
    for (flavor, check) in &work.checks {
        discoveries.push(graph.add(WorkNode::Discover {
            flavor: flavor.clone(),
            check: check.clone(),
        }));
    }
    for outputs in &work.reports {
        let report = graph.add(WorkNode::Report(outputs.clone()));
        for &dep in steps.values().chain(&discoveries) {
            graph.depend(report, dep).expect("both exist");
        }
        tasks.push(report);
    }
    if let Some(flavors) = &work.clean {
        let clean = graph.add(WorkNode::Clean(flavors.clone()));
        for &dep in steps.values().chain(&discoveries).chain(&tasks) {
            graph.depend(clean, dep).expect("both exist");
        }
    }
    WorkGraph { graph, steps }
}

/// Every (flavor, step) whose image the plan needs directly: build, save, push and
/// export targets and the environments of its checks.
pub fn wanted_steps(workspace: &Workspace, work: &WorkPlan) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = work.build.clone();
    wanted.extend(work.save.iter().cloned());
    wanted.extend(work.push.iter().cloned());
    wanted.extend(work.export.iter().map(|(f, s, _)| (f.clone(), s.clone())));
    for (flavor, check) in &work.checks {
        if let Some(declaration) = workspace.check(flavor, check) {
            wanted.extend(crate::check::environments(flavor, declaration));
        }
    }
    wanted
}
