//! The job record: `.kiln/jobs/<timestamp>-<command>/` with per-node logs, rendered
//! Dockerfiles, hash manifests, timings and a summary.
//!
//! The command that writes a record holds it: an exclusive `flock` on the record's
//! folder itself, taken as the folder is made and released when the last clone of the
//! [`JobRecord`] goes (the process ends at the latest). `kiln gc` tries that lock without
//! waiting and leaves a record it cannot take, so it never removes a running command's
//! record; the lock lives and goes with the folder, so there is no lock file to leave
//! behind.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

/// One run's folder, held while a clone of it lives.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub dir: PathBuf,
    /// The folder, opened and locked.
    _held: Arc<File>,
}

impl JobRecord {
    /// Creates `<job dir>/<UTC timestamp>-<command>[-n]/`, and holds it.
    pub fn create(job_dir: &Path, command: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(job_dir)?;
        let stamp = timestamp(SystemTime::now());
        let mut n = 0;
        loop {
            let name = if n == 0 {
                format!("{stamp}-{command}")
            } else {
                format!("{stamp}-{command}-{n}")
            };
            let dir = job_dir.join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let held = File::open(&dir)?;
            held.lock()?;
            // A collection may have taken the new folder for an old one between its
            // making and the lock: then it is gone (or another), and another is made.
            let ours = held.metadata()?;
            match std::fs::symlink_metadata(&dir) {
                Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {
                    return Ok(Self {
                        dir,
                        _held: Arc::new(held),
                    });
                }
                Ok(_) => n += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// `<flavor>-<step>` file stem of a node.
    pub fn stem(flavor: &str, step: &str) -> String {
        format!("{flavor}-{step}")
    }

    pub fn log(&self, stem: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{stem}.log"))
    }

    pub fn rendered_dockerfile(&self, stem: &str) -> PathBuf {
        self.dir
            .join("dockerfiles")
            .join(format!("{stem}.Dockerfile"))
    }

    pub fn manifest(&self, stem: &str) -> PathBuf {
        self.dir.join("manifests").join(format!("{stem}.json"))
    }

    /// Writes `value` as pretty JSON to `path` inside the record.
    pub fn write_json(&self, path: &Path, value: &impl Serialize) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        write_atomic(path, (text + "\n").as_bytes())
    }
}

/// Writes `data` to `path` whole or not at all: to a temporary name beside it, then
/// renamed; a failed write (a full disk) leaves neither a half file nor the temporary
/// one. (Not synced: it guards against a failed or killed writer, not a power cut.)
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let result = std::fs::write(&temp, data).and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `20261122T210500Z`: sortable, safe in file names.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_folders_are_unique_and_sortable() {
        let dir = tempfile::tempdir().unwrap();
        let a = JobRecord::create(dir.path(), "build").unwrap();
        let b = JobRecord::create(dir.path(), "build").unwrap();
        assert_ne!(a.dir, b.dir);
        let name = a.dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with("-build"), "{name}");
        assert_eq!(name.len(), "20261122T210500Z-build".len(), "{name}");
        assert_eq!(timestamp(SystemTime::UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn a_record_is_held_while_a_clone_of_it_lives() {
        let dir = tempfile::tempdir().unwrap();
        let record = JobRecord::create(dir.path(), "check").unwrap();
        let clone = record.clone();
        let path = record.dir.clone();
        let other = || File::open(&path).unwrap();
        assert!(other().try_lock().is_err(), "held");
        drop(record);
        assert!(other().try_lock().is_err(), "held by the clone");
        drop(clone);
        assert!(other().try_lock().is_ok(), "released with the last one");
    }
}
