//! Checks on a daemon that is not on this machine: no bind mount can show it a folder of
//! this one, so a check's mounts are copied into its environment container when the
//! container starts, each entity's folder again before it runs (its content now), and
//! the artifacts copied back out of the container after it ran. Timeouts already kill
//! from inside the container, and the command runs as the same uid:gid.
//!
//! Both directions treat what they carry as what it is: a symlink is sent as a symlink,
//! never followed; only regular files come back, matched against the artifact globs,
//! never outside the job record's folder, within the same limits as a local copy.

use std::io::Read;
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
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().map_err(|e| io(target, e))? {
        let mut entry = entry.map_err(|e| io(target, e))?;
        let path = entry.path().map_err(|e| io(target, e))?.into_owned();
        let Ok(relative) = path.strip_prefix(top) else {
            continue;
        };
        // Only plain names: nothing that could point out of `target`.
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
            || !globs.is_match(relative)
        {
            continue;
        }
        let shown = relative.to_string_lossy().into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            copied.skipped.push(format!("{shown}: not a regular file"));
            continue;
        }
        if copied.files.len() >= limits.files || bytes + entry.size() > limits.bytes {
            copied
                .skipped
                .push(format!("{shown}: over the limit of what is copied"));
            continue;
        }
        bytes += entry.size();
        let to = target.join(relative);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| io(&to, e))?;
        std::fs::write(&to, data).map_err(|e| io(&to, e))?;
        copied.files.push(shown);
    }
    copied.files.sort();
    Ok(copied)
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
}
