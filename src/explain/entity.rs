//! `kiln explain` of an entity (`checkenv/entities/hello`): whether its result would
//! come from the result cache, and if not, what changed since the inputs recorded with
//! its newest cached result — which files of its folder, the environment image (a
//! changed environment step explained as `kiln explain` explains a step), the check's
//! declaration (which fields), the user.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::build::Bases;
use crate::check::cache::Results;
use crate::check::inputs::{self, EntityInputs, EnvironmentImage};
use crate::check::outcome::ResultClass;
use crate::check::{Entity, environment_of};
use crate::docker::Daemon;
use crate::hash::{Change, EntryKind, diff};
use crate::model::{Check, CheckId, StepId, Workspace, display_path};

use super::earlier::History;
use super::error::ExplainError;
use super::explanation::{Changed, Changes, short, write_changes};
use super::inputs::{Analyses, analyses};

/// What `kiln explain` says of an entity.
#[derive(Debug, Clone, Serialize)]
pub struct EntityExplanation {
    /// `flavor/check/key`.
    pub node: String,
    pub environment: EnvironmentNow,
    /// The result-cache key of the inputs now.
    pub key: String,
    /// The cached result a run would take; `None`: the entity would run.
    pub cached: Option<CachedResult>,
    /// Why it would run: what changed since the inputs of its newest cached result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<EntityChanges>,
}

/// The environment image the entity would run in.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentNow {
    /// `flavor/step`.
    pub step: String,
    pub image: String,
    /// The step's hash now.
    pub hash: String,
    /// The daemon's id of the image; `None`: not in the daemon (a run gets it first).
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CachedResult {
    pub key: String,
    pub class: ResultClass,
    /// When the result was produced.
    pub date: String,
}

/// What differs between the entity's inputs now and those of an earlier result.
#[derive(Debug, Clone, Serialize)]
pub struct EntityChanges {
    /// The earlier result compared with; `None` when the cache holds none of this
    /// entity (with inputs recorded).
    pub compared_with: Option<CachedResult>,
    /// Files of the entity's folder added, removed or changed.
    pub files: Vec<Changed>,
    /// Files outside the folder the check's `inputs` name, added, removed or changed
    /// (paths relative to the workspace).
    pub inputs: Vec<Changed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentChange>,
    /// Fields of the check's declaration that differ (`run`, `env`, `mounts`,
    /// `workdir`, `timeout_ms`, `success`, `inaccurate`).
    pub declaration: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Was>,
    /// The result-cache key format (a newer kiln keys results differently).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Was>,
}

impl EntityChanges {
    fn is_empty(&self) -> bool {
        self.files.is_empty()
            && self.inputs.is_empty()
            && self.environment.is_none()
            && self.declaration.is_empty()
            && self.user.is_none()
            && self.format.is_none()
    }
}

/// A value then and now.
#[derive(Debug, Clone, Serialize)]
pub struct Was {
    pub before: String,
    pub now: String,
}

/// The environment image differs.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentChange {
    /// `flavor/step`, then and now (an `environment` case may pick another step).
    pub step: Was,
    /// The step hashes (an image id where an old record has no hash).
    pub hash: Option<Was>,
    /// Why the step's hash changed, as `kiln explain STEP` says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Changes>,
}

/// Explains entity `key` of check `check`, as a run by `user` would see it.
pub async fn explain_entity(
    workspace: &Workspace,
    daemon: &Daemon,
    history: &History,
    bases: &Bases,
    check: &CheckId,
    entity: &Entity,
    user: String,
) -> Result<EntityExplanation, ExplainError> {
    let declared = workspace
        .find_check(check)
        .expect("the command line checked the check exists");
    let cancel = CancellationToken::new();
    let step = environment_of(&check.flavor, declared, entity);
    let mut done = Analyses::new();
    let analysis = analyses(workspace, &step, bases, &mut done, &cancel)?;
    let info = daemon.inspect(&analysis.image).await?;
    let environment = EnvironmentNow {
        step: step.to_string(),
        image: analysis.image.clone(),
        hash: analysis.hash.clone(),
        image_id: info.as_ref().map(|i| i.id.clone()),
    };
    let now = read_inputs(
        workspace,
        check,
        declared,
        entity,
        &environment,
        user,
        &cancel,
    )?;
    // This machine's result cache only: explaining asks no registry.
    let results = Results::new(&workspace.settings, false);
    let key = now.key();
    let cached = cached_result(&results, &key, &now).await;
    let changes = match cached {
        Some(_) => None,
        None => {
            let earlier = results
                .inputs_of(&now.check, &now.entity)
                .into_iter()
                .find(|(k, _)| *k != key);
            let compared_with = match &earlier {
                Some((key, _)) => cached_result(&results, key, &now).await,
                None => None,
            };
            Some(compare(
                workspace,
                history,
                &done,
                compared_with,
                entity,
                &now,
                earlier,
            ))
        }
    };
    Ok(EntityExplanation {
        node: format!("{check}/{}", entity.key),
        environment,
        key,
        cached,
        changes,
    })
}

fn read_inputs(
    workspace: &Workspace,
    check: &CheckId,
    declared: &Check,
    entity: &Entity,
    environment: &EnvironmentNow,
    user: String,
    cancel: &CancellationToken,
) -> Result<EntityInputs, ExplainError> {
    let id = crate::model::EntityId::new(check.clone(), entity.key.clone());
    let environment = EnvironmentImage {
        step: environment.step.clone(),
        image: environment.image.clone(),
        image_id: environment.image_id.clone().unwrap_or_default(),
        hash: Some(environment.hash.clone()),
    };
    Ok(inputs::of_entity(
        workspace,
        &id,
        declared,
        entity,
        environment,
        user,
        cancel,
    )?)
}

/// The result this machine's cache holds under `key`, of the entity `now` is of.
async fn cached_result(results: &Results, key: &str, now: &EntityInputs) -> Option<CachedResult> {
    let found = results
        .get(key, &now.check, &now.entity)
        .await
        .ok()
        .flatten()?;
    Some(CachedResult {
        key: key.to_owned(),
        class: found.result.class,
        date: found.result.date,
    })
}

/// What changed from the inputs of the earlier result to `now`.
fn compare(
    workspace: &Workspace,
    history: &History,
    done: &Analyses,
    compared_with: Option<CachedResult>,
    entity: &Entity,
    now: &EntityInputs,
    earlier: Option<(String, EntityInputs)>,
) -> EntityChanges {
    let Some((_, before)) = earlier else {
        return EntityChanges {
            compared_with: None,
            files: Vec::new(),
            inputs: Vec::new(),
            environment: None,
            declaration: Vec::new(),
            user: None,
            format: None,
        };
    };
    let files = diff(&before.folder, &now.folder)
        .into_iter()
        .filter(|change| change.kind() == EntryKind::File)
        .map(|change| {
            let source = (!matches!(change, Change::Removed { .. }))
                .then(|| display_path(&workspace.root, &entity.folder.join(change.name())));
            Changed {
                change,
                source,
                because: None,
            }
        })
        .collect();
    let empty = crate::hash::Manifest::new(0, Vec::new());
    let inputs = diff(
        before.extra.as_ref().unwrap_or(&empty),
        now.extra.as_ref().unwrap_or(&empty),
    )
    .into_iter()
    .filter(|change| change.kind() == EntryKind::File)
    .map(|change| Changed {
        source: (!matches!(change, Change::Removed { .. })).then(|| change.name().to_owned()),
        change,
        because: None,
    })
    .collect();
    let was = |before: &str, now: &str| {
        (before != now).then(|| Was {
            before: before.to_owned(),
            now: now.to_owned(),
        })
    };
    let environment = environment_change(workspace, history, done, &before, now);
    EntityChanges {
        compared_with,
        files,
        inputs,
        environment,
        declaration: inputs::declaration_changes(&before.declaration, &now.declaration),
        user: was(&before.user, &now.user),
        format: was(&before.format.to_string(), &now.format.to_string()),
    }
}

/// How the environment differs: another step, or another hash (explained as a step is).
fn environment_change(
    workspace: &Workspace,
    history: &History,
    done: &Analyses,
    before: &EntityInputs,
    now: &EntityInputs,
) -> Option<EnvironmentChange> {
    let (then, current) = (&before.environment, &now.environment);
    let step = Was {
        before: then.step.clone(),
        now: current.step.clone(),
    };
    if then.step != current.step {
        return Some(EnvironmentChange {
            step,
            hash: None,
            because: None,
        });
    }
    if then.identity() == current.identity() {
        return None;
    }
    let because = match (&then.hash, step_id(&current.step)) {
        (Some(old), Some(id)) => done.get(&id.step).map(|analysis| {
            let mut seen = BTreeSet::new();
            super::changes_of(
                workspace,
                history,
                done,
                &id,
                analysis,
                history.with_hash(&id.stem(), old),
                &mut seen,
            )
        }),
        _ => None,
    };
    Some(EnvironmentChange {
        step,
        hash: Some(Was {
            before: then.identity().to_owned(),
            now: current.identity().to_owned(),
        }),
        because,
    })
}

fn step_id(node: &str) -> Option<StepId> {
    let (flavor, step) = node.split_once('/')?;
    Some(StepId::new(flavor, step))
}

impl EntityExplanation {
    /// The explanation as a person reads it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let env = &self.environment;
        match &self.cached {
            Some(cached) => {
                let _ = writeln!(
                    out,
                    "{}: from the result cache ({}, produced {})",
                    self.node, cached.class, cached.date
                );
                let _ = writeln!(
                    out,
                    "  nothing changed: a result of these very inputs is cached (key {})",
                    short(&cached.key)
                );
            }
            None => {
                let _ = writeln!(out, "{}: would run", self.node);
            }
        }
        match &env.image_id {
            Some(_) => {
                let _ = writeln!(out, "  environment `{}`: {}", env.step, env.image);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  environment `{}`: {} is not in the daemon; a run gets it first (`kiln explain {}` says from where)",
                    env.step, env.image, env.step
                );
            }
        }
        if let Some(changes) = &self.changes {
            write_entity_changes(&mut out, changes);
        }
        out
    }
}

fn write_entity_changes(out: &mut String, changes: &EntityChanges) {
    let Some(compared) = &changes.compared_with else {
        let _ = writeln!(
            out,
            "  no earlier result of this entity is cached with its inputs: nothing to compare with"
        );
        return;
    };
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "  the same inputs as its result of {} (key {})",
            compared.date,
            short(&compared.key)
        );
        return;
    }
    let _ = writeln!(
        out,
        "  changed since its result of {} ({}, key {}):",
        compared.date,
        compared.class,
        short(&compared.key)
    );
    for changed in &changes.files {
        let _ = write!(out, "  - {}", changed.change);
        if let Some(source) = &changed.source {
            let _ = write!(out, " ({source})");
        }
        let _ = writeln!(out);
    }
    for changed in &changes.inputs {
        let _ = writeln!(out, "  - input: {}", changed.change);
    }
    if let Some(environment) = &changes.environment {
        match &environment.hash {
            _ if environment.step.before != environment.step.now => {
                let _ = writeln!(
                    out,
                    "  - environment: `{}` instead of `{}`",
                    environment.step.now, environment.step.before
                );
            }
            Some(hash) => {
                let _ = writeln!(
                    out,
                    "  - environment `{}` changed: {} → {}",
                    environment.step.now,
                    short(hash.before.trim_start_matches("sha256:")),
                    short(&hash.now)
                );
                if let Some(because) = &environment.because {
                    write_changes(out, because, 2);
                }
            }
            None => {}
        }
    }
    if !changes.declaration.is_empty() {
        let _ = writeln!(
            out,
            "  - the check's declaration: {}",
            changes.declaration.join(", ")
        );
    }
    if let Some(user) = &changes.user {
        let _ = writeln!(out, "  - user: {} → {}", user.before, user.now);
    }
    if let Some(format) = &changes.format {
        let _ = writeln!(
            out,
            "  - result-cache key format: {} → {}",
            format.before, format.now
        );
    }
}
