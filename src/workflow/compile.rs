//! A workflow, with its parameters' values, as a [`WorkPlan`].

use std::collections::BTreeMap;

use super::error::WorkflowError;
use super::params::fill;
use crate::model::{TaskKind, Workflow, Workspace};
use crate::plan::{self, Selection};
use crate::work::WorkPlan;

/// Every task's flavors and goals, resolved: a step that several tasks need appears in
/// each list but becomes one node of the graph.
pub fn compile(
    workspace: &Workspace,
    workflow: &Workflow,
    values: &BTreeMap<String, String>,
) -> Result<WorkPlan, WorkflowError> {
    let mut work = WorkPlan::default();
    for task in &workflow.tasks {
        let flavor = fill(&task.flavor.value, values);
        let goal = task.kind.goal().map(|g| fill(&g.value, values));
        let targets = || -> Result<Vec<(String, String)>, WorkflowError> {
            let selection = Selection {
                flavors: vec![flavor.clone()],
                goals: goal.clone().into_iter().collect(),
                all_steps: false,
            };
            Ok(plan::targets(workspace, &selection)?
                .into_iter()
                .flat_map(|(f, steps)| {
                    steps
                        .into_iter()
                        .map(move |s| (f.name.value.clone(), s.to_owned()))
                })
                .collect())
        };
        match &task.kind {
            TaskKind::Build { .. } => work.build.extend(targets()?),
            TaskKind::Save { .. } => work.save.extend(targets()?),
            TaskKind::Push { .. } => work.push.extend(targets()?),
            TaskKind::Export { dir, .. } => work
                .export
                .extend(targets()?.into_iter().map(|(f, s)| (f, s, dir.clone()))),
            TaskKind::Check { name } => {
                let name = name.as_ref().map(|n| fill(&n.value, values));
                let flavors = plan::flavors(workspace, std::slice::from_ref(&flavor))?;
                let before = work.checks.len();
                for f in &flavors {
                    for check in &f.checks {
                        if name.as_ref().is_none_or(|n| n == &check.name.value) {
                            work.checks
                                .push((f.name.value.clone(), check.name.value.clone()));
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
                work.clean.get_or_insert_with(Vec::new).extend(names);
            }
            TaskKind::Report(outputs) => work.reports.push(outputs.clone()),
        }
    }
    for list in [
        &mut work.build,
        &mut work.save,
        &mut work.push,
        &mut work.checks,
    ] {
        dedup(list);
    }
    work.export.sort();
    work.export.dedup();
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

fn dedup<T: Ord>(list: &mut Vec<T>) {
    list.sort();
    list.dedup();
}
