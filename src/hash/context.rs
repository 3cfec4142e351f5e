//! Collecting a build context: the context folder's files plus the includes, minus
//! what the ignore rules leave out, each file hashed (in parallel).
//!
//! * Paths are relative to the context, `/`-separated, and must be UTF-8.
//! * Symlinks are followed and their target sent as a regular file (or walked as a
//!   folder). A symlink must resolve inside the context folder (for a folder include:
//!   inside the included folder); one leading outside, a dangling one and a loop are
//!   errors naming the symlink. The include's own path may be a symlink to anywhere.
//! * An include replaces a context-folder file at the same path ("the include wins");
//!   two includes providing the same path, or a path that is a file in one source and
//!   a folder in another, are errors.
//! * Folders are not part of the context, only the files in them: empty folders do not
//!   matter. Sockets, FIFOs and devices are errors unless ignored.
//! * Only the owner's execute bit is kept (like Git): mtimes, owners and other
//!   permission bits never count.

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tokio_util::sync::CancellationToken;

use super::digest::{BUF_SIZE, Digest, hash_file};
use super::error::HashError;
use super::ignore::{IgnoreRules, Scope};
use super::relpath::{self, parents};

/// What goes into a build context.
#[derive(Debug, Clone, Default)]
pub struct ContextSpec {
    /// The context folder (absolute); `None`: the context is made of the includes only.
    pub context: Option<PathBuf>,
    /// Extra host files or folders (absolute) and where they go inside the context
    /// (relative, `/`-separated).
    pub includes: Vec<(PathBuf, String)>,
    /// Globs of paths inside the context to leave out (see [`ignore`](super::ignore)).
    pub ignore: Vec<String>,
    /// Folders (absolute, resolved) left out wherever they appear: kiln's own job
    /// records and caches, which change with every run, when a context holds the
    /// workspace root.
    pub skip: Vec<PathBuf>,
}

impl ContextSpec {
    /// The context of a step as the configuration declares it.
    pub fn for_step(step: &crate::model::Step, skip: Vec<PathBuf>) -> Self {
        ContextSpec {
            context: step.context.as_ref().map(|c| c.value.clone()),
            includes: step
                .includes
                .iter()
                .map(|i| (i.source.value.clone(), i.target.value.clone()))
                .collect(),
            ignore: step.ignore.iter().map(|g| g.value.clone()).collect(),
            skip,
        }
    }
}

/// One file of a build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative, `/`-separated path inside the context.
    pub path: String,
    /// The real host file to read (symlinks resolved).
    pub source: PathBuf,
    /// The owner's execute bit.
    pub executable: bool,
    /// Size in bytes when it was hashed.
    pub size: u64,
    /// sha256 of the content.
    pub digest: Digest,
}

/// The files of a build context, sorted by path (byte order), each path once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub files: Vec<ContextFile>,
}

impl Context {
    /// The file at `path` inside the context.
    pub fn get(&self, path: &str) -> Option<&ContextFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Total size of all files in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Walks the context folder and the includes, applies the ignore rules and hashes
/// every file (in parallel, on rayon's pool).
pub fn collect(spec: &ContextSpec) -> Result<Context, HashError> {
    collect_until(spec, &CancellationToken::new())
}

/// [`collect`], stopping with [`HashError::Cancelled`] soon after `cancel` trips (between
/// two reads of a file: a large context does not hold an interrupted run).
pub fn collect_until(spec: &ContextSpec, cancel: &CancellationToken) -> Result<Context, HashError> {
    // In path order (the map's); an indexed parallel iterator keeps that order.
    let pending: Vec<(String, Pending)> = gather(spec)?.into_iter().collect();
    let stop = || cancel.is_cancelled();
    let files = pending
        .into_par_iter()
        .map_init(
            || vec![0u8; BUF_SIZE],
            |buf, (path, p)| {
                let (digest, size) = hash_file(&p.source, buf, &stop).map_err(|e| {
                    if stop() {
                        HashError::Cancelled
                    } else {
                        HashError::read(&p.source, e)
                    }
                })?;
                Ok(ContextFile {
                    path,
                    source: p.source,
                    executable: p.executable,
                    size,
                    digest,
                })
            },
        )
        .collect::<Result<Vec<_>, HashError>>()?;
    Ok(Context { files })
}

/// The paths of the files [`collect`] would hash, without reading them: what a build
/// context will hold, for checking a Dockerfile against it.
pub fn list(spec: &ContextSpec) -> Result<Vec<String>, HashError> {
    Ok(gather(spec)?.into_keys().collect())
}

/// A file found by the walk, not hashed yet.
#[derive(Debug)]
struct Pending {
    source: PathBuf,
    executable: bool,
    /// `None`: the context folder; `Some(i)`: include `i`.
    include: Option<usize>,
}

/// Every file of the context, by path, before hashing.
fn gather(spec: &ContextSpec) -> Result<BTreeMap<String, Pending>, HashError> {
    let mut files = BTreeMap::new();
    let rules = match &spec.context {
        Some(context) => {
            let root = match fs::canonicalize(context) {
                Ok(root) if root.is_dir() => root,
                _ => {
                    return Err(HashError::ContextMissing {
                        path: context.clone(),
                    });
                }
            };
            let dockerignore_path = root.join(".dockerignore");
            let dockerignore = match fs::read_to_string(&dockerignore_path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(HashError::read(&dockerignore_path, e)),
            };
            let rules = IgnoreRules::new(
                &spec.ignore,
                dockerignore
                    .as_deref()
                    .map(|text| (dockerignore_path.as_path(), text)),
            )?;
            let skip = skipped_below(&spec.skip, &root);
            let mut walker = Walker {
                rules: &rules,
                skip: &skip,
                root: &root,
                scope: Scope::Context,
                include: None,
                out: &mut files,
            };
            walker.walk(&root, "", &mut vec![root.clone()])?;
            rules
        }
        // A context made of includes: no folder, so no `.dockerignore` either.
        None => IgnoreRules::new(&spec.ignore, None)?,
    };

    for (index, (source, target)) in spec.includes.iter().enumerate() {
        let target = relpath::normalize(target).map_err(|_| HashError::IncludeTarget {
            target: target.clone(),
        })?;
        let mut found = BTreeMap::new();
        include(&rules, &spec.skip, index, source, &target, &mut found)?;
        for (path, pending) in found {
            if let Some(Pending {
                include: Some(first),
                ..
            }) = files.get(&path)
            {
                return Err(HashError::IncludeCollision {
                    path,
                    first: spec.includes[*first].0.clone(),
                    second: source.clone(),
                });
            }
            files.insert(path, pending);
        }
    }

    for path in files.keys() {
        if let Some(file) = parents(path).find(|p| files.contains_key(*p)) {
            return Err(HashError::PathConflict {
                file: file.to_owned(),
                inside: path.clone(),
            });
        }
    }
    Ok(files)
}

/// The folders of `skip` that a walk from `root` must leave out: not one holding `root`
/// itself (a context chosen inside kiln's own folders, or a `cache-dir` above the
/// workspace, is the user's explicit choice, not a folder to hide).
fn skipped_below(skip: &[PathBuf], root: &Path) -> Vec<PathBuf> {
    skip.iter()
        .filter(|dir| !root.starts_with(dir))
        .cloned()
        .collect()
}

/// The files of include `index`: `source` (a file or a folder, perhaps through a
/// symlink) placed at `target`.
fn include(
    rules: &IgnoreRules,
    skip: &[PathBuf],
    index: usize,
    source: &Path,
    target: &str,
    out: &mut BTreeMap<String, Pending>,
) -> Result<(), HashError> {
    let real = match fs::canonicalize(source) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(match fs::symlink_metadata(source) {
                Ok(_) => HashError::SymlinkDangling {
                    link: source.to_owned(),
                    target: fs::read_link(source).unwrap_or_default(),
                },
                Err(_) => HashError::IncludeMissing {
                    path: source.to_owned(),
                },
            });
        }
        Err(e) => return Err(link_error(source, e)),
    };
    let meta = fs::metadata(&real).map_err(|e| HashError::read(&real, e))?;
    if meta.is_dir() {
        let skip = skipped_below(skip, &real);
        let mut walker = Walker {
            rules,
            skip: &skip,
            root: &real,
            scope: Scope::Include,
            include: Some(index),
            out,
        };
        if !(rules.excluded(target, Scope::Include) && rules.prunable(target, Scope::Include)) {
            walker.walk(&real, target, &mut vec![real.clone()])?;
        }
    } else if meta.is_file() {
        if !rules.excluded(target, Scope::Include) {
            out.insert(
                target.to_owned(),
                Pending {
                    source: real,
                    executable: executable(&meta),
                    include: Some(index),
                },
            );
        }
    } else {
        return Err(HashError::FileType {
            path: source.to_owned(),
            kind: file_kind(&meta),
        });
    }
    Ok(())
}

/// Walks one folder tree (the context folder or an included folder).
struct Walker<'a> {
    rules: &'a IgnoreRules,
    /// Resolved folders never entered (kiln's own).
    skip: &'a [PathBuf],
    /// Symlinks must resolve inside this (canonical) folder.
    root: &'a Path,
    scope: Scope,
    include: Option<usize>,
    out: &'a mut BTreeMap<String, Pending>,
}

impl Walker<'_> {
    /// Walks the real folder `dir` (canonical), whose path inside the context is
    /// `rel` (empty at the root). `ancestors` are the canonical folders being walked,
    /// outermost first, `dir` last: a symlink to one of them is a loop.
    fn walk(
        &mut self,
        dir: &Path,
        rel: &str,
        ancestors: &mut Vec<PathBuf>,
    ) -> Result<(), HashError> {
        let entries = fs::read_dir(dir).map_err(|e| HashError::read(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| HashError::read(dir, e))?;
            let abs = entry.path();
            let name = entry.file_name();
            let child = relpath::join(rel, &name.to_string_lossy());
            let excluded = self.rules.excluded(&child, self.scope);
            if name.to_str().is_none() {
                if excluded {
                    continue;
                }
                return Err(HashError::FileName { path: abs });
            }
            let meta = fs::symlink_metadata(&abs).map_err(|e| HashError::read(&abs, e))?;
            if meta.file_type().is_symlink() {
                match self.resolve(&abs) {
                    Ok((real, meta)) => {
                        self.visit(&abs, real, &meta, child, excluded, ancestors)?
                    }
                    // A left-out symlink is never followed, so it cannot be wrong.
                    Err(_) if excluded => {}
                    Err(e) => return Err(e),
                }
            } else {
                self.visit(&abs, abs.clone(), &meta, child, excluded, ancestors)?;
            }
        }
        Ok(())
    }

    /// One entry: `abs` as found in the folder, `real` its canonical path (itself if
    /// it is no symlink) with `meta` describing `real`.
    fn visit(
        &mut self,
        abs: &Path,
        real: PathBuf,
        meta: &Metadata,
        child: String,
        excluded: bool,
        ancestors: &mut Vec<PathBuf>,
    ) -> Result<(), HashError> {
        if self.skip.iter().any(|dir| real.starts_with(dir)) {
            return Ok(());
        }
        if meta.is_dir() {
            if ancestors.contains(&real) {
                if excluded {
                    return Ok(());
                }
                return Err(HashError::SymlinkLoop {
                    link: abs.to_owned(),
                });
            }
            if excluded && self.rules.prunable(&child, self.scope) {
                return Ok(());
            }
            ancestors.push(real.clone());
            let result = self.walk(&real, &child, ancestors);
            ancestors.pop();
            result
        } else if excluded {
            Ok(())
        } else if meta.is_file() {
            self.out.insert(
                child,
                Pending {
                    source: real,
                    executable: executable(meta),
                    include: self.include,
                },
            );
            Ok(())
        } else {
            Err(HashError::FileType {
                path: abs.to_owned(),
                kind: file_kind(meta),
            })
        }
    }

    /// The canonical target of symlink `link` and its metadata; it must lie inside
    /// the root.
    fn resolve(&self, link: &Path) -> Result<(PathBuf, Metadata), HashError> {
        let target = fs::read_link(link).map_err(|e| HashError::read(link, e))?;
        let real = match fs::canonicalize(link) {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HashError::SymlinkDangling {
                    link: link.to_owned(),
                    target,
                });
            }
            Err(e) => return Err(link_error(link, e)),
        };
        if !real.starts_with(self.root) {
            return Err(HashError::SymlinkOutside {
                link: link.to_owned(),
                target,
                resolved: real,
                root: self.root.to_owned(),
            });
        }
        let meta = fs::metadata(&real).map_err(|e| HashError::read(&real, e))?;
        Ok((real, meta))
    }
}

/// `ELOOP` ("too many levels of symbolic links"): Linux and most other Unixes use 40,
/// the BSDs and macOS 62.
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
const ELOOP: i32 = 62;
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
)))]
const ELOOP: i32 = 40;

/// An error resolving symlink `link`: a loop, or some other failure to read it.
fn link_error(link: &Path, e: io::Error) -> HashError {
    if e.raw_os_error() == Some(ELOOP) {
        HashError::SymlinkLoop {
            link: link.to_owned(),
        }
    } else {
        HashError::read(link, e)
    }
}

#[cfg(unix)]
fn executable(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn executable(_meta: &Metadata) -> bool {
    false
}

fn file_kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_socket() {
            return "socket";
        }
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    let _ = meta;
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }

    fn paths(ctx: &Context) -> Vec<&str> {
        ctx.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn include_wins_over_a_context_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        write(&ctx, "tool", "placeholder");
        write(dir.path(), "host/tool", "real tool");
        let spec = ContextSpec {
            context: Some(ctx),
            includes: vec![(dir.path().join("host/tool"), "tool".into())],
            ignore: vec![],
            skip: vec![],
        };
        let c = collect(&spec).unwrap();
        assert_eq!(paths(&c), ["tool"]);
        assert_eq!(c.files[0].size, 9);
        assert!(c.files[0].source.ends_with("host/tool"));
    }

    #[test]
    fn two_includes_of_one_path_collide() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        fs::create_dir(&ctx).unwrap();
        write(dir.path(), "a/x", "1");
        write(dir.path(), "b/x", "2");
        let spec = ContextSpec {
            context: Some(ctx),
            includes: vec![
                (dir.path().join("a"), "lib".into()),
                (dir.path().join("b"), "lib".into()),
            ],
            ignore: vec![],
            skip: vec![],
        };
        let err = collect(&spec).unwrap_err();
        assert!(
            matches!(&err, HashError::IncludeCollision { path, .. } if path == "lib/x"),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_where_a_folder_is_needed_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        write(&ctx, "lib/x", "1");
        write(dir.path(), "lib", "a file");
        let spec = ContextSpec {
            context: Some(ctx),
            includes: vec![(dir.path().join("lib"), "lib".into())],
            ignore: vec![],
            skip: vec![],
        };
        let err = collect(&spec).unwrap_err();
        assert!(
            matches!(&err, HashError::PathConflict { file, inside } if file == "lib" && inside == "lib/x"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_context_and_include() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ContextSpec {
            context: Some(dir.path().join("nope")),
            ..Default::default()
        };
        assert!(matches!(
            collect(&spec).unwrap_err(),
            HashError::ContextMissing { .. }
        ));
        let spec = ContextSpec {
            context: Some(dir.path().to_owned()),
            includes: vec![(dir.path().join("nope"), "x".into())],
            ignore: vec![],
            skip: vec![],
        };
        assert!(matches!(
            collect(&spec).unwrap_err(),
            HashError::IncludeMissing { .. }
        ));
        let spec = ContextSpec {
            context: Some(dir.path().to_owned()),
            includes: vec![(dir.path().to_owned(), "../x".into())],
            ignore: vec![],
            skip: vec![],
        };
        assert!(matches!(
            collect(&spec).unwrap_err(),
            HashError::IncludeTarget { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn ignored_broken_symlinks_and_fifos_do_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        write(ctx, "keep", "k");
        std::os::unix::fs::symlink("/nonexistent", ctx.join("dangling.tmp")).unwrap();
        std::os::unix::fs::symlink("/etc", ctx.join("out.tmp")).unwrap();
        let spec = ContextSpec {
            context: Some(ctx.to_owned()),
            includes: vec![],
            ignore: vec!["*.tmp".into()],
            skip: vec![],
        };
        assert_eq!(paths(&collect(&spec).unwrap()), ["keep"]);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_chain_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        std::os::unix::fs::symlink("b", ctx.join("a")).unwrap();
        std::os::unix::fs::symlink("a", ctx.join("b")).unwrap();
        let spec = ContextSpec {
            context: Some(ctx.to_owned()),
            ..Default::default()
        };
        let err = collect(&spec).unwrap_err();
        assert!(matches!(err, HashError::SymlinkLoop { .. }), "{err:?}");
    }

    #[test]
    fn empty_folders_do_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/f", "x");
        let spec = ContextSpec {
            context: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let before = collect(&spec).unwrap();
        fs::create_dir_all(dir.path().join("empty/deeper")).unwrap();
        let after = collect(&spec).unwrap();
        assert_eq!(paths(&before), paths(&after));
    }
}
