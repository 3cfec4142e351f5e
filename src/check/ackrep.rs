//! ACKREP's CI results file, `results.yml`: per entity `result`, `issues`, `runtime` and
//! `date`, and for the run `ci_logs` (when, which kiln, which job record, which CI build)
//! and `commit_logs` (the commit the data repository was at), so a tool that reads
//! ACKREP's `ci_results__*.yaml` reads kiln's too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::outcome::ResultClass;
use super::results::{EntityResult, ResultsError, RunResults};

/// Run-level keys of the file; an entity with one of these keys is left out of it.
pub const RUN_KEYS: &[&str] = &["ci_logs", "commit_logs"];

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckrepResults {
    pub ci_logs: CiLogs,
    /// By data repository (the name of its folder).
    pub commit_logs: BTreeMap<String, CommitLog>,
    /// By entity key.
    #[serde(flatten)]
    pub entities: BTreeMap<String, AckrepEntry>,
}

/// What ran: when, with which kiln, into which job record, in which CI build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiLogs {
    /// When the results were recorded, `YYYY-MM-DD HH:MM:SS` (UTC).
    pub date: String,
    pub kiln_version: String,
    /// The job record's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The CI build's page, when a CI system's environment names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
}

/// The commit a data repository was at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitLog {
    /// The repository's folder, relative to the workspace when inside it.
    pub path: String,
    pub sha: String,
    /// Commit date, `YYYY-MM-DD HH:MM:SS` (UTC).
    pub date: String,
    /// The checked-out branch; absent on a detached HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit's subject line.
    pub message: String,
    pub author: String,
}

/// One entity's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckrepEntry {
    /// 0 success, 1 script error or timeout, 2 inaccurate: ACKREP's exit codes.
    pub result: u8,
    /// Empty on success; otherwise what went wrong: the output tail (the discrepancy an
    /// inaccurate entity printed), after "timed out …" for a timeout.
    pub issues: String,
    /// Seconds.
    pub runtime: f64,
    /// When the result was produced, `YYYY-MM-DD HH:MM:SS` (UTC).
    pub date: String,
    /// kiln's class: `success`, `inaccurate`, `script-error`, `timeout`.
    pub class: String,
    /// The environment image.
    pub environment: String,
    /// `<flavor>/<check>`.
    pub check: String,
}

/// An RFC 3339 date as `YYYY-MM-DD HH:MM:SS` in UTC; a date that does not parse is kept
/// as it is.
pub fn ackrep_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |date| {
            date.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// ACKREP's `result` of a class.
pub fn result_code(class: ResultClass) -> u8 {
    match class {
        ResultClass::Success => 0,
        ResultClass::Inaccurate => 2,
        ResultClass::ScriptError | ResultClass::Timeout => 1,
    }
}

/// ACKREP's `issues` of a result: empty for a success, else the output tail, or a line
/// saying what happened when the entity printed nothing.
pub fn issues(result: &EntityResult) -> String {
    let tail = result.output_tail.trim_end();
    let code = || {
        result
            .exit_code
            .map_or_else(|| "no exit code".to_owned(), |c| format!("exit code {c}"))
    };
    match result.class {
        ResultClass::Success => String::new(),
        ResultClass::Timeout => {
            let line = format!("timed out after {:.1} s", result.runtime_ms as f64 / 1000.0);
            if tail.is_empty() {
                line
            } else {
                format!("{line}\n{tail}")
            }
        }
        ResultClass::Inaccurate if tail.is_empty() => format!("inaccurate ({})", code()),
        ResultClass::ScriptError if tail.is_empty() => code(),
        ResultClass::Inaccurate | ResultClass::ScriptError => tail.to_owned(),
    }
}

impl AckrepEntry {
    pub fn of(result: &EntityResult) -> Self {
        AckrepEntry {
            result: result_code(result.class),
            issues: issues(result),
            runtime: result.runtime_ms as f64 / 1000.0,
            date: ackrep_date(&result.date),
            class: result.class.as_str().to_owned(),
            environment: result.environment.clone(),
            check: result.check.clone(),
        }
    }
}

impl AckrepResults {
    /// The file for `run`. An entity keyed like a run-level key (`ci_logs`) cannot be
    /// told from it and is left out, with a warning; results.json has it.
    pub fn of(
        run: &RunResults,
        build_url: Option<String>,
        commit_logs: BTreeMap<String, CommitLog>,
    ) -> Self {
        let entities = run
            .results
            .iter()
            .filter(|r| {
                let clash = RUN_KEYS.contains(&r.key.as_str());
                if clash {
                    tracing::warn!(
                        "results.yml leaves out the entity `{}`: its key is a run-level key of the file",
                        r.key
                    );
                }
                !clash
            })
            .map(|r| (r.key.clone(), AckrepEntry::of(r)))
            .collect();
        AckrepResults {
            ci_logs: CiLogs {
                date: ackrep_date(&run.started),
                kiln_version: env!("CARGO_PKG_VERSION").to_owned(),
                job: run.job.clone(),
                build_url,
            },
            commit_logs,
            entities,
        }
    }

    pub fn to_yaml(&self) -> Result<String, ResultsError> {
        serde_yaml_ng::to_string(self).map_err(|source| ResultsError::Yaml {
            path: "results.yml".to_owned(),
            source,
        })
    }
}

/// The CI build's page from the environment `var` reads: GitHub Actions
/// (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`), GitLab
/// (`CI_JOB_URL`), CircleCI (`CIRCLE_BUILD_URL`); the first that is set.
pub fn build_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let (Some(server), Some(repository), Some(run)) = (
        set("GITHUB_SERVER_URL"),
        set("GITHUB_REPOSITORY"),
        set("GITHUB_RUN_ID"),
    ) {
        return Some(format!(
            "{}/{repository}/actions/runs/{run}",
            server.trim_end_matches('/')
        ));
    }
    set("CI_JOB_URL").or_else(|| set("CIRCLE_BUILD_URL"))
}

/// The commit of the data repository `check`'s entities come from (the git repository
/// holding the folder its glob walks), by repository name; empty when that folder is in
/// no repository or git is missing.
pub fn commit_logs(root: &Path, check: &crate::model::Check) -> BTreeMap<String, CommitLog> {
    let walked = super::entity::data_folder(root, check);
    let Some(folder) = walked
        .ancestors()
        .take_while(|dir| dir.starts_with(root))
        .find(|dir| dir.is_dir())
    else {
        return BTreeMap::new();
    };
    commit_log(root, folder).into_iter().collect()
}

/// The commit of the git repository holding `folder`, and the repository's folder name;
/// `None` when git is missing, `folder` is in no repository or it has no commit.
pub fn commit_log(root: &Path, folder: &Path) -> Option<(String, CommitLog)> {
    let top = git(folder, &["rev-parse", "--show-toplevel"])?;
    let top = Path::new(top.trim_end_matches('\n'));
    let log = git(top, &["log", "-1", "--format=%H%x00%ct%x00%an%x00%s"])?;
    let mut parts = log.trim_end_matches('\n').splitn(4, '\0');
    let (sha, time, author, message) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let date = chrono::DateTime::from_timestamp(time.parse().ok()?, 0)?
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let branch = git(top, &["rev-parse", "--abbrev-ref", "HEAD"])
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty() && b != "HEAD");
    let name = top.file_name().map_or_else(
        || top.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Some((
        name,
        CommitLog {
            path: crate::config::display_path(root, top),
            sha: sha.to_owned(),
            date,
            branch,
            message: message.to_owned(),
            author: author.to_owned(),
        },
    ))
}

/// `git -C dir args…`'s stdout when it succeeds. git never waits on a terminal here
/// (no prompt, no pager, stdin closed) and takes no optional lock.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["--no-pager", "--no-optional-locks"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

/// Writes `results.yml` for `run` into `dir`.
pub fn write(
    dir: &Path,
    run: &RunResults,
    build_url: Option<String>,
    commit_logs: BTreeMap<String, CommitLog>,
) -> Result<(), ResultsError> {
    let yaml = AckrepResults::of(run, build_url, commit_logs).to_yaml()?;
    let path = dir.join("results.yml");
    crate::job::write_atomic(&path, yaml.as_bytes()).map_err(|source| ResultsError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::results::RESULTS_FORMAT_VERSION;

    fn result(key: &str, class: ResultClass, tail: &str) -> EntityResult {
        EntityResult {
            key: key.to_owned(),
            check: "env/models".to_owned(),
            class,
            exit_code: match class {
                ResultClass::Success => Some(0),
                ResultClass::Inaccurate => Some(2),
                ResultClass::ScriptError => Some(1),
                ResultClass::Timeout => None,
            },
            runtime_ms: 1500,
            date: "2026-11-23T01:00:06+02:00".to_owned(),
            environment: "kiln:env-base_0123".to_owned(),
            image_id: "sha256:abc".to_owned(),
            container: None,
            cached: false,
            output_tail: tail.to_owned(),
            log: None,
            artifacts: vec![],
        }
    }

    #[test]
    fn dates_become_utc_without_the_t() {
        assert_eq!(ackrep_date("2026-11-23T01:00:06Z"), "2026-11-23 01:00:06");
        assert_eq!(
            ackrep_date("2026-11-23T01:00:06+02:00"),
            "2026-11-22 23:00:06"
        );
        assert_eq!(ackrep_date("not a date"), "not a date");
    }

    #[test]
    fn issues_say_what_went_wrong_for_each_class() {
        assert_eq!(issues(&result("a", ResultClass::Success, "fine\n")), "");
        assert_eq!(
            issues(&result(
                "a",
                ResultClass::Inaccurate,
                "max error 0.03 > 0.01\n"
            )),
            "max error 0.03 > 0.01"
        );
        assert_eq!(
            issues(&result("a", ResultClass::Inaccurate, "")),
            "inaccurate (exit code 2)"
        );
        assert_eq!(
            issues(&result(
                "a",
                ResultClass::ScriptError,
                "Traceback …\nKeyError"
            )),
            "Traceback …\nKeyError"
        );
        assert_eq!(
            issues(&result("a", ResultClass::ScriptError, "")),
            "exit code 1"
        );
        assert_eq!(
            issues(&result("a", ResultClass::Timeout, "step 41")),
            "timed out after 1.5 s\nstep 41"
        );
        assert_eq!(
            issues(&result("a", ResultClass::Timeout, "")),
            "timed out after 1.5 s"
        );
        let codes: Vec<u8> = [
            ResultClass::Success,
            ResultClass::ScriptError,
            ResultClass::Timeout,
            ResultClass::Inaccurate,
        ]
        .into_iter()
        .map(result_code)
        .collect();
        assert_eq!(codes, [0, 1, 1, 2]);
    }

    #[test]
    fn the_build_url_comes_from_the_ci_system_that_set_one() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            build_url(env(&[
                ("GITHUB_SERVER_URL", "https://github.com/"),
                ("GITHUB_REPOSITORY", "org/data"),
                ("GITHUB_RUN_ID", "42"),
                ("CIRCLE_BUILD_URL", "https://circleci.com/gh/org/data/7"),
            ])),
            Some("https://github.com/org/data/actions/runs/42".to_owned())
        );
        assert_eq!(
            build_url(env(&[(
                "CIRCLE_BUILD_URL",
                "https://circleci.com/gh/org/data/7"
            )])),
            Some("https://circleci.com/gh/org/data/7".to_owned())
        );
        assert_eq!(
            build_url(env(&[(
                "CI_JOB_URL",
                "https://gitlab.com/org/data/-/jobs/9"
            )])),
            Some("https://gitlab.com/org/data/-/jobs/9".to_owned())
        );
        assert_eq!(
            build_url(env(&[("GITHUB_SERVER_URL", "https://github.com")])),
            None,
            "a part missing is no URL"
        );
        assert_eq!(build_url(env(&[("CI_JOB_URL", " ")])), None);
    }

    #[test]
    fn a_written_file_reads_back_as_ackrep_lays_it_out() {
        let run = RunResults {
            format: RESULTS_FORMAT_VERSION,
            started: "2026-11-23T01:00:07Z".to_owned(),
            job: Some("/ws/.kiln/jobs/20261123T010001Z-check".to_owned()),
            results: vec![
                result("hello", ResultClass::Success, "hi"),
                result("heat", ResultClass::Inaccurate, "max error 0.03 > 0.01"),
                result("ci_logs", ResultClass::Success, ""),
            ],
            not_done: vec![],
            partition: None,
        };
        let commits = BTreeMap::from([(
            "ackrep_data".to_owned(),
            CommitLog {
                path: "ackrep_data".to_owned(),
                sha: "0123abcd".to_owned(),
                date: "2026-11-20 10:00:00".to_owned(),
                branch: Some("main".to_owned()),
                message: "add heat".to_owned(),
                author: "A. Author".to_owned(),
            },
        )]);
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &run,
            Some("https://ci.example/1".to_owned()),
            commits.clone(),
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("results.yml")).unwrap();

        let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parsed["ci_logs"]["date"], "2026-11-23 01:00:07");
        assert_eq!(parsed["ci_logs"]["build_url"], "https://ci.example/1");
        assert_eq!(parsed["ci_logs"]["kiln_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(parsed["commit_logs"]["ackrep_data"]["sha"], "0123abcd");
        assert_eq!(parsed["hello"]["result"], 0);
        assert_eq!(parsed["hello"]["issues"], "");
        assert_eq!(parsed["hello"]["runtime"], 1.5);
        assert_eq!(parsed["hello"]["date"], "2026-11-22 23:00:06");
        assert_eq!(parsed["heat"]["result"], 2);
        assert_eq!(parsed["heat"]["issues"], "max error 0.03 > 0.01");
        assert_eq!(parsed["heat"]["class"], "inaccurate");
        assert!(
            parsed["ci_logs"].get("result").is_none(),
            "an entity keyed `ci_logs` is left out: {text}"
        );

        let back: AckrepResults = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            back,
            AckrepResults::of(&run, Some("https://ci.example/1".to_owned()), commits)
        );
        assert_eq!(back.entities.len(), 2);
    }

    #[test]
    fn a_repository_gives_its_commit_and_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("ackrep_data");
        std::fs::create_dir_all(repo.join("models")).unwrap();
        std::fs::write(repo.join("models/a.yml"), "key: a\n").unwrap();
        let run = |args: &[&str]| {
            let status = Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args([
                    "-c",
                    "user.name=Data Keeper",
                    "-c",
                    "user.email=keeper@example.invalid",
                ])
                .args(args)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        run(&["init", "-q", "-b", "trunk"]);
        run(&["add", "."]);
        run(&["commit", "-q", "-m", "add model a"]);
        let sha = git(&repo, &["rev-parse", "HEAD"]).unwrap();

        let (name, log) = commit_log(dir.path(), &repo.join("models")).unwrap();
        assert_eq!(name, "ackrep_data");
        assert_eq!(log.path, "ackrep_data");
        assert_eq!(log.sha, sha.trim());
        assert_eq!(log.branch.as_deref(), Some("trunk"));
        assert_eq!(log.message, "add model a");
        assert_eq!(log.author, "Data Keeper");
        assert!(
            chrono::NaiveDateTime::parse_from_str(&log.date, "%Y-%m-%d %H:%M:%S").is_ok(),
            "{}",
            log.date
        );

        run(&["checkout", "-q", "--detach"]);
        let (_, detached) = commit_log(dir.path(), &repo).unwrap();
        assert_eq!(detached.branch, None, "a detached HEAD names no branch");
    }

    #[test]
    fn a_folder_in_no_repository_has_no_commit_log() {
        let dir = tempfile::tempdir().unwrap();
        // A folder of its own under the system's temporary folder: in no repository
        // unless the temporary folder is in one.
        if git(dir.path(), &["rev-parse", "--show-toplevel"]).is_none() {
            assert_eq!(commit_log(dir.path(), dir.path()), None);
        }
        assert_eq!(commit_log(dir.path(), &dir.path().join("missing")), None);
    }
}
