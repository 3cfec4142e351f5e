//! `kiln results merge DIR…`: the results of partitions (`--partition K/N` on N CI jobs)
//! as one run — each check's `results.json` and ACKREP `results.yml` in a job record of
//! their own, added to the results history, and the JUnit, HTML and JSON reports asked
//! for. Fails when an entity is missing, was checked twice or is not the check's
//! (src/check/merge.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use clap::Args;

use super::CliError;
use super::execute::{Console, result_line};
use super::output::plural;
use crate::check::outcome::ResultClass;
use crate::check::results::{EntityResult, History};
use crate::check::{ackrep, merge};
use crate::job::JobRecord;
use crate::model::{CheckId, ReportOutputs, Workspace};
use crate::plan::Output;
use crate::report::outputs::{Run, write_reports};
use crate::report::{Outcome, Row, Summary};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Job records (or folders holding them, or results.json files) of the partitions
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Write a JUnit report of the merged results here
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write an HTML report of the merged results here
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write a JSON report of the merged results here
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

pub fn run(
    workspace: &Workspace,
    args: &MergeArgs,
    console: Console,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let found = merge::read(&args.dirs)?;
    // What each check has now: every entity must be in exactly one partition's results.
    let mut expected = BTreeMap::new();
    for check in found
        .iter()
        .flat_map(|(_, run)| run.results.iter().map(|r| &r.check))
    {
        if expected.contains_key(check) {
            continue;
        }
        let Some((flavor, name)) = check.split_once('/') else {
            continue;
        };
        match workspace.find_check(&CheckId::new(flavor, name)) {
            Some(declared) => {
                let keys: BTreeSet<String> = crate::check::discover(&workspace.root, declared)?
                    .into_iter()
                    .map(|e| e.key)
                    .collect();
                expected.insert(check.clone(), keys);
            }
            None => tracing::warn!(
                "check `{check}` is not in this workspace: its results are merged unchecked for completeness"
            ),
        }
    }
    let merged = merge::merge(found, &expected)?;
    let job =
        JobRecord::create(&workspace.settings.job_dir, "results-merge").map_err(|source| {
            CliError::JobRecord {
                path: workspace.settings.job_dir.clone(),
                source,
            }
        })?;
    let history = History::new(workspace.settings.results_dir());
    let build_url = ackrep::build_url(|name| std::env::var(name).ok());
    let mut all: Vec<EntityResult> = Vec::new();
    for (check, mut run) in merged {
        run.job = Some(job.dir.display().to_string());
        let stem = check.replace('/', "-");
        let dir = job.dir.join("results").join(&stem);
        std::fs::create_dir_all(&dir)?;
        let commits = check
            .split_once('/')
            .and_then(|(flavor, name)| workspace.find_check(&CheckId::new(flavor, name)))
            .map(|declared| ackrep::commit_logs(&workspace.root, declared))
            .unwrap_or_default();
        ackrep::write(&dir, &run, build_url.clone(), commits)
            .map_err(|e| CliError::Internal(e.to_string()))?;
        history
            .record(&dir, &run)
            .map_err(|e| CliError::Internal(e.to_string()))?;
        all.extend(run.results);
    }
    let outputs = ReportOutputs {
        junit: args.junit.clone(),
        html: args.html.clone(),
        json: args.json.clone(),
    };
    if outputs.junit.is_some() || outputs.html.is_some() || outputs.json.is_some() {
        let summary = summary_of(&all);
        let runs = history.runs().unwrap_or_default();
        let run = Run {
            summary: &summary,
            steps: &[],
            results: &all,
            not_done: &[],
            history: &runs,
            job: Some(&job.dir),
            started: SystemTime::now(),
        };
        write_reports(&std::env::current_dir()?, &outputs, &run)?;
    }
    // What did not succeed, as `kiln check` ends: output tail and log.
    let width = all
        .iter()
        .map(|r| r.check.len() + 1 + r.key.len())
        .max()
        .unwrap_or(0);
    let mut err = std::io::stderr().lock();
    for result in all.iter().filter(|r| r.class != ResultClass::Success) {
        let _ = write!(err, "{}", result_line(result, width, console, false));
    }
    let count = |class: ResultClass| all.iter().filter(|r| r.class == class).count();
    writeln!(
        out,
        "merged {}: {} success, {} inaccurate, {} script error, {} timeout; job record: {}",
        plural(all.len(), "entity", "entities"),
        count(ResultClass::Success),
        count(ResultClass::Inaccurate),
        count(ResultClass::ScriptError),
        count(ResultClass::Timeout),
        job.dir.display()
    )?;
    let failing = all.iter().filter(|r| r.class.is_failure()).count();
    if failing > 0 {
        return Err(CliError::ChecksFailed {
            failing,
            total: all.len(),
        });
    }
    Ok(())
}

/// A summary of entity rows only, as the reports read it.
fn summary_of(results: &[EntityResult]) -> Summary {
    let mut summary = Summary::new("results-merge");
    // Saturating: a partition's file can say any runtime.
    summary.elapsed_ms = results
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.runtime_ms));
    summary.nodes = results
        .iter()
        .map(|r| Row {
            node: format!("{}/{}", r.check, r.key),
            result: Outcome::Entity(r.class),
            duration_ms: Some(r.runtime_ms),
            cached: Some(r.cached),
            exit_code: r.exit_code,
            log: r.log.clone(),
            output: Some(Arc::new(Output::Entity(r.clone()))),
            ..Default::default()
        })
        .collect();
    summary
}
