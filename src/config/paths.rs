//! Paths a flavor names: contexts, Dockerfiles, included files and mounted folders.
//! Each must exist; a relative one must stay inside the workspace, neither through
//! `..` nor through a symlink. Absolute paths are host files the user chose (a static
//! busybox, a data folder) and only need to exist.

use std::path::{Component, Path, PathBuf};

use super::error::ConfigError;
use crate::model::{Flavor, IncludeOrigin, Spanned};
use crate::model::{Sources, display_path};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Folder,
    File,
    Any,
}

pub fn check(root: &Path, flavors: &[Flavor], sources: &Sources, errors: &mut Vec<ConfigError>) {
    let checker = Checker { root, sources };
    for flavor in flavors {
        for step in flavor
            .steps
            .iter()
            .filter(|s| s.declared_in == flavor.name.value)
        {
            // A missing context or step folder already explains a missing default
            // Dockerfile in it: only one error for the two.
            let mut base_missing = None;
            if let Some(context) = &step.context
                && !checker.check(&flavor.dir, context, "context", Kind::Folder, errors)
            {
                base_missing = Some(context.loc);
            }
            for include in &step.includes {
                let (what, kind) = match include.origin {
                    IncludeOrigin::Declared => ("included path", Kind::Any),
                    IncludeOrigin::StepFolder => ("step folder", Kind::Folder),
                };
                if !checker.check(&flavor.dir, &include.source, what, kind, errors)
                    && include.origin == IncludeOrigin::StepFolder
                {
                    base_missing = Some(include.source.loc);
                }
            }
            // Empty: unknown after an error reported already.
            let known = !step.dockerfile.value.as_os_str().is_empty();
            if known && base_missing != Some(step.dockerfile.loc) {
                checker.check(
                    &flavor.dir,
                    &step.dockerfile,
                    "Dockerfile",
                    Kind::File,
                    errors,
                );
            }
        }
        for check in flavor
            .checks
            .iter()
            .filter(|c| c.name.loc.source == flavor.source)
        {
            for mount in &check.mounts {
                checker.check(root, &mount.source, "mounted folder", Kind::Folder, errors);
            }
        }
    }
}

struct Checker<'a> {
    root: &'a Path,
    sources: &'a Sources,
}

impl Checker<'_> {
    /// True when the path is fine.
    fn check(
        &self,
        base: &Path,
        path: &Spanned<PathBuf>,
        what: &str,
        kind: Kind,
        errors: &mut Vec<ConfigError>,
    ) -> bool {
        let src = || self.sources.named(path.loc.source);
        let span = path.loc.span;
        let normal = normalize(&path.value);
        // Relative paths were joined onto `base`; absolute ones were taken as written.
        let relative = path.value.starts_with(base);
        if relative && !normal.starts_with(self.root) {
            let written = path.value.strip_prefix(base).unwrap_or(&path.value);
            errors.push(ConfigError::PathEscapes {
                src: src(),
                span,
                what: what.to_owned(),
                path: written.display().to_string(),
                how: "through `..`".to_owned(),
                resolved: "outside the workspace".to_owned(),
                help: "paths in a flavor are relative to its folder and stay inside the workspace; move the files in, or use an absolute path for a host file".to_owned(),
            });
            return false;
        }
        let real = match normal.canonicalize() {
            Ok(real) => real,
            Err(_) => {
                errors.push(ConfigError::PathMissing {
                    src: src(),
                    span,
                    what: what.to_owned(),
                    path: display_path(self.root, &normal),
                    help: if relative {
                        "paths in flavor.kdl are relative to the flavor's folder (check paths to the workspace root); a step's folder defaults to ./<step> (or <step-folders>/<step>), its context to that folder and its Dockerfile to <folder>/Dockerfile".to_owned()
                    } else {
                        host_file_help(&normal)
                    },
                });
                return false;
            }
        };
        if relative && !real.starts_with(self.root) {
            let link = first_escaping_link(self.root, &normal).unwrap_or_else(|| normal.clone());
            errors.push(ConfigError::PathEscapes {
                src: src(),
                span,
                what: what.to_owned(),
                path: display_path(self.root, &normal),
                how: format!("through the symlink `{}`", display_path(self.root, &link)),
                resolved: format!("leads to `{}`", real.display()),
                help: "kiln follows symlinks only while they stay inside the workspace; copy the target in, or name the host file by its absolute path".to_owned(),
            });
            return false;
        }
        let wrong = match kind {
            Kind::Folder if !real.is_dir() => Some("is not a folder"),
            Kind::File if !real.is_file() => Some("is not a file"),
            _ => None,
        };
        if let Some(reason) = wrong {
            errors.push(ConfigError::invalid(
                src(),
                span,
                what,
                format!("`{}` {reason}", display_path(self.root, &normal)),
                match kind {
                    Kind::Folder => "a context or mount is a folder".to_owned(),
                    _ => "name the Dockerfile itself, not its folder".to_owned(),
                },
            ));
            return false;
        }
        true
    }
}

/// What to say of an absolute path (a file of this machine) that is missing.
fn host_file_help(path: &Path) -> String {
    let mut help = "an absolute path names a file of this machine, which must exist where kiln runs; install or create it, or change the path".to_owned();
    if path.file_name().is_some_and(|name| name == "busybox") {
        help.push_str(
            "; the example flavors copy a static busybox: on Debian or Ubuntu, `apt-get install busybox-static` puts it at /bin/busybox",
        );
    }
    help
}

/// Resolves `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The first component of `path` below `root` that is a symlink leading out of `root`.
fn first_escaping_link(root: &Path, path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(root).ok()?;
    let mut current = root.to_path_buf();
    for component in rest.components() {
        current.push(component);
        let is_link = current
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if is_link
            && current
                .canonicalize()
                .is_ok_and(|real| !real.starts_with(root))
        {
            return Some(current);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalizes_dots() {
        assert_eq!(
            normalize(Path::new("/w/flavors/a/../../x/./y")),
            Path::new("/w/x/y")
        );
        assert_eq!(normalize(Path::new("/w/../../..")), Path::new("/"));
    }
}
