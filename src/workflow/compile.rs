//! A workflow, with its parameters' values, as a [`Plan`].

use std::collections::BTreeMap;

use super::error::WorkflowError;
use super::params::fill;
use crate::model::{CheckId, StepId, TaskKind, Workflow, Workspace};
use crate::plan::{self, CleanScope, Plan, Selection};

/// Every task's flavors and goals, resolved: a step that several tasks need appears in
/// each list but becomes one node of the graph.
pub fn compile(
    workspace: &Workspace,
    workflow: &Workflow,
    values: &BTreeMap<String, String>,
) -> Result<Plan, WorkflowError> {
    let mut work = Plan::default();
    for task in &workflow.tasks {
        let flavor = fill(&task.flavor.value, values);
        let goal = task.kind.goal().map(|g| fill(&g.value, values));
        let targets = || -> Result<Vec<StepId>, WorkflowError> {
            let selection = Selection {
                flavors: vec![flavor.clone()],
                goals: goal.clone().into_iter().collect(),
                all_steps: false,
            };
            Ok(plan::step_targets(workspace, &selection)?)
        };
        match &task.kind {
            TaskKind::Build { .. } => work.build.extend(targets()?),
            TaskKind::Save { .. } => work.save.extend(targets()?),
            TaskKind::Push { .. } => work.push.extend(targets()?),
            TaskKind::Export { dir, .. } => work
                .export
                .extend(targets()?.into_iter().map(|s| (s, dir.clone()))),
            TaskKind::Check { name } => {
                let name = name.as_ref().map(|n| fill(&n.value, values));
                let flavors = plan::flavors(workspace, std::slice::from_ref(&flavor))?;
                let before = work.checks.len();
                for f in &flavors {
                    for check in &f.checks {
                        if name.as_ref().is_none_or(|n| n == &check.name.value) {
                            work.checks
                                .push(CheckId::new(f.name.value.clone(), check.name.value.clone()));
                        }
                    }
                }
                if work.checks.len() == before {
                    return Err(no_check(workflow, &flavor, name.as_deref(), &flavors));
                }
            }
            TaskKind::Clean => {
                let names = plan::flavors(workspace, std::slice::from_ref(&flavor))?
                    .into_iter()
                    .map(|f| f.name.value.clone());
                match work
                    .clean
                    .get_or_insert_with(|| CleanScope::Flavors(Vec::new()))
                {
                    CleanScope::Flavors(flavors) => {
                        flavors.extend(names);
                        flavors.sort();
                        flavors.dedup();
                    }
                    CleanScope::All => {}
                }
            }
            TaskKind::Report(outputs) => work.reports.push(outputs.clone()),
        }
    }
    work.normalize();
    Ok(work)
}

/// A check task whose flavors (as its parameters made them) have no such check: an
/// error, not a run that checks nothing and passes.
fn no_check(
    workflow: &Workflow,
    flavor: &str,
    name: Option<&str>,
    flavors: &[&crate::model::Flavor],
) -> WorkflowError {
    let what = match name {
        Some(name) => format!("no flavor matching `{flavor}` has a check `{name}`"),
        None => format!("no flavor matching `{flavor}` has checks"),
    };
    let available: Vec<String> = flavors
        .iter()
        .flat_map(|f| {
            f.checks
                .iter()
                .map(move |c| format!("`{}` ({})", c.name.value, f.name.value))
        })
        .collect();
    let mut help = if available.is_empty() {
        "choose a flavor that declares a `check` block".to_owned()
    } else {
        format!("checks of the matching flavors: {}", available.join(", "))
    };
    if !workflow.params.is_empty() {
        help.push_str("; the task's flavor and name may come from parameters (--set)");
    }
    WorkflowError::NoCheck {
        workflow: workflow.name.value.clone(),
        what,
        help,
    }
}
