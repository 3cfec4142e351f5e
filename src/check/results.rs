//! Results of checks: per run `results.json` in the job record (beside the ACKREP
//! `results.yml` of [`super::ackrep`]), and a history of runs in
//! `.kiln/results/history/` that `kiln results` reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::outcome::ResultClass;
use crate::job::write_atomic;

/// Version of the results layout.
pub const RESULTS_FORMAT_VERSION: u32 = 1;

/// One entity's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntityResult {
    pub key: String,
    /// `<flavor>/<check>`.
    pub check: String,
    pub class: ResultClass,
    pub exit_code: Option<i64>,
    pub runtime_ms: u64,
    /// When the run that produced this result started (RFC 3339, UTC). A cached result
    /// keeps the date of the run that produced it.
    pub date: String,
    /// Environment image name.
    pub environment: String,
    pub image_id: String,
    pub container: Option<String>,
    /// Taken from the result cache in this run.
    pub cached: bool,
    /// The last lines of the output.
    pub output_tail: String,
    pub log: Option<String>,
    /// Artifact files copied into the job record, relative to the entity folder.
    pub artifacts: Vec<String>,
}

/// The results of one check in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub format: u32,
    pub started: String,
    pub job: Option<String>,
    pub results: Vec<EntityResult>,
    /// Entities that did not finish (their environment failed, the run was
    /// interrupted …): an interrupted run records what finished and lists the rest.
    #[serde(default)]
    pub not_done: Vec<NotDone>,
    /// The partition of a run that checked a share of the entities (`--partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<super::partition::Partition>,
}

/// Work that did not finish, and why (`failed: …`, `skipped: …`, `cancelled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotDone {
    pub node: String,
    pub why: String,
}

#[derive(Debug, Error, Diagnostic)]
pub enum ResultsError {
    #[error("cannot write `{path}`: {source}")]
    #[diagnostic(code(kiln::results::write))]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write `{path}`: {source}")]
    #[diagnostic(code(kiln::results::write))]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot write `{path}`: {source}")]
    #[diagnostic(code(kiln::results::write))]
    Yaml {
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },

    #[error("cannot read `{path}`: {source}")]
    #[diagnostic(code(kiln::results::read))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An entity's latest result and its last passing one.
#[derive(Debug, Clone)]
pub struct Latest {
    pub key: String,
    pub check: String,
    pub latest: EntityResult,
    /// The newest success (by the date it was produced), possibly `latest` itself.
    pub last_passing: Option<EntityResult>,
}

/// The results folder: `<dir>/history/<timestamp>-<n>.json`, one file per recorded run.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn history_dir(&self) -> PathBuf {
        self.dir.join("history")
    }

    /// Writes `results.json` into `job_dir` and adds the run to the history; returns the
    /// history file.
    pub fn record(&self, job_dir: &Path, run: &RunResults) -> Result<PathBuf, ResultsError> {
        let json = serde_json::to_string_pretty(run).map_err(|source| ResultsError::Json {
            path: job_dir.display().to_string(),
            source,
        })? + "\n";
        let results = job_dir.join("results.json");
        write_atomic(&results, json.as_bytes()).map_err(|e| write_error(&results, e))?;
        let dir = self.history_dir();
        std::fs::create_dir_all(&dir).map_err(|e| write_error(&dir, e))?;
        let stamp = crate::job::timestamp(SystemTime::now());
        for n in 0.. {
            let path = dir.join(format!("{stamp}-{n:04}.json"));
            // create_new: two runs in the same second never share a file.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => {
                    write_atomic(&path, json.as_bytes()).map_err(|e| write_error(&path, e))?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_error(&path, e)),
            }
        }
        unreachable!("the loop returns")
    }

    /// Every recorded run, oldest first; a file that cannot be read is skipped.
    pub fn runs(&self) -> Result<Vec<RunResults>, ResultsError> {
        self.runs_except(&[])
    }

    /// [`History::runs`] without the files `left_out` (`kiln gc` deciding what stays).
    pub fn runs_except(&self, left_out: &[PathBuf]) -> Result<Vec<RunResults>, ResultsError> {
        let dir = self.history_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ResultsError::Read {
                    path: dir.display().to_string(),
                    source,
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter(|p| !left_out.contains(p))
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .filter_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                match serde_json::from_str(&text) {
                    Ok(run) => Some(run),
                    Err(e) => {
                        tracing::warn!(
                            "skipping the unreadable results file {}: {e}",
                            path.display()
                        );
                        None
                    }
                }
            })
            .collect())
    }

    /// Per (check, key), sorted by key then check: the latest result and the newest
    /// success. `key` limits it to one entity.
    pub fn latest(&self, key: Option<&str>) -> Result<Vec<Latest>, ResultsError> {
        let mut by_entity: BTreeMap<(String, String), Latest> = BTreeMap::new();
        for run in self.runs()? {
            for result in run.results {
                if key.is_some_and(|k| k != result.key) {
                    continue;
                }
                let id = (result.key.clone(), result.check.clone());
                let entry = by_entity.entry(id).or_insert_with(|| Latest {
                    key: result.key.clone(),
                    check: result.check.clone(),
                    latest: result.clone(),
                    last_passing: None,
                });
                // In run order, both: a later run's cached result is what the entity
                // gives now, though it keeps the date it was first produced.
                if result.class == ResultClass::Success {
                    entry.last_passing = Some(result.clone());
                }
                entry.latest = result;
            }
        }
        Ok(by_entity.into_values().collect())
    }
}

fn write_error(path: &Path, source: std::io::Error) -> ResultsError {
    ResultsError::Write {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(key: &str, class: ResultClass, date: &str) -> EntityResult {
        EntityResult {
            key: key.to_owned(),
            check: "env/models".to_owned(),
            class,
            exit_code: Some(if class == ResultClass::Success { 0 } else { 1 }),
            runtime_ms: 1500,
            date: date.to_owned(),
            environment: "kiln:env-base_0123".to_owned(),
            image_id: "sha256:abc".to_owned(),
            container: None,
            cached: false,
            output_tail: "line one\nline two".to_owned(),
            log: None,
            artifacts: vec![],
        }
    }

    fn run(results: Vec<EntityResult>) -> RunResults {
        RunResults {
            format: RESULTS_FORMAT_VERSION,
            started: "2026-11-23T00:00:00Z".to_owned(),
            job: None,
            results,
            not_done: vec![],
            partition: None,
        }
    }

    #[test]
    fn records_files_and_finds_latest_and_last_passing() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("results"));
        let job = dir.path().join("job");
        history
            .record(
                &job,
                &run(vec![
                    result("a", ResultClass::Success, "2026-11-20T00:00:00Z"),
                    result("b", ResultClass::Success, "2026-11-20T00:00:00Z"),
                ]),
            )
            .unwrap();
        let second = history
            .record(
                &job,
                &run(vec![
                    result("a", ResultClass::ScriptError, "2026-11-21T00:00:00Z"),
                    result("b", ResultClass::Success, "2026-11-21T00:00:00Z"),
                ]),
            )
            .unwrap();
        assert!(second.starts_with(dir.path().join("results/history")));
        assert_eq!(
            history.runs().unwrap().len(),
            2,
            "same-second records get their own files"
        );

        let latest = history.latest(None).unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0].latest.class, ResultClass::ScriptError);
        assert_eq!(
            latest[0].last_passing.as_ref().unwrap().date,
            "2026-11-20T00:00:00Z"
        );
        assert_eq!(
            latest[1].last_passing.as_ref().unwrap().date,
            "2026-11-21T00:00:00Z"
        );
        assert_eq!(history.latest(Some("b")).unwrap().len(), 1);

        // A third run served `a`'s first result from the cache (its old date): that is
        // what `a` gives now, so it is the latest, and the last passing run.
        let mut cached = result("a", ResultClass::Success, "2026-11-20T00:00:00Z");
        cached.cached = true;
        history
            .record(&dir.path().join("job3"), &run(vec![cached]))
            .unwrap();
        let latest = history.latest(Some("a")).unwrap();
        assert_eq!(latest[0].latest.class, ResultClass::Success);
        assert!(latest[0].latest.cached);
        assert!(latest[0].last_passing.as_ref().unwrap().cached);

        let json: RunResults =
            serde_json::from_str(&std::fs::read_to_string(job.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(json.results.len(), 2);
    }

    #[test]
    fn an_unreadable_history_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        history
            .record(
                &dir.path().join("job"),
                &run(vec![result("a", ResultClass::Success, "x")]),
            )
            .unwrap();
        std::fs::write(dir.path().join("history/00000000T000000Z-0000.json"), "{").unwrap();
        assert_eq!(history.runs().unwrap().len(), 1);
    }
}
