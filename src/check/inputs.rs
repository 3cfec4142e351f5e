//! What an entity's result depends on, read in one place ([`of_entity`]) for the run
//! that looks the result up, `kiln plan --checks`, watch mode, and `kiln explain`, which
//! compares it with the inputs recorded beside an earlier result: the check, the
//! entity's key, its folder's files and those its check's `inputs` name (as manifests,
//! so a change can be named file by file), the environment image, the check's
//! declaration and the user.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::cache::{CACHE_KEY_VERSION, KeyInputs, cache_key};
use super::entity::Entity;
use super::error::CheckError;
use crate::hash::{self, ContextSpec, Manifest, StepInputs};
use crate::model::{Check, EntityId, Workspace};

/// An entity's inputs, as recorded beside its cached result (`<key>.inputs.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityInputs {
    /// [`CACHE_KEY_VERSION`] when they were read.
    pub format: u32,
    /// `<flavor>/<check>`.
    pub check: String,
    pub entity: String,
    /// The entity folder's files (artifacts and kiln's own folders left out).
    pub folder: Manifest,
    /// Files outside the folder the check's `inputs` name for it (paths relative to
    /// the workspace); `None` when the check declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Manifest>,
    pub environment: EnvironmentImage,
    /// The check's declaration as the key hashes it ([`declaration`]).
    pub declaration: String,
    /// `uid:gid` the command runs as.
    pub user: String,
    /// When they were recorded (RFC 3339, UTC); empty until then.
    #[serde(default)]
    pub recorded: String,
}

/// The environment image an entity runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentImage {
    /// `flavor/step`.
    pub step: String,
    /// Its image name (`repo:tag`).
    pub image: String,
    /// The daemon's image id.
    pub image_id: String,
    /// The step hash its `io.kiln.hash` label carries.
    pub hash: Option<String>,
}

impl EnvironmentImage {
    /// What the key holds of the environment: its step hash, which depends on content
    /// only; the image id of an image without kiln's hash label.
    pub fn identity(&self) -> &str {
        self.hash.as_deref().unwrap_or(&self.image_id)
    }
}

impl EntityInputs {
    /// The result-cache key of these inputs.
    pub fn key(&self) -> String {
        cache_key(&KeyInputs {
            check: &self.check,
            entity: &self.entity,
            entity_hash: &self.folder.hash,
            extra: self.extra.as_ref().map_or("", |m| m.hash.as_str()),
            environment: self.environment.identity(),
            declaration: &self.declaration,
            user: &self.user,
        })
    }
}

/// The inputs of `entity`, of check `id.check` (declared as `check`), as they are now
/// (blocking: hashes its folder and the files its `inputs` name), in `environment`, as
/// `user`: what a run, a plan, `kiln explain` and watch mode read alike.
pub fn of_entity(
    workspace: &Workspace,
    id: &EntityId,
    check: &Check,
    entity: &Entity,
    environment: EnvironmentImage,
    user: String,
    cancel: &CancellationToken,
) -> Result<EntityInputs, CheckError> {
    let root = &workspace.root;
    let skip = workspace.settings.own_dirs();
    let globs = super::template::input_globs(root, id, entity, check)?;
    let extra = if globs.is_empty() {
        None
    } else {
        Some(extra_manifest(root, &globs, &entity.key, &skip, cancel)?)
    };
    let artifacts = check.artifacts.iter().map(|a| a.value.clone()).collect();
    Ok(EntityInputs {
        format: CACHE_KEY_VERSION,
        check: id.check.to_string(),
        entity: entity.key.clone(),
        folder: folder_manifest(&entity.folder, artifacts, skip, cancel)?,
        extra,
        environment,
        declaration: declaration(root, check),
        user,
        recorded: String::new(),
    })
}

/// What of a check's declaration changes results: the command, env, mounts, workdir,
/// timeout and exit-code mapping, as canonical JSON. A mount from inside the workspace
/// (at `root`) is named relative to it, so two checkouts at different paths declare
/// alike.
pub fn declaration(root: &Path, check: &Check) -> String {
    #[derive(Serialize)]
    struct Declaration<'a> {
        run: Vec<&'a str>,
        env: Vec<(&'a str, &'a str)>,
        mounts: Vec<(String, &'a str, bool)>,
        workdir: Option<&'a str>,
        timeout_ms: Option<u128>,
        success: &'a [u8],
        inaccurate: &'a [u8],
    }
    let declaration = Declaration {
        run: check.run.iter().map(|r| r.value.as_str()).collect(),
        env: check
            .env
            .iter()
            .map(|(k, v)| (k.value.as_str(), v.as_str()))
            .collect(),
        mounts: check
            .mounts
            .iter()
            .map(|m| {
                (
                    crate::model::display_path(root, &m.source.value),
                    m.target.value.as_str(),
                    m.readonly,
                )
            })
            .collect(),
        workdir: check.workdir.as_ref().map(|w| w.value.as_str()),
        timeout_ms: check.timeout.as_ref().map(|t| t.value.as_millis()),
        success: &check.outcome.success,
        inaccurate: &check.outcome.inaccurate,
    };
    serde_json::to_string(&declaration).unwrap_or_default()
}

/// The fields of two declarations ([`declaration`]) that differ, by name (`run`,
/// `timeout_ms` …); every field when one does not parse.
pub fn declaration_changes(before: &str, now: &str) -> Vec<String> {
    let parse =
        |text: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    match (parse(before), parse(now)) {
        (Ok(before), Ok(now)) => {
            let mut names: Vec<&String> = before.keys().chain(now.keys()).collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .filter(|name| before.get(*name) != now.get(*name))
                .cloned()
                .collect()
        }
        _ if before == now => Vec::new(),
        _ => vec!["the whole declaration".to_owned()],
    }
}

/// The manifest of the files the `globs` of an entity's `inputs` match under `root`
/// (paths relative to it, contents, exec bits).
fn extra_manifest(
    root: &Path,
    globs: &[String],
    entity: &str,
    skip: &[PathBuf],
    cancel: &CancellationToken,
) -> Result<Manifest, CheckError> {
    let mut includes = Vec::new();
    for glob in globs {
        for file in super::entity::glob_files(root, glob, entity)? {
            if skip.iter().any(|s| file.starts_with(s)) {
                continue;
            }
            if let Ok(relative) = file.strip_prefix(root) {
                let relative = relative.to_string_lossy().replace('\\', "/");
                includes.push((file.clone(), relative));
            }
        }
    }
    includes.sort();
    includes.dedup();
    let spec = ContextSpec {
        context: None,
        includes,
        ignore: Vec::new(),
        skip: skip.to_vec(),
    };
    manifest_of(&spec, root, entity, cancel)
}

/// The manifest of an entity's folder (paths, contents, exec bits), leaving out the
/// artifacts a check writes there and kiln's own folders (`skip`); stops soon after
/// `cancel` trips, as a build context's hashing does.
fn folder_manifest(
    folder: &Path,
    ignore: Vec<String>,
    skip: Vec<PathBuf>,
    cancel: &CancellationToken,
) -> Result<Manifest, CheckError> {
    let spec = ContextSpec {
        context: Some(folder.to_owned()),
        includes: Vec::new(),
        ignore,
        skip,
    };
    manifest_of(&spec, folder, &folder.display().to_string(), cancel)
}

/// The manifest of the files `spec` names, hashed as a step context is (`shown` names
/// what is hashed in an error, `entity` the entity an interrupt stopped).
fn manifest_of(
    spec: &ContextSpec,
    shown: &Path,
    entity: &str,
    cancel: &CancellationToken,
) -> Result<Manifest, CheckError> {
    let context = hash::collect_until(spec, cancel).map_err(|source| match source {
        hash::HashError::Cancelled => CheckError::Cancelled {
            entity: entity.to_owned(),
        },
        source => CheckError::EntityHash {
            path: shown.display().to_string(),
            source,
        },
    })?;
    Ok(hash::step_hash(&StepInputs {
        bases: Vec::new(),
        dockerfile: b"",
        args: Vec::new(),
        dependencies: Vec::new(),
        context: &context,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_changes_name_the_fields_that_differ() {
        let before = r#"{"run":["a"],"env":[],"timeout_ms":5000}"#;
        let now = r#"{"run":["b"],"env":[],"timeout_ms":null}"#;
        assert_eq!(declaration_changes(before, now), ["run", "timeout_ms"]);
        assert!(declaration_changes(before, before).is_empty());
        assert_eq!(
            declaration_changes("not json", now),
            ["the whole declaration"]
        );
    }
}
