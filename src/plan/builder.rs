//! The one builder: a [`Plan`] and the workspace become the [`Graph`] the engine runs
//! and `kiln graph` draws. Each step appears once however many tasks need it; saves,
//! pushes and exports wait for their step; a check's discovery waits for nothing (its
//! entities wait for their environments); a clean-up waits for everything else.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use crate::engine::{NodeId, RunGraph};
use crate::model::{StepId, Workspace};

use super::error::PlanError;
use super::node::Node;
use super::work::{Force, Plan};

/// The graph of a run: one node type for every kind of work.
pub type Graph = RunGraph<Node>;

/// Compiles `plan`. Nodes are added in a topological order, ties broken by id, so the
/// graph (and `kiln graph`'s output) is the same every time, and ready nodes start in
/// that order. Fails on a `--force-rebuild-from` step no planned step has (a typo
/// would otherwise force nothing, silently).
pub fn build(workspace: &Workspace, plan: &Plan) -> Result<Graph, PlanError> {
    let wanted: HashSet<StepId> = wanted_steps(workspace, plan).into_iter().collect();
    let needs = step_closure(workspace, &wanted.iter().cloned().collect::<Vec<_>>());
    let order = topological(&needs);
    let forced = forced(&order, &needs, &plan.force)?;
    let mut graph = Graph::new();
    let mut steps: HashMap<&StepId, NodeId> = HashMap::with_capacity(order.len());
    for step in &order {
        let node = graph.add(Node::Step {
            step: step.clone(),
            forced: forced.contains(step),
            wanted: wanted.contains(step),
        });
        for need in &needs[step] {
            // Every step's needs come before it in `order`: the edge ascends.
            graph
                .depend(node, steps[need])
                .expect("needs are added before their dependents");
        }
        steps.insert(step, node);
    }
    let after_step = |graph: &mut Graph, node: Node, step: &StepId| {
        let id = graph.add(node);
        if let Some(&build) = steps.get(step) {
            graph.depend(id, build).expect("both exist");
        }
    };
    for step in &plan.save {
        after_step(&mut graph, Node::Save(step.clone()), step);
    }
    for step in &plan.push {
        after_step(&mut graph, Node::Push(step.clone()), step);
    }
    for (step, dir) in &plan.export {
        let node = Node::Export {
            step: step.clone(),
            dir: dir.clone(),
        };
        after_step(&mut graph, node, step);
    }
    for check in &plan.checks {
        graph.add(Node::Discover(check.clone()));
    }
    if let Some(scope) = &plan.clean {
        let before: Vec<NodeId> = graph.node_ids().collect();
        let clean = graph.add(Node::Clean(scope.clone()));
        for node in before {
            graph.depend(clean, node).expect("both exist");
        }
    }
    Ok(graph)
}

/// Every step of the plan's graph, what the wanted steps need included, in the order
/// the graph has them (`--save` and `--push` write every image).
pub fn all_steps(workspace: &Workspace, plan: &Plan) -> Vec<StepId> {
    topological(&step_closure(workspace, &wanted_steps(workspace, plan)))
}

/// Every step whose image the plan needs directly: build, save, push and export
/// targets and the environments of its checks.
pub fn wanted_steps(workspace: &Workspace, plan: &Plan) -> Vec<StepId> {
    let mut wanted: Vec<StepId> = plan.build.clone();
    wanted.extend(plan.save.iter().cloned());
    wanted.extend(plan.push.iter().cloned());
    wanted.extend(plan.export.iter().map(|(step, _)| step.clone()));
    for check in &plan.checks {
        if let Some(declaration) = workspace.find_check(check) {
            wanted.extend(crate::check::environments(&check.flavor, declaration));
        }
    }
    wanted
}

/// `steps` and everything they need, each with its needs sorted by id. Steps the
/// workspace does not declare are left out (the configuration was validated).
fn step_closure(workspace: &Workspace, steps: &[StepId]) -> BTreeMap<StepId, Vec<StepId>> {
    let mut needs: BTreeMap<StepId, Vec<StepId>> = BTreeMap::new();
    let mut stack: Vec<StepId> = steps.to_vec();
    while let Some(step) = stack.pop() {
        if needs.contains_key(&step) {
            continue;
        }
        let Some(declared) = workspace.find_step(&step) else {
            continue;
        };
        let mut direct: Vec<StepId> = declared
            .needs
            .iter()
            .map(|need| StepId::new(step.flavor.clone(), need.value.clone()))
            .filter(|need| workspace.find_step(need).is_some())
            .collect();
        direct.sort_by_cached_key(ToString::to_string);
        direct.dedup();
        stack.extend(direct.iter().cloned());
        needs.insert(step, direct);
    }
    needs
}

/// Kahn's algorithm, the ready step with the smallest id first.
fn topological(needs: &BTreeMap<StepId, Vec<StepId>>) -> Vec<StepId> {
    let mut waiting: HashMap<&StepId, usize> = needs.iter().map(|(s, n)| (s, n.len())).collect();
    let mut dependents: HashMap<&StepId, Vec<&StepId>> = HashMap::new();
    for (step, direct) in needs {
        for need in direct {
            dependents.entry(need).or_default().push(step);
        }
    }
    let mut ready: BinaryHeap<Reverse<(String, &StepId)>> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| Reverse((s.to_string(), *s)))
        .collect();
    let mut order = Vec::with_capacity(needs.len());
    while let Some(Reverse((_, step))) = ready.pop() {
        order.push(step.clone());
        for &dependent in dependents.get(step).into_iter().flatten() {
            let count = waiting.get_mut(dependent).expect("every step is counted");
            *count -= 1;
            if *count == 0 {
                ready.push(Reverse((dependent.to_string(), dependent)));
            }
        }
    }
    order
}

/// The steps forced to build: all with `--force-rebuild`, else the steps named by
/// `--force-rebuild-from` and everything depending on them.
fn forced(
    order: &[StepId],
    needs: &BTreeMap<StepId, Vec<StepId>>,
    force: &Force,
) -> Result<HashSet<StepId>, PlanError> {
    let mut names: Vec<&str> = order.iter().map(|s| s.step.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if let Some(unknown) = force.from.iter().find(|s| !names.contains(&s.as_str())) {
        return Err(PlanError::UnknownStep {
            step: unknown.clone(),
            help: crate::config::suggest_help(unknown, &names, "planned steps"),
        });
    }
    let mut forced = HashSet::new();
    for step in order {
        if force.all
            || force.from.contains(&step.step)
            || needs[step].iter().any(|need| forced.contains(need))
        {
            forced.insert(step.clone());
        }
    }
    Ok(forced)
}
