//! Entity discovery: the metadata files a check's glob matches, read as YAML, JSON or KDL
//! by extension, filtered, each one an entity with a unique key.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use globset::GlobSet;

use super::error::{CheckError, MetadataError};
use crate::config::limits::{LimitError, MAX_METADATA_BYTES, MAX_NESTING, parse_kdl, read_limited};
use crate::model::Check;

/// One entity of a data repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub key: String,
    /// The folder holding the metadata file (absolute).
    pub folder: PathBuf,
    /// The metadata file (absolute).
    pub metadata: PathBuf,
    /// Scalar metadata fields, as strings.
    pub fields: BTreeMap<String, String>,
}

/// Folders never searched for entities.
const SKIPPED: &[&str] = &[".git", ".kiln", "target", "node_modules"];

/// The entities of `check` under `root`, sorted by key.
pub fn discover(root: &Path, check: &Check) -> Result<Vec<Entity>, CheckError> {
    let glob = check.entities.glob.value.as_str();
    let matcher = crate::config::glob::matcher(glob).map_err(|source| CheckError::EntityGlob {
        check: check.name.value.clone(),
        glob: glob.to_owned(),
        help: source.help(),
        source: Box::new(source),
    })?;
    // Walk from the glob's literal prefix, not the whole workspace.
    let start = walk_start(root, &literal_prefix(glob))
        .map_err(|escape| escape.error(root, check.name.value.clone(), "entity glob", glob))?;
    let mut files = Vec::new();
    walk(root, &start, &matcher, &mut files)?;
    files.sort();
    let mut excluded = globset::GlobSetBuilder::new();
    for pattern in &check.entities.exclude {
        let glob = crate::config::glob::parse(&pattern.value).map_err(|source| {
            CheckError::EntityGlob {
                check: check.name.value.clone(),
                glob: pattern.value.clone(),
                help: source.help(),
                source: Box::new(source),
            }
        })?;
        excluded.add(glob);
    }
    let excluded = excluded.build().unwrap_or_else(|_| GlobSet::empty());
    files.retain(|file| !excluded.is_match(file.strip_prefix(root).unwrap_or(file)));
    let mut entities: Vec<Entity> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let fields = read_metadata(&file)?;
        let key_field = check.entities.key.value.as_str();
        let shown = display(root, &file);
        if !check
            .filters
            .iter()
            .all(|f| fields.get(f.field.as_str()) == Some(&f.value.value))
        {
            continue;
        }
        let key = fields
            .get(key_field)
            .cloned()
            .ok_or_else(|| CheckError::MissingKey {
                path: shown.clone(),
                field: key_field.to_owned(),
            })?;
        if key.trim().is_empty() {
            let folder = Path::new(&shown)
                .parent()
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            return Err(CheckError::EmptyKey {
                path: shown,
                field: key_field.to_owned(),
                folder,
            });
        }
        if let Some(reason) = unsafe_key(&key) {
            return Err(CheckError::BadKey {
                path: shown,
                key,
                reason,
            });
        }
        let folder = file.parent().unwrap_or(root).to_owned();
        if let Some(first) = seen.get(&key) {
            return Err(CheckError::DuplicateKey {
                key,
                first: display(root, first),
                second: shown,
            });
        }
        seen.insert(key.clone(), file.clone());
        entities.push(Entity {
            key,
            folder,
            metadata: file,
            fields,
        });
    }
    entities.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(entities)
}

/// The files under `root` that `glob` (relative to `root`, of entity `entity`'s
/// `inputs`) matches, sorted; walked from the glob's literal folders, links neither
/// followed nor taken, kiln's and VCS folders left out. A glob leaving `root` (absolute,
/// `..`: contributed metadata rendered into it) is refused.
pub fn glob_files(root: &Path, glob: &str, entity: &str) -> Result<Vec<PathBuf>, CheckError> {
    if glob.starts_with('/') || glob.split('/').any(|part| part == "..") {
        return Err(CheckError::InputOutside {
            entity: entity.to_owned(),
            glob: glob.to_owned(),
        });
    }
    let matcher = crate::config::glob::matcher(glob).map_err(|source| CheckError::InputGlob {
        entity: entity.to_owned(),
        glob: glob.to_owned(),
        help: source.help(),
        source: Box::new(source),
    })?;
    let start = walk_start(root, &literal_prefix(glob))
        .map_err(|escape| escape.error(root, entity.to_owned(), "input glob", glob))?;
    let mut files = Vec::new();
    walk(root, &start, &matcher, &mut files)?;
    files.sort();
    Ok(files)
}

/// A glob's folders leading out of the workspace through a symlink.
#[derive(Debug)]
struct Escape {
    link: PathBuf,
    resolved: PathBuf,
}

impl Escape {
    fn error(self, root: &Path, whose: String, what: &'static str, glob: &str) -> CheckError {
        CheckError::LinkOutside {
            whose,
            what,
            glob: glob.to_owned(),
            link: display(root, &self.link),
            resolved: self.resolved.display().to_string(),
        }
    }
}

/// Where a walk for a glob whose literal folders are `prefix` starts: `root/prefix`,
/// unless that leads out of the workspace through a symlink (the walk itself follows
/// none, but the OS follows those of the folder it starts from). A prefix written
/// outside the workspace — absolute, or through `..`, which an entity glob may name
/// with `allow-outside-workspace` — is taken as written; one that does not exist has
/// nothing to walk.
fn walk_start(root: &Path, prefix: &Path) -> Result<PathBuf, Escape> {
    let start = root.join(prefix);
    let written_inside =
        start.starts_with(root) && !prefix.components().any(|c| c == Component::ParentDir);
    let (Ok(real_root), Ok(resolved)) = (root.canonicalize(), start.canonicalize()) else {
        return Ok(start);
    };
    if !written_inside || resolved.starts_with(&real_root) {
        return Ok(start);
    }
    // The first symlink on the way that leads out names the escape.
    let mut at = root.to_path_buf();
    for part in start.strip_prefix(root).unwrap_or(prefix).components() {
        at.push(part);
        let is_link = at
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if is_link && at.canonicalize().is_ok_and(|r| !r.starts_with(&real_root)) {
            return Err(Escape { link: at, resolved });
        }
    }
    Err(Escape {
        link: start,
        resolved,
    })
}

/// The folder discovery walks for `check`'s entities: the literal folders its glob starts
/// with (`data/models` of `data/models/*/metadata.yml`), under `root`.
pub fn data_folder(root: &Path, check: &Check) -> PathBuf {
    root.join(literal_prefix(&check.entities.glob.value))
}

/// The folders a glob starts with before its first part that is a pattern or a
/// template (`data/models` of `data/models/*/metadata.yml`, `problems` of
/// `problems/{{ entity.problem }}/**`): where a walk for it starts.
pub fn literal_prefix(glob: &str) -> PathBuf {
    glob.split('/')
        .take_while(|part| !crate::config::is_glob(part) && !part.contains("{{"))
        .collect()
}

/// Why `key` cannot name an entity, if it cannot: keys name files and folders in the job
/// record (logs, artifacts), so a key from a contributed metadata file must not reach
/// outside them.
fn unsafe_key(key: &str) -> Option<&'static str> {
    if key.trim().is_empty() {
        Some("it is empty")
    } else if key == "." || key == ".." {
        Some("it is a relative folder name")
    } else if key.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if key.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    matcher: &GlobSet,
    out: &mut Vec<PathBuf>,
) -> Result<(), CheckError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(root, dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(root, dir, e))?;
        let path = entry.path();
        // What the entry is itself: a symlink (contributed data) is neither walked, so
        // a link loop or a link out of the repository means nothing, nor taken as
        // metadata, which could name any file of the host.
        let file_type = entry.file_type().map_err(|e| io(root, &path, e))?;
        if file_type.is_dir() {
            if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                walk(root, &path, matcher, out)?;
            }
        } else if file_type.is_file()
            && let Ok(relative) = path.strip_prefix(root)
            && matcher.is_match(relative)
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The scalar fields of a metadata file; nested values are left out. The file is at
/// most [`MAX_METADATA_BYTES`]; YAML and JSON nest at most 128 deep (their parsers'
/// limit), KDL within [`crate::config::limits`].
pub fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>, CheckError> {
    let shown = path.display().to_string();
    let bad = |source: MetadataError| CheckError::Metadata {
        path: shown.clone(),
        source,
    };
    let beyond = |source: LimitError| CheckError::MetadataLimit {
        path: shown.clone(),
        help: format!(
            "metadata files are at most {MAX_METADATA_BYTES} bytes; in KDL, `{{ … }}` blocks nest at most {MAX_NESTING} deep (kiln reads only the top-level fields). A contributed file like this one needs fixing at its source"
        ),
        source: Box::new(source),
    };
    let text = read_limited(path, MAX_METADATA_BYTES)
        .map_err(|e| bad(e.into()))?
        .map_err(beyond)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension {
        "yml" | "yaml" => {
            let value: serde_json::Value =
                serde_yaml_ng::from_str(&text).map_err(|e| bad(e.into()))?;
            scalars(value).ok_or_else(|| bad(MetadataError::NotAMap("a map of fields")))
        }
        "json" => {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| bad(e.into()))?;
            scalars(value).ok_or_else(|| bad(MetadataError::NotAMap("an object")))
        }
        "kdl" => {
            let doc = parse_kdl(&text)
                .map_err(beyond)?
                .map_err(|e| bad(e.into()))?;
            Ok(doc
                .nodes()
                .iter()
                .filter_map(|node| {
                    let value = node.entries().iter().find(|e| e.name().is_none())?.value();
                    Some((node.name().value().to_owned(), kdl_scalar(value)?))
                })
                .collect())
        }
        other => Err(bad(MetadataError::UnknownFormat(other.to_owned()))),
    }
}

fn scalars(value: serde_json::Value) -> Option<BTreeMap<String, String>> {
    let serde_json::Value::Object(map) = value else {
        return None;
    };
    Some(
        map.into_iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    // `key:` with nothing after it: there, and empty.
                    serde_json::Value::Null => String::new(),
                    _ => return None,
                };
                Some((k, text))
            })
            .collect(),
    )
}

fn kdl_scalar(value: &kdl::KdlValue) -> Option<String> {
    match value {
        kdl::KdlValue::String(s) => Some(s.clone()),
        kdl::KdlValue::Integer(i) => Some(i.to_string()),
        kdl::KdlValue::Float(f) => Some(f.to_string()),
        kdl::KdlValue::Bool(b) => Some(b.to_string()),
        kdl::KdlValue::Null => Some(String::new()),
    }
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn io(root: &Path, path: &Path, e: std::io::Error) -> CheckError {
    CheckError::Io {
        path: display(root, path),
        source: e,
    }
}
