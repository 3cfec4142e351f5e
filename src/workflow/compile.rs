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
                for f in plan::flavors(workspace, std::slice::from_ref(&flavor))? {
                    for check in &f.checks {
                        if name.as_ref().is_none_or(|n| n == &check.name.value) {
                            work.checks
                                .push((f.name.value.clone(), check.name.value.clone()));
                        }
                    }
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

fn dedup<T: Ord>(list: &mut Vec<T>) {
    list.sort();
    list.dedup();
}
