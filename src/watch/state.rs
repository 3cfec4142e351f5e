//! What a watch cycle compares: the hash of every step the workflow needs and of every
//! entity it checks. Saving a file without changing its content changes none of them,
//! so nothing reruns.

use std::collections::BTreeMap;

use crate::build::analyze;
use crate::check::runner::{declaration, entity_hash};
use crate::check::{discover, environment_of};
use crate::model::Workspace;
use crate::plan;
use crate::work::{WorkPlan, wanted_steps};

/// Node id → hash (or the error computing it, so that fixing it counts as a change).
pub type State = BTreeMap<String, String>;

/// The state of `work` in `workspace` now.
pub fn state(workspace: &Workspace, work: &WorkPlan) -> State {
    let mut state = State::new();
    state.insert("plan".to_owned(), format!("{work:?}"));
    let graph = plan::steps_graph(workspace, &wanted_steps(workspace, work));
    for index in graph.ordered() {
        let node = &graph.dag[index];
        let deps: Vec<(String, String)> = graph
            .parents(index)
            .into_iter()
            .map(|p| {
                let dep = &graph.dag[p];
                (
                    dep.step.clone(),
                    state.get(&dep.id()).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let hash = match workspace
            .flavor(&node.flavor)
            .and_then(|f| f.step(&node.step))
        {
            Some(step) => {
                match analyze(
                    &workspace.settings.repository,
                    &node.flavor,
                    step,
                    &deps,
                    workspace.settings.own_dirs(),
                ) {
                    Ok(analysis) => analysis.hash,
                    Err(e) => format!("error: {e}"),
                }
            }
            None => "missing".to_owned(),
        };
        state.insert(node.id(), hash);
    }
    for (flavor, check) in &work.checks {
        let Some(declared) = workspace.check(flavor, check) else {
            continue;
        };
        let id = format!("{flavor}/{check}");
        state.insert(id.clone(), declaration(declared));
        match discover(&workspace.root, declared) {
            Ok(entities) => {
                for entity in entities {
                    let ignore = declared.artifacts.iter().map(|a| a.value.clone()).collect();
                    let hash = entity_hash(&entity.folder, ignore, workspace.settings.own_dirs())
                        .unwrap_or_else(|e| format!("error: {e}"));
                    let environment = environment_of(flavor, declared, &entity);
                    state.insert(
                        format!("{id}/{}", entity.key),
                        format!("{hash} {environment}"),
                    );
                }
            }
            Err(e) => {
                state.insert(format!("{id}:discover"), format!("error: {e}"));
            }
        }
    }
    state
}

/// Ids whose hash differs between `old` and `new` (added and removed included).
pub fn changed(old: &State, new: &State) -> Vec<String> {
    let mut ids: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    ids.sort();
    ids.dedup();
    ids
}
