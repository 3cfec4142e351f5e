//! What may reach past the workspace. Entity globs read contributed data, and the
//! report and export paths of workflows are written: none of them may leave the
//! workspace unless kiln.kdl says `allow-outside-workspace #true`. A check may not mount
//! the Docker daemon's socket, or a folder holding it (read-only does not stop a
//! `connect()`, and the socket is the whole daemon), unless kiln.kdl says
//! `allow-docker-socket #true`.

use std::path::{Component, Path, PathBuf};

use super::error::ConfigError;
use super::paths::normalize;
use crate::model::{Flavor, Loc, Settings, Sources, TaskKind, Workflow};

pub fn check(
    root: &Path,
    settings: &Settings,
    flavors: &[Flavor],
    workflows: &[Workflow],
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) {
    let escapes = |loc: Loc, what: &str, path: String| {
        ConfigError::PathEscapes {
        src: sources.named(loc.source),
        span: loc.span,
        what: what.to_owned(),
        path,
        how: "through `..` or an absolute path".to_owned(),
        resolved: "outside the workspace".to_owned(),
        help: "kiln reads entities and writes reports and exports inside the workspace only; to let it leave, set `allow-outside-workspace #true` in kiln.kdl".to_owned(),
    }
    };
    let sockets = daemon_sockets();
    for flavor in flavors {
        for check in flavor
            .checks
            .iter()
            .filter(|c| c.name.loc.source == flavor.source)
        {
            let glob = &check.entities.glob;
            if !settings.allow_outside_workspace && leaves(root, Path::new(&glob.value)) {
                errors.push(escapes(glob.loc, "entities glob", glob.value.clone()));
            }
            if settings.allow_docker_socket {
                continue;
            }
            for mount in &check.mounts {
                let Ok(real) = mount.source.value.canonicalize() else {
                    continue;
                };
                if let Some(socket) = sockets.iter().find(|s| s.starts_with(&real)) {
                    errors.push(ConfigError::DockerSocketMount {
                        src: sources.named(mount.source.loc.source),
                        span: mount.source.loc.span,
                        path: mount.source.value.display().to_string(),
                        socket: socket.display().to_string(),
                    });
                }
            }
        }
    }
    if settings.allow_outside_workspace {
        return;
    }
    for workflow in workflows {
        for task in &workflow.tasks {
            let written: Vec<(&str, &PathBuf)> = match &task.kind {
                TaskKind::Export { dir, .. } => vec![("export folder", dir)],
                TaskKind::Report(outputs) => [
                    ("JUnit report", &outputs.junit),
                    ("HTML report", &outputs.html),
                    ("JSON report", &outputs.json),
                ]
                .into_iter()
                .filter_map(|(what, path)| path.as_ref().map(|p| (what, p)))
                .collect(),
                _ => Vec::new(),
            };
            for (what, path) in written {
                if leaves(root, path) {
                    errors.push(escapes(task.loc, what, path.display().to_string()));
                }
            }
        }
    }
}

/// Whether `path` (relative to `root`, or absolute) leads out of `root`.
fn leaves(root: &Path, path: &Path) -> bool {
    let joined = root.join(path);
    // A glob's `..` is literal text to the matcher but a step up to the walk.
    path.components().any(|c| c == Component::ParentDir) && !normalize(&joined).starts_with(root)
        || path.is_absolute() && !normalize(path).starts_with(root)
}

/// Where the daemon's socket is: DOCKER_HOST's unix path, else the default, resolved
/// (`/var/run` is a link to `/run` on most systems).
fn daemon_sockets() -> Vec<PathBuf> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let named = host
        .strip_prefix("unix://")
        .filter(|p| !p.is_empty())
        .unwrap_or("/var/run/docker.sock");
    let mut sockets = vec![PathBuf::from(named)];
    sockets.extend(
        sockets
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect::<Vec<_>>(),
    );
    sockets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_root() {
        let root = Path::new("/w");
        assert!(!leaves(root, Path::new("data/*/metadata.yml")));
        assert!(!leaves(root, Path::new("data/../other/*.yml")));
        assert!(leaves(root, Path::new("../../*/metadata.yml")));
        assert!(leaves(root, Path::new("/etc/*")));
        assert!(!leaves(root, Path::new("/w/data/*")));
        assert!(leaves(root, Path::new("reports/../../x.xml")));
    }
}
