//! What a watch cycle compares: the hash of every step the workflow needs and of every
//! entity it checks. Saving a file without changing its content changes none of them,
//! so nothing reruns.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use crate::build::analyze;
use crate::check::inputs::{EnvironmentImage, declaration, of_entity};
use crate::check::{discover, environment_of};
use crate::model::{EntityId, Workspace};
use crate::plan::{self, Plan};

/// Node id → hash (or the error computing it, so that fixing it counts as a change).
pub type State = BTreeMap<String, String>;

/// The state of `work` in `workspace` now.
pub fn state(workspace: &Workspace, work: &Plan) -> State {
    let mut state = State::new();
    state.insert("plan".to_owned(), work.fingerprint());
    for id in plan::all_steps(workspace, work) {
        let Some(step) = workspace.find_step(&id) else {
            state.insert(id.to_string(), "missing".to_owned());
            continue;
        };
        // The needs come earlier in the order: their hashes are known.
        let deps: Vec<(String, String)> = step
            .needs
            .iter()
            .map(|need| {
                let key = format!("{}/{}", id.flavor, need.value);
                (
                    need.value.clone(),
                    state.get(&key).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let hash = match analyze(
            workspace,
            &id.flavor,
            step,
            &deps,
            // Watch compares its own states: files, not base images, trigger a cycle
            // (a rebuilt base is seen by the cycle's build, which asks the daemon).
            &crate::build::Bases::default(),
            &CancellationToken::new(),
        ) {
            Ok(analysis) => analysis.hash,
            Err(e) => format!("error: {e}"),
        };
        state.insert(id.to_string(), hash);
    }
    for check in &work.checks {
        let Some(declared) = workspace.find_check(check) else {
            continue;
        };
        let flavor = &check.flavor;
        let id = check.to_string();
        state.insert(id.clone(), declaration(&workspace.root, declared));
        match discover(&workspace.root, declared) {
            Ok(entities) => {
                for entity in entities {
                    let environment = environment_of(flavor, declared, &entity);
                    // Its folder and the files outside it its `inputs` name, read as a
                    // run reads them; the environment counts by its step, whose hash is
                    // in the state on its own.
                    let entity_id = EntityId::new(check.clone(), entity.key.clone());
                    let image = EnvironmentImage {
                        step: environment.to_string(),
                        image: String::new(),
                        image_id: String::new(),
                        hash: None,
                    };
                    let hashes = of_entity(
                        workspace,
                        &entity_id,
                        declared,
                        &entity,
                        image,
                        String::new(),
                        &CancellationToken::new(),
                    )
                    .map_or_else(
                        |e| format!("error: {e}"),
                        |inputs| {
                            let extra = inputs.extra.map(|m| m.hash).unwrap_or_default();
                            format!("{} {extra}", inputs.folder.hash)
                        },
                    );
                    state.insert(
                        format!("{id}/{}", entity.key),
                        format!("{hashes} {environment}"),
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
