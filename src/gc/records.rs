//! Job records beyond the newest `keep` go — except those the latest results point to:
//! a cached result keeps linking the log and artifacts of the run that produced it, so
//! that record stays as long as the result is the latest — and those a running command
//! holds (the lock on the record's folder, see job/record.rs), which it is still
//! writing. Results-history files beyond the newest `keep` go too (the latest results
//! are computed from what stays, and the record those point to is kept).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::check::results::History;

use super::{Collected, GcError, Removal};

pub fn collect(
    job_dir: &Path,
    results_dir: &Path,
    keep: usize,
    dry_run: bool,
    collected: &mut Collected,
) -> Result<(), GcError> {
    // History first: the latest results of what stays decide which records stay.
    let history_dir = results_dir.join("history");
    let mut files = sorted_entries(&history_dir)?;
    let old_history = files.len().saturating_sub(keep);
    let gone: Vec<PathBuf> = files.drain(..old_history).collect();
    for file in &gone {
        let bytes = size(file);
        if !dry_run {
            std::fs::remove_file(file).map_err(|e| GcError::io(file, e))?;
        }
        collected.removed.push(Removal {
            kind: "results history",
            what: file.display().to_string(),
            bytes,
        });
    }
    let referenced = referenced_jobs(results_dir, job_dir, &gone);
    let mut jobs = sorted_entries(job_dir)?;
    let old_jobs = jobs.len().saturating_sub(keep);
    let mut held = Vec::new();
    for job in jobs.drain(..old_jobs) {
        if referenced.contains(&job) {
            collected.kept.push(format!(
                "{}: the latest result of an entity links its log",
                job.display()
            ));
            continue;
        }
        // Held while it is removed: a command cannot take it for its new record then.
        let Some(_hold) = try_hold(&job) else {
            held.push(job.display().to_string());
            continue;
        };
        let bytes = size(&job);
        if !dry_run {
            match std::fs::remove_dir_all(&job) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(GcError::io(&job, e)),
            }
        }
        collected.removed.push(Removal {
            kind: "job record",
            what: job.display().to_string(),
            bytes,
        });
    }
    if !held.is_empty() {
        collected.kept.push(format!(
            "{} a running kiln holds: {}",
            if held.len() == 1 {
                "1 job record".to_owned()
            } else {
                format!("{} job records", held.len())
            },
            held.join(", ")
        ));
    }
    Ok(())
}

/// The lock a running command holds on its job record (an exclusive `flock` on the
/// record's folder), taken without waiting; `None` when another process holds it. A
/// record that cannot be opened counts as held: gc keeps what it cannot be sure of.
fn try_hold(job: &Path) -> Option<File> {
    let folder = File::open(job).ok()?;
    folder.try_lock().ok()?;
    Some(folder)
}

/// The job records the latest results (of the history files that stay) point to.
fn referenced_jobs(results_dir: &Path, job_dir: &Path, gone: &[PathBuf]) -> HashSet<PathBuf> {
    let history = History::new(results_dir);
    let Ok(runs) = history.runs_except(gone) else {
        return HashSet::new();
    };
    let mut latest = std::collections::BTreeMap::new();
    for run in runs {
        for result in run.results {
            latest.insert((result.check.clone(), result.key.clone()), result);
        }
    }
    latest
        .values()
        .filter_map(|result| {
            let log = PathBuf::from(result.log.as_ref()?);
            let relative = log.strip_prefix(job_dir).ok()?;
            let first = relative.components().next()?;
            Some(job_dir.join(first.as_os_str()))
        })
        .collect()
}

/// The entries of `dir`, oldest first (their names start with a UTC time).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, GcError> {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(GcError::io(dir, e)),
    };
    entries.sort();
    Ok(entries)
}

/// Bytes under `path` (a file or a folder), links not followed.
fn size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}
