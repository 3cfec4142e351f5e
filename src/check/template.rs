//! The templates a check renders per entity — its `run` arguments and its `inputs`
//! globs — and the values they see: `entity.key`, `entity.dir` (inside the container),
//! `entity.host_dir`, `entity.path` and every metadata field.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::entity::Entity;
use super::error::CheckError;
use crate::docker::MountSpec;
use crate::model::EntityId;

/// Where the entity's folder is inside its container, through the first mount that
/// holds it; `None` when none does.
pub fn container_dir(entity: &Entity, mounts: &[MountSpec]) -> Option<String> {
    mounts.iter().find_map(|m| {
        let relative = entity.folder.strip_prefix(&m.host).ok()?;
        let inside = Path::new(&m.target).join(relative);
        Some(inside.to_string_lossy().into_owned())
    })
}

/// `entity.key`, `entity.dir` (inside the container, through the mounts),
/// `entity.host_dir`, `entity.metadata`, and every metadata field.
pub fn values(root: &Path, entity: &Entity, mounts: &[MountSpec]) -> Value {
    let mut map: BTreeMap<String, Value> = entity
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    let dir = container_dir(entity, mounts).unwrap_or_else(|| entity.folder.display().to_string());
    map.insert("key".to_owned(), Value::from(entity.key.clone()));
    map.insert("dir".to_owned(), Value::from(dir));
    map.insert(
        "host_dir".to_owned(),
        Value::from(entity.folder.display().to_string()),
    );
    map.insert(
        "path".to_owned(),
        Value::from(
            entity
                .folder
                .strip_prefix(root)
                .unwrap_or(&entity.folder)
                .display()
                .to_string(),
        ),
    );
    Value::from(BTreeMap::from([("entity".to_owned(), Value::from(map))]))
}

pub fn render(id: &EntityId, template: &str, values: &Value) -> Result<String, CheckError> {
    let mut env = Environment::new();
    env.set_fuel(Some(crate::build::TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.render_str(template, values)
        .map_err(|source| CheckError::Template {
            check: id.to_string(),
            template: template.to_owned(),
            source,
        })
}

/// The check's `inputs` globs rendered for `entity` (`entity.dir` is its folder
/// relative to the workspace there, as `entity.path`).
pub fn input_globs(
    root: &Path,
    id: &EntityId,
    entity: &Entity,
    check: &crate::model::Check,
) -> Result<Vec<String>, CheckError> {
    if check.inputs.is_empty() {
        return Ok(Vec::new());
    }
    let values = values(root, entity, &[]);
    check
        .inputs
        .iter()
        .map(|glob| render(id, &glob.value, &values))
        .collect()
}
