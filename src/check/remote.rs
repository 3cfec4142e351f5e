//! What travels with a result to a shared tier (`cache::result`), and comes back from
//! one: the end of its log ([`LOG_CAP`] bytes) and its artifacts as a tar (left out over
//! [`ARTIFACTS_CAP`] bytes or [`MAX_ARTIFACTS`] files). What comes back is hostile: its
//! artifacts tar must be what [`pack`] makes — regular files with plain relative names,
//! each once, within the caps — or none of it is unpacked.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use super::artifacts::{Copied, MAX_DEPTH};
use super::error::FetchedArtifactsError;

/// The most of a log that travels (its end), and artifacts larger than this in all
/// stay home (the result travels without them): the result tiers bound what they fetch
/// by the same caps.
pub use crate::cache::result::{ARTIFACTS_CAP, LOG_CAP};
/// More artifact files than this stay home too; a fetched tar holds at most this many
/// entries.
pub const MAX_ARTIFACTS: usize = 1000;

/// The last `cap` bytes of the file at `path`.
pub fn read_tail(path: &Path, cap: usize) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    Some(data[data.len().saturating_sub(cap)..].to_vec())
}

/// A tar of `files` (relative paths under `dir`, regular files only); `None` over the
/// caps.
pub fn pack(dir: &Path, files: &[String]) -> Option<Vec<u8>> {
    let mut total = 0u64;
    let mut count = 0usize;
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let path = dir.join(file);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        count += 1;
        if total > ARTIFACTS_CAP || count > MAX_ARTIFACTS {
            return None;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len());
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let data = std::fs::File::open(&path).ok()?;
        builder.append_data(&mut header, file, data).ok()?;
    }
    builder.into_inner().ok()
}

/// Unpacks a fetched artifacts tar into `target`, all or nothing: the whole tar is read
/// and checked first (at most [`MAX_ARTIFACTS`] entries, each a regular file under a
/// plain relative name at most [`MAX_DEPTH`] deep, no name twice or both a file and a
/// folder, at most [`ARTIFACTS_CAP`] bytes in all), then written, each file new; when a
/// write fails, what was written goes again.
///
/// Hand-written over the `tar` crate's reader: its `unpack` skips what it refuses and
/// fails halfway on a conflict, where a fetched result must be taken whole or not at all.
pub fn unpack(tar_data: &[u8], target: &Path) -> Result<Copied, FetchedArtifactsError> {
    let files = read_checked(tar_data)?;
    let mut written = Written::default();
    match write_all(&files, target, &mut written) {
        Ok(()) => Ok(Copied {
            files: files.into_iter().map(|(name, _)| name).collect(),
            skipped: Vec::new(),
        }),
        Err(e) => {
            written.undo();
            Err(e)
        }
    }
}

/// The files of a fetched tar, by name (sorted), if it is one [`pack`] could have made.
fn read_checked(tar_data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FetchedArtifactsError> {
    let unreadable = FetchedArtifactsError::Unreadable;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names: BTreeSet<PathBuf> = BTreeSet::new();
    let mut folders: BTreeSet<PathBuf> = BTreeSet::new();
    let mut bytes = 0u64;
    let mut archive = tar::Archive::new(tar_data);
    for (count, entry) in archive.entries().map_err(unreadable)?.enumerate() {
        if count >= MAX_ARTIFACTS {
            return Err(FetchedArtifactsError::TooMany {
                limit: MAX_ARTIFACTS,
            });
        }
        let mut entry = entry.map_err(unreadable)?;
        let path = entry.path().map_err(unreadable)?.into_owned();
        let name = path.to_string_lossy().into_owned();
        let depth = path.components().count();
        if depth == 0
            || depth > MAX_DEPTH
            || !path.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(FetchedArtifactsError::Path { name });
        }
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(FetchedArtifactsError::NotAFile {
                name,
                kind: kind_of(kind),
            });
        }
        // A name once, and never both a file and a folder (`a` then `a/b`, or the
        // other way round).
        let parents: Vec<&Path> = path.ancestors().skip(1).collect();
        let clash = if names.contains(&path) {
            Some(path.clone())
        } else if folders.contains(&path) {
            names.iter().find(|n| n.starts_with(&path)).cloned()
        } else {
            parents
                .iter()
                .find(|p| names.contains(**p))
                .map(|p| p.to_path_buf())
        };
        if let Some(other) = clash {
            return Err(FetchedArtifactsError::Clash {
                name,
                other: other.to_string_lossy().into_owned(),
            });
        }
        names.insert(path.clone());
        folders.extend(parents.iter().map(|p| p.to_path_buf()));
        let size = entry.size();
        bytes = bytes.saturating_add(size);
        if bytes > ARTIFACTS_CAP {
            return Err(FetchedArtifactsError::TooLarge {
                limit: ARTIFACTS_CAP,
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut data).map_err(unreadable)?;
        if data.len() as u64 != size {
            return Err(FetchedArtifactsError::Truncated { name });
        }
        files.push((name, data));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// What a tar entry that is not a regular file is, in words.
fn kind_of(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "a symlink".to_owned(),
        tar::EntryType::Link => "a hard link".to_owned(),
        tar::EntryType::Directory => "a folder".to_owned(),
        tar::EntryType::Char => "a character device".to_owned(),
        tar::EntryType::Block => "a block device".to_owned(),
        tar::EntryType::Fifo => "a FIFO".to_owned(),
        other => format!("an entry of type `{}`", other.as_byte().escape_ascii()),
    }
}

/// What an unpack created, newest last, so a failed one can take it away again.
#[derive(Default)]
struct Written {
    paths: Vec<(PathBuf, bool)>,
}

impl Written {
    fn undo(self) {
        for (path, folder) in self.paths.into_iter().rev() {
            let _ = if folder {
                std::fs::remove_dir(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

fn write_all(
    files: &[(String, Vec<u8>)],
    target: &Path,
    written: &mut Written,
) -> Result<(), FetchedArtifactsError> {
    let failed = |path: &Path, source| FetchedArtifactsError::Write {
        path: path.display().to_string(),
        source,
    };
    if files.is_empty() {
        return Ok(());
    }
    folder(target, written).map_err(|e| failed(target, e))?;
    for (name, data) in files {
        let to = target.join(name);
        if let Some(dir) = to.parent() {
            folder(dir, written).map_err(|e| failed(dir, e))?;
        }
        // A new file: nothing already there is written through or over.
        let mut file = std::fs::File::create_new(&to).map_err(|e| failed(&to, e))?;
        written.paths.push((to.clone(), false));
        file.write_all(data).map_err(|e| failed(&to, e))?;
    }
    Ok(())
}

/// Makes the folder `path` (its parents too) unless it is one, noting what it made.
fn folder(path: &Path, written: &mut Written) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "something other than a folder is there",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                folder(parent, written)?;
            }
            std::fs::create_dir(path)?;
            written.paths.push((path.to_path_buf(), true));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `entries` as they are written: names are not checked (`..`, `/`).
    fn raw_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, body) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *body).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn regular(name: &str) -> (&str, tar::EntryType, &'static [u8]) {
        (name, tar::EntryType::Regular, b"data")
    }

    #[test]
    fn artifacts_pack_and_unpack() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("from/_data")).unwrap();
        std::fs::write(dir.path().join("from/_data/plot.svg"), "<svg/>").unwrap();
        std::fs::write(dir.path().join("from/result.txt"), "ok").unwrap();
        let tar = pack(
            &dir.path().join("from"),
            &["_data/plot.svg".to_owned(), "result.txt".to_owned()],
        )
        .unwrap();
        let unpacked = unpack(&tar, &dir.path().join("to")).unwrap().files;
        assert_eq!(unpacked, ["_data/plot.svg", "result.txt"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("to/_data/plot.svg")).unwrap(),
            "<svg/>"
        );
    }

    #[test]
    fn more_artifacts_than_travel_stay_home() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..=MAX_ARTIFACTS).map(|i| format!("{i}.txt")).collect();
        for name in &names {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        assert!(pack(dir.path(), &names[..MAX_ARTIFACTS]).is_some());
        assert!(pack(dir.path(), &names).is_none());
    }

    #[test]
    fn a_tar_kiln_did_not_make_is_refused_whole_and_leaves_nothing() {
        use tar::EntryType;
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            // A file, then a path through it ("File exists" on every run, before).
            (
                "file then folder",
                raw_tar(&[
                    regular("_data/ok"),
                    regular("_data/a"),
                    regular("_data/a/b"),
                ]),
                "`_data/a/b` after `_data/a`",
            ),
            (
                "folder then file",
                raw_tar(&[regular("_data/a/b"), regular("_data/a")]),
                "`_data/a` after `_data/a/b`",
            ),
            (
                "twice",
                raw_tar(&[regular("_data/a"), regular("_data/a")]),
                "`_data/a` after `_data/a`",
            ),
            (
                "parent",
                raw_tar(&[regular("_data/ok"), regular("../escaped")]),
                "not a plain",
            ),
            (
                "inner parent",
                raw_tar(&[regular("_data/../../x")]),
                "not a plain",
            ),
            (
                "absolute",
                raw_tar(&[regular("/tmp/kiln-escaped")]),
                "not a plain",
            ),
            ("dot", raw_tar(&[regular("./x")]), "not a plain"),
            (
                "symlink",
                raw_tar(&[regular("_data/ok"), ("link", EntryType::Symlink, b"")]),
                "as a symlink",
            ),
            (
                "hard link",
                raw_tar(&[("link", EntryType::Link, b"")]),
                "as a hard link",
            ),
            (
                "device",
                raw_tar(&[("null", EntryType::Char, b"")]),
                "as a character device",
            ),
            (
                "folder",
                raw_tar(&[("_data", EntryType::Directory, b"")]),
                "as a folder",
            ),
            (
                "fifo",
                raw_tar(&[("pipe", EntryType::Fifo, b"")]),
                "as a FIFO",
            ),
        ];
        for (case, tar, says) in cases {
            let to = dir.path().join(case);
            let error = unpack(&tar, &to).unwrap_err().to_string();
            assert!(error.contains(says), "{case}: {error}");
            assert!(!to.exists(), "{case}: nothing is unpacked");
        }
        assert!(!dir.path().join("escaped").exists());
        assert!(!Path::new("/tmp/kiln-escaped").exists());
    }

    #[test]
    fn counts_sizes_and_truncation_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // More entries than kiln sends.
        let names: Vec<String> = (0..=MAX_ARTIFACTS).map(|i| format!("{i}")).collect();
        let many: Vec<_> = names.iter().map(|n| regular(n)).collect();
        let error = unpack(&raw_tar(&many), &dir.path().join("many")).unwrap_err();
        assert!(
            matches!(error, FetchedArtifactsError::TooMany { .. }),
            "{error}"
        );
        // A header claiming more than the cap: refused before anything is read.
        let mut header = tar::Header::new_gnu();
        header.set_path("big").unwrap();
        header.set_size(ARTIFACTS_CAP + 1);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut big = header.as_bytes().to_vec();
        big.extend_from_slice(&[0; 1024]);
        let error = unpack(&big, &dir.path().join("big")).unwrap_err();
        assert!(
            matches!(error, FetchedArtifactsError::TooLarge { .. }),
            "{error}"
        );
        // A header claiming more than the tar holds.
        let mut header = tar::Header::new_gnu();
        header.set_path("short").unwrap();
        header.set_size(4096);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut short = header.as_bytes().to_vec();
        short.extend_from_slice(&[b'x'; 512]);
        assert!(unpack(&short, &dir.path().join("short")).is_err());
        assert!(!dir.path().join("short").exists());
    }

    #[test]
    fn a_write_that_fails_takes_back_what_it_wrote_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("to");
        std::fs::create_dir_all(to.join("z")).unwrap();
        std::fs::write(to.join("z/there"), "before").unwrap();
        let tar = raw_tar(&[regular("a/one"), regular("b/two"), regular("z/there")]);
        let error = unpack(&tar, &to).unwrap_err();
        assert!(
            matches!(error, FetchedArtifactsError::Write { .. }),
            "{error}"
        );
        assert!(!to.join("a").exists() && !to.join("b").exists());
        assert_eq!(
            std::fs::read_to_string(to.join("z/there")).unwrap(),
            "before"
        );
    }
}
