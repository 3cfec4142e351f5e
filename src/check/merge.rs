//! Merging the results of partitions (`kiln check --partition K/N` on N CI jobs) into
//! one run per check: each entity exactly once — a key two partitions both checked, one
//! of the check's entities none did, or one the check does not have, fails the merge
//! rather than giving a report that looks whole.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::results::{RESULTS_FORMAT_VERSION, RunResults};

/// How deep below a given folder `results.json` files are looked for (a job record
/// holds them at `results/<flavor>-<check>/results.json`).
const MAX_DEPTH: usize = 4;

#[derive(Debug, Error, Diagnostic)]
pub enum MergeError {
    #[error("cannot read `{path}`: {source}")]
    #[diagnostic(code(kiln::results::merge_read))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{path}` is no results file: {source}")]
    #[diagnostic(code(kiln::results::merge_read))]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("no results.json under {}", dirs.join(", "))]
    #[diagnostic(
        code(kiln::results::merge_nothing),
        help(
            "give the job records (or folders holding them) that the partitions' runs wrote, e.g. the CI artifacts of .kiln/jobs"
        )
    )]
    Nothing { dirs: Vec<String> },

    #[error("entity `{key}` of check `{check}` was checked twice: in `{first}` and in `{second}`")]
    #[diagnostic(
        code(kiln::results::merge_duplicate),
        help(
            "every partition of one run must use the same N and the same split (--partition-by duration needs the same history on every job); give each partition's results once"
        )
    )]
    Duplicate {
        check: String,
        key: String,
        first: String,
        second: String,
    },

    #[error("{} of check `{check}` {} in no partition's results: {}", plural(keys.len()), if keys.len() == 1 { "is" } else { "are" }, keys.join(", "))]
    #[diagnostic(
        code(kiln::results::merge_missing),
        help(
            "a partition's results are missing (a job that failed or was not given), or the partitions split differently"
        )
    )]
    Missing { check: String, keys: Vec<String> },

    #[error("entity `{key}` in `{path}` is not an entity of check `{check}` in this workspace")]
    #[diagnostic(
        code(kiln::results::merge_unknown),
        help(
            "the partitions ran on another checkout (other entities), or the file was edited; merge results of this workspace's data, or remove the file"
        )
    )]
    Unknown {
        check: String,
        key: String,
        /// The results file that holds it.
        path: String,
    },
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 entity".to_owned()
    } else {
        format!("{n} entities")
    }
}

/// Every `results.json` under each of `dirs` (or `dirs` themselves, when files), with
/// where it was; links are not followed.
pub fn read(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, RunResults)>, MergeError> {
    let mut files = Vec::new();
    for dir in dirs {
        find(dir, 0, &mut files)?;
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(MergeError::Nothing {
            dirs: dirs.iter().map(|d| format!("`{}`", d.display())).collect(),
        });
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|source| MergeError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let run = serde_json::from_str(&text).map_err(|source| MergeError::Parse {
                path: path.display().to_string(),
                source,
            })?;
            Ok((path, run))
        })
        .collect()
}

fn find(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), MergeError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| MergeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    if !meta.is_dir() || depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| MergeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        let child = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            find(&child, depth + 1, out)?;
        } else if kind.is_file() && entry.file_name() == "results.json" {
            out.push(child);
        }
    }
    Ok(())
}

/// One run per check of the runs `found` (as [`read`] gives them); `expected` holds
/// each check's entity keys as the workspace finds them now: a result of a key the
/// check does not have is refused, as is a key of it that no run has (a check missing
/// from `expected` is not checked).
pub fn merge(
    found: Vec<(PathBuf, RunResults)>,
    expected: &BTreeMap<String, BTreeSet<String>>,
) -> Result<BTreeMap<String, RunResults>, MergeError> {
    let mut merged: BTreeMap<String, RunResults> = BTreeMap::new();
    // Where each (check, key) came from, for a duplicate's message.
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for (path, run) in found {
        for result in run.results {
            let id = (result.check.clone(), result.key.clone());
            if expected
                .get(&result.check)
                .is_some_and(|keys| !keys.contains(&result.key))
            {
                return Err(MergeError::Unknown {
                    check: id.0,
                    key: id.1,
                    path: path.display().to_string(),
                });
            }
            if let Some(first) = seen.get(&id) {
                return Err(MergeError::Duplicate {
                    check: id.0,
                    key: id.1,
                    first: first.display().to_string(),
                    second: path.display().to_string(),
                });
            }
            seen.insert(id, path.clone());
            let into = merged
                .entry(result.check.clone())
                .or_insert_with(|| RunResults {
                    format: RESULTS_FORMAT_VERSION,
                    started: run.started.clone(),
                    job: None,
                    results: Vec::new(),
                    not_done: Vec::new(),
                    partition: None,
                });
            if run.started < into.started {
                into.started = run.started.clone();
            }
            into.results.push(result);
        }
        for not_done in run.not_done {
            let check = merged
                .keys()
                .find(|c| not_done.node.starts_with(c.as_str()))
                .cloned();
            if let Some(run) = check.and_then(|c| merged.get_mut(&c)) {
                run.not_done.push(not_done);
            }
        }
    }
    for (check, run) in &mut merged {
        run.results.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(keys) = expected.get(check) {
            let have: BTreeSet<&str> = run.results.iter().map(|r| r.key.as_str()).collect();
            let missing: Vec<String> = keys
                .iter()
                .filter(|k| !have.contains(k.as_str()))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(MergeError::Missing {
                    check: check.clone(),
                    keys: missing,
                });
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::outcome::ResultClass;
    use crate::check::results::EntityResult;

    fn run(keys: &[&str]) -> RunResults {
        RunResults {
            format: RESULTS_FORMAT_VERSION,
            started: "2026-12-06T00:00:00Z".to_owned(),
            job: None,
            results: keys
                .iter()
                .map(|k| EntityResult {
                    key: (*k).to_owned(),
                    check: "f/c".to_owned(),
                    class: ResultClass::Success,
                    exit_code: Some(0),
                    runtime_ms: 1,
                    date: String::new(),
                    environment: String::new(),
                    image_id: String::new(),
                    container: None,
                    cached: false,
                    output_tail: String::new(),
                    log: None,
                    artifacts: vec![],
                })
                .collect(),
            not_done: vec![],
            partition: None,
        }
    }

    fn expected(keys: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
        BTreeMap::from([(
            "f/c".to_owned(),
            keys.iter().map(|k| (*k).to_owned()).collect(),
        )])
    }

    #[test]
    fn partitions_merge_into_one_run_per_check() {
        let merged = merge(
            vec![("p1".into(), run(&["b", "a"])), ("p2".into(), run(&["c"]))],
            &expected(&["a", "b", "c"]),
        )
        .unwrap();
        let keys: Vec<&str> = merged["f/c"]
            .results
            .iter()
            .map(|r| r.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[test]
    fn a_duplicate_or_a_missing_entity_fails_the_merge() {
        let twice = merge(
            vec![("p1".into(), run(&["a"])), ("p2".into(), run(&["a"]))],
            &expected(&["a"]),
        );
        assert!(matches!(twice, Err(MergeError::Duplicate { key, .. }) if key == "a"));
        let missing = merge(vec![("p1".into(), run(&["a"]))], &expected(&["a", "b"]));
        assert!(matches!(missing, Err(MergeError::Missing { keys, .. }) if keys == ["b"]));
    }

    /// A ninth result for a check of eight entities was merged silently.
    #[test]
    fn an_entity_the_check_does_not_have_fails_the_merge_naming_its_file() {
        let unknown = merge(
            vec![("p1".into(), run(&["a"])), ("p2".into(), run(&["b", "z"]))],
            &expected(&["a", "b"]),
        );
        match unknown {
            Err(error @ MergeError::Unknown { .. }) => {
                let shown = error.to_string();
                assert!(
                    shown.contains("`z`") && shown.contains("`p2`") && shown.contains("`f/c`"),
                    "{shown}"
                );
            }
            other => panic!("expected the unknown entity refused, got {other:?}"),
        }
    }
}
