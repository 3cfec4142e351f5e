//! Copying an entity's artifacts (files matching the check's `artifacts` globs, inside
//! the entity folder) into the job record.
//!
//! The entity folder is contributed data and the command that ran in it may have written
//! anything, so the copy takes what is there as what it is: symlinks are never followed
//! (one that stays inside the folder is copied as a symlink, one that leaves it is
//! skipped and named), folders are walked without following links (so a link loop is
//! just a link), only regular files are copied (a FIFO would block the copy for ever),
//! and the copy stops at a number of files, a number of bytes and a depth, or when the
//! run is cancelled. What was skipped is returned so the caller can say so.

use std::path::{Component, Path, PathBuf};

use globset::GlobSet;
use tokio_util::sync::CancellationToken;

use super::error::CheckError;

/// At most this many files (and symlinks) of one entity are copied.
pub const MAX_FILES: usize = 10_000;
/// At most this many bytes of one entity are copied.
pub const MAX_BYTES: u64 = 1 << 30;
/// Folders deeper than this below the entity folder are not walked.
pub const MAX_DEPTH: usize = 64;

/// What a copy did.
#[derive(Debug, Default)]
pub struct Copied {
    /// Paths relative to the entity folder, sorted.
    pub files: Vec<String>,
    /// What was not copied, each with why, for the entity's log and the console.
    pub skipped: Vec<String>,
}

/// The limits of one copy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub files: usize,
    pub bytes: u64,
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            files: MAX_FILES,
            bytes: MAX_BYTES,
            depth: MAX_DEPTH,
        }
    }
}

/// Copies what in `folder` matches `globs` to `target`, within `limits`; stops early
/// (without error) when `cancel` trips.
pub fn copy(
    folder: &Path,
    globs: &GlobSet,
    target: &Path,
    limits: Limits,
    cancel: &CancellationToken,
) -> Result<Copied, CheckError> {
    let mut copied = Copied::default();
    let mut bytes = 0u64;
    let mut stack = vec![(folder.to_owned(), 0usize)];
    'walk: while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if cancel.is_cancelled() {
                copied
                    .skipped
                    .push("the rest: the run was cancelled".to_owned());
                break 'walk;
            }
            let Ok(relative) = path.strip_prefix(folder) else {
                continue;
            };
            let shown = relative.display().to_string();
            // What the entry is itself, never what a link points to.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                if depth + 1 > limits.depth {
                    copied
                        .skipped
                        .push(format!("{shown}/: deeper than {} folders", limits.depth));
                } else {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !globs.is_match(relative) {
                continue;
            }
            if copied.files.len() >= limits.files {
                copied.skipped.push(format!(
                    "{shown} and the rest: more than {} files",
                    limits.files
                ));
                break 'walk;
            }
            let to = target.join(relative);
            if kind.is_symlink() {
                let link = std::fs::read_link(&path).map_err(|e| io(&path, e))?;
                if !stays_inside(relative, &link) {
                    copied.skipped.push(format!(
                        "{shown}: a symlink to {} leaves the entity folder",
                        link.display()
                    ));
                    continue;
                }
                make_parent(&to)?;
                let _ = std::fs::remove_file(&to);
                std::os::unix::fs::symlink(&link, &to).map_err(|e| io(&to, e))?;
            } else if kind.is_file() {
                if bytes + meta.len() > limits.bytes {
                    copied.skipped.push(format!(
                        "{shown}: {} bytes would pass the limit of {} bytes",
                        meta.len(),
                        limits.bytes
                    ));
                    continue;
                }
                make_parent(&to)?;
                bytes += std::fs::copy(&path, &to).map_err(|e| io(&path, e))?;
            } else {
                copied
                    .skipped
                    .push(format!("{shown}: not a regular file or symlink"));
                continue;
            }
            copied.files.push(shown);
        }
    }
    copied.files.sort();
    Ok(copied)
}

/// Whether a symlink at `relative` (inside the entity folder) pointing to `link` resolves
/// inside the folder, by its text alone: relative, and never climbing above the root.
fn stays_inside(relative: &Path, link: &Path) -> bool {
    if link.is_absolute() {
        return false;
    }
    let mut depth: usize = relative.parent().map_or(0, |p| p.components().count());
    for part in link.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn make_parent(path: &Path) -> Result<(), CheckError> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|e| io(parent, e)),
        None => Ok(()),
    }
}

fn io(path: &Path, source: std::io::Error) -> CheckError {
    CheckError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use globset::{Glob, GlobSetBuilder};

    fn all() -> GlobSet {
        let mut set = GlobSetBuilder::new();
        set.add(Glob::new("**").unwrap());
        set.build().unwrap()
    }

    #[test]
    fn links_are_taken_as_links_and_never_followed_out() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("entity");
        std::fs::create_dir_all(folder.join("_data/sub")).unwrap();
        std::fs::write(folder.join("_data/ok.txt"), "ok").unwrap();
        std::os::unix::fs::symlink("ok.txt", folder.join("_data/inside")).unwrap();
        std::os::unix::fs::symlink("../ok.txt", folder.join("_data/sub/up")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", folder.join("_data/leak")).unwrap();
        std::os::unix::fs::symlink("../../..", folder.join("_data/climb")).unwrap();
        std::os::unix::fs::symlink(".", folder.join("_data/loop")).unwrap();
        let target = dir.path().join("out");
        let copied = copy(
            &folder,
            &all(),
            &target,
            Limits::default(),
            &CancellationToken::new(),
        )
        .unwrap();
        assert_eq!(
            copied.files,
            ["_data/inside", "_data/loop", "_data/ok.txt", "_data/sub/up"]
        );
        assert_eq!(copied.skipped.len(), 2, "{:?}", copied.skipped);
        assert!(copied.skipped.iter().any(|s| s.starts_with("_data/leak")));
        assert!(copied.skipped.iter().any(|s| s.starts_with("_data/climb")));
        assert!(
            std::fs::symlink_metadata(target.join("_data/inside"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!target.join("_data/leak").exists());
    }

    #[test]
    fn the_copy_stops_at_its_limits_and_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("entity");
        std::fs::create_dir_all(folder.join("a/b/c")).unwrap();
        for name in ["1", "2", "3"] {
            std::fs::write(folder.join(name), "12345").unwrap();
        }
        std::fs::write(folder.join("a/b/c/deep"), "x").unwrap();
        let target = dir.path().join("out");
        let few = Limits {
            files: 2,
            ..Limits::default()
        };
        let copied = copy(&folder, &all(), &target, few, &CancellationToken::new()).unwrap();
        assert_eq!(copied.files.len(), 2, "{copied:?}");
        assert!(
            copied
                .skipped
                .iter()
                .any(|s| s.contains("more than 2 files"))
        );
        let shallow = Limits {
            depth: 2,
            ..Limits::default()
        };
        let copied = copy(&folder, &all(), &target, shallow, &CancellationToken::new()).unwrap();
        assert_eq!(copied.files, ["1", "2", "3"], "{copied:?}");
        assert!(copied.skipped.iter().any(|s| s.contains("deeper than 2")));
        let small = Limits {
            bytes: 7,
            ..Limits::default()
        };
        let copied = copy(&folder, &all(), &target, small, &CancellationToken::new()).unwrap();
        assert_eq!(
            copied.files.len(),
            2,
            "one 5-byte file fits in 7 bytes: {copied:?}"
        );
        let cancel = CancellationToken::new();
        cancel.cancel();
        let copied = copy(&folder, &all(), &target, Limits::default(), &cancel).unwrap();
        assert!(copied.files.is_empty());
    }
}
