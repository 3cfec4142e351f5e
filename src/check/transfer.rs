//! Checks on a daemon that is not on this machine: no bind mount can show it a folder of
//! this one, so a check's mounts are copied into its environment container when the
//! container starts, each entity's folder again before it runs (its content now), and
//! the artifacts copied back out of the container after it ran. Timeouts already kill
//! from inside the container, and the command runs as the same uid:gid.
//!
//! Both directions treat what they carry as what it is: a symlink is sent as a symlink,
//! never followed; only regular files come back, matched against the artifact globs,
//! never outside the job record's folder, within the same limits as a local copy.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use globset::GlobSet;

use super::artifacts::{Copied, Limits};
use super::error::CheckError;

/// A tar of the host file or folder `host`, its entries under `target` (an absolute
/// path in the container): folders, regular files and symlinks as they are, kiln's own
/// folders (`skip`) left out, within `limits`.
pub fn pack(
    host: &Path,
    target: &str,
    skip: &[PathBuf],
    limits: Limits,
) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let root = PathBuf::from(target.trim_start_matches('/'));
    let mut count = (0usize, 0u64);
    add(&mut builder, host, &root, skip, limits, 0, &mut count)?;
    builder.into_inner()
}

fn add(
    builder: &mut tar::Builder<Vec<u8>>,
    host: &Path,
    name: &Path,
    skip: &[PathBuf],
    limits: Limits,
    depth: usize,
    count: &mut (usize, u64),
) -> std::io::Result<()> {
    if skip.iter().any(|s| host.starts_with(s)) || depth > limits.depth {
        return Ok(());
    }
    let meta = std::fs::symlink_metadata(host)?;
    count.0 += 1;
    if meta.is_file() {
        count.1 += meta.len();
    }
    if count.0 > limits.files || count.1 > limits.bytes {
        return Err(std::io::Error::other(format!(
            "more than {} files or {} bytes to copy into the container",
            limits.files, limits.bytes
        )));
    }
    if meta.is_dir() {
        builder.append_dir(name, host)?;
        let mut entries: Vec<_> = std::fs::read_dir(host)?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            if let Some(file) = entry.file_name() {
                add(
                    builder,
                    &entry,
                    &name.join(file),
                    skip,
                    limits,
                    depth + 1,
                    count,
                )?;
            }
        }
        Ok(())
    } else if meta.is_file() || meta.file_type().is_symlink() {
        builder.append_path_with_name(host, name)
    } else {
        // A socket, FIFO or device has no content to send.
        Ok(())
    }
}

/// Copies, of the tar `archive` of an entity folder copied out of its container (its
/// entries under the folder's name `top`), the regular files matching `globs` into
/// `target`, within `limits`.
///
/// The daemon sends the second and later names of a hard-linked file as link entries
/// naming the first; such a name comes back as a file of its own with the content of
/// the regular file entry it names, read from `archive` (never a link, so nothing in
/// `target` can reach beyond it). A link entry naming anything else (a path outside the
/// folder, one not sent before it, one that is no regular file) is skipped and named.
pub fn artifacts(
    archive: &[u8],
    top: &str,
    globs: &GlobSet,
    target: &Path,
    limits: Limits,
) -> Result<Copied, CheckError> {
    let io = |path: &Path, source: std::io::Error| CheckError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut copied = Copied::default();
    let mut bytes = 0u64;
    // Where the content of each regular file of the folder sent so far lies in
    // `archive`, by its path in the folder: what a later hard link entry names.
    let mut contents: HashMap<PathBuf, Range<usize>> = HashMap::new();
    let whole = archive;
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().map_err(|e| io(target, e))? {
        let mut entry = entry.map_err(|e| io(target, e))?;
        let path = entry.path().map_err(|e| io(target, e))?.into_owned();
        let Some(relative) = inside(&path, top) else {
            continue;
        };
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::Regular {
            let start = usize::try_from(entry.raw_file_position()).ok();
            let size = usize::try_from(entry.size()).ok();
            if let Some((start, end)) = start
                .zip(size)
                .and_then(|(s, n)| Some((s, s.checked_add(n)?)))
            {
                contents.insert(relative.to_owned(), start..end);
            }
        }
        if !globs.is_match(relative) {
            continue;
        }
        let shown = relative.to_string_lossy().into_owned();
        let data = match kind {
            tar::EntryType::Regular => None,
            tar::EntryType::Link => {
                let named = entry.link_name().map_err(|e| io(target, e))?;
                let first = named.as_deref().and_then(|n| inside(n, top));
                // The reader went past that entry's content to reach this one: it is
                // in `whole`.
                match first.and_then(|f| whole.get(contents.get(f)?.clone())) {
                    Some(content) => Some(content),
                    None => {
                        let named = named.map(|n| n.display().to_string()).unwrap_or_default();
                        copied.skipped.push(format!(
                            "{shown}: a hard link to {named}, which is no file of the entity folder sent before it"
                        ));
                        continue;
                    }
                }
            }
            _ => {
                copied.skipped.push(format!("{shown}: not a regular file"));
                continue;
            }
        };
        let size = data.map_or(entry.size(), |content| content.len() as u64);
        if copied.files.len() >= limits.files || bytes + size > limits.bytes {
            copied
                .skipped
                .push(format!("{shown}: over the limit of what is copied"));
            continue;
        }
        bytes += size;
        let to = target.join(relative);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let written = match data {
            Some(content) => std::fs::write(&to, content),
            None => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| io(&to, e))?;
                std::fs::write(&to, data)
            }
        };
        written.map_err(|e| io(&to, e))?;
        copied.files.push(shown);
    }
    copied.files.sort();
    Ok(copied)
}

/// `path` (an entry's name or a link's target) relative to the folder `top` it must be
/// in: only plain names, nothing that could point out of the folder copied into.
fn inside<'a>(path: &'a Path, top: &str) -> Option<&'a Path> {
    let relative = path.strip_prefix(top).ok()?;
    let plain = !relative.as_os_str().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    plain.then_some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_goes_in_under_its_target_and_artifacts_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("e1/_data")).unwrap();
        std::fs::create_dir_all(data.join(".kiln")).unwrap();
        std::fs::write(data.join("e1/run.sh"), "echo hi\n").unwrap();
        std::fs::write(data.join(".kiln/secret"), "no\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", data.join("e1/link")).unwrap();
        let tar = pack(&data, "/data", &[data.join(".kiln")], Limits::default()).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert!(names.contains(&"data/e1/run.sh".to_owned()), "{names:?}");
        assert!(
            names.contains(&"data/e1/link".to_owned()),
            "a link goes as a link"
        );
        assert!(!names.iter().any(|n| n.contains(".kiln")), "{names:?}");

        // Back out: the folder `e1` as the daemon gives it, artifacts by glob only.
        let mut builder = tar::Builder::new(Vec::new());
        for (name, body) in [
            ("e1/_data/plot.svg", "<svg/>"),
            ("e1/run.sh", "x"),
            ("e1/../escape", "x"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, body.as_bytes()).unwrap();
        }
        let archive = builder.into_inner().unwrap();
        let mut globs = globset::GlobSetBuilder::new();
        globs.add(globset::Glob::new("_data/*").unwrap());
        globs.add(globset::Glob::new("../*").unwrap());
        let target = dir.path().join("record");
        let copied = artifacts(
            &archive,
            "e1",
            &globs.build().unwrap(),
            &target,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(copied.files, ["_data/plot.svg"]);
        assert_eq!(
            std::fs::read_to_string(target.join("_data/plot.svg")).unwrap(),
            "<svg/>"
        );
        assert!(!dir.path().join("escape").exists());
    }

    /// An entry of the archive `artifacts` reads: a regular file with `body`, or a hard
    /// link naming `body`.
    fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, body: &str, link: bool) {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if link {
            gnu.linkname[..body.len()].copy_from_slice(body.as_bytes());
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            header.set_cksum();
            builder.append(&header, &[][..]).unwrap();
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(body.len() as u64);
            header.set_cksum();
            builder.append(&header, body.as_bytes()).unwrap();
        }
    }

    /// The daemon sends the second name of a hard-linked file as a link entry naming the
    /// first: it comes back as a file with that content (it was skipped as "not a
    /// regular file"), also when the first is no artifact; a link entry naming a path
    /// outside the folder, or one not sent before it, is skipped and named.
    #[test]
    fn hard_links_come_back_as_files_of_their_own_and_never_reach_out() {
        let mut builder = tar::Builder::new(Vec::new());
        append(&mut builder, "e1/_data/a", "same\n", false);
        append(&mut builder, "e1/_data/b", "e1/_data/a", true);
        append(&mut builder, "e1/src/input", "hidden\n", false);
        append(&mut builder, "e1/_data/c", "e1/src/input", true);
        append(&mut builder, "e1/_data/out", "/etc/passwd", true);
        append(&mut builder, "e1/_data/up", "e1/../secret", true);
        append(&mut builder, "e1/_data/early", "e1/_data/z", true);
        append(&mut builder, "e1/_data/z", "late\n", false);
        let archive = builder.into_inner().unwrap();
        let mut globs = globset::GlobSetBuilder::new();
        globs.add(globset::Glob::new("_data/*").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("record");
        let copied = artifacts(
            &archive,
            "e1",
            &globs.build().unwrap(),
            &target,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(
            copied.files,
            ["_data/a", "_data/b", "_data/c", "_data/z"],
            "{copied:?}"
        );
        let read = |name: &str| std::fs::read_to_string(target.join(name)).unwrap();
        assert_eq!(read("_data/a"), "same\n");
        assert_eq!(read("_data/b"), "same\n");
        assert_eq!(read("_data/c"), "hidden\n");
        let b = std::fs::symlink_metadata(target.join("_data/b")).unwrap();
        assert!(b.is_file(), "a file of its own");
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&b),
            1,
            "not linked to anything"
        );
        for name in ["out", "up", "early"] {
            assert!(
                copied
                    .skipped
                    .iter()
                    .any(|s| s.starts_with(&format!("_data/{name}: a hard link to"))),
                "{name}: {:?}",
                copied.skipped
            );
            assert!(!target.join("_data").join(name).exists(), "{name}");
        }
        // The limits count what a link brings back.
        let small = Limits {
            bytes: 5,
            ..Limits::default()
        };
        let mut only_links = globset::GlobSetBuilder::new();
        only_links.add(globset::Glob::new("_data/[abc]").unwrap());
        let copied = artifacts(
            &archive,
            "e1",
            &only_links.build().unwrap(),
            &dir.path().join("small"),
            small,
        )
        .unwrap();
        assert_eq!(copied.files, ["_data/a"], "{copied:?}");
        assert_eq!(copied.skipped.len(), 2, "{copied:?}");
    }
}
