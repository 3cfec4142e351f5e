//! `kiln check`: build the environment images the selected checks need, discover their
//! entities while the graph runs, check each in a warm environment container, and keep
//! the results.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::CliError;
use super::build::{Console, job_limit, render_failure, subscribers, tiers};
use crate::build::{BuildExecutor, BuildOptions};
use crate::check::outcome::ResultClass;
use crate::check::pool::Pool;
use crate::check::results::EntityResult;
use crate::check::{CheckOptions, CheckRunner};
use crate::engine::{self, Options};
use crate::model::Workspace;
use crate::plan;
use crate::report::summary::format_duration;
use crate::work::{WorkExecutor, WorkGraph, WorkOutput, WorkPlan, work_graph};

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Entity keys to check (default: every entity)
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Flavor name or glob whose checks run (repeatable; default: every flavor with checks)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Only the checks of this name (repeatable; default: all of the selected flavors)
    #[arg(long = "check", short = 'c', value_name = "CHECK")]
    pub checks: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How a run of builds and checks behaves: the options `kiln check` and `kiln run` share.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Run every entity, even those whose result is cached
    #[arg(long)]
    pub force: bool,
    /// Leave the environment containers running (a later run reuses them)
    #[arg(long)]
    pub keep_env: bool,
    /// Run check commands as UID:GID (default: the user running kiln)
    #[arg(long, value_name = "UID:GID", value_parser = super::values::user)]
    pub user: Option<String>,
    /// Exit non-zero when an entity is inaccurate, too
    #[arg(long)]
    pub fail_on_inaccurate: bool,
    /// At most this many nodes (builds, checks) at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N", value_parser = super::values::jobs)]
    pub jobs: Option<usize>,
    /// Let independent work finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// The options of a run checking only the entities `keys` (all when empty).
    pub fn options(&self, keys: Vec<String>) -> RunOptions {
        RunOptions {
            jobs: self.jobs,
            keep_going: self.keep_going,
            json: self.json,
            check: CheckOptions {
                force: self.force,
                user: self.user.clone(),
                keys,
            },
            keep_env: self.keep_env,
            fail_on_inaccurate: self.fail_on_inaccurate,
        }
    }
}

/// How a run of builds and checks behaves (from `kiln check` or `kiln run`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub jobs: Option<usize>,
    pub keep_going: bool,
    pub json: bool,
    pub check: CheckOptions,
    pub keep_env: bool,
    pub fail_on_inaccurate: bool,
}

pub async fn run(
    workspace: Workspace,
    args: &CheckArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    let mut work = WorkPlan::default();
    for flavor in plan::flavors(&workspace, &args.flavors)? {
        for check in &flavor.checks {
            if args.checks.is_empty() || args.checks.contains(&check.name.value) {
                work.checks
                    .push((flavor.name.value.clone(), check.name.value.clone()));
            }
        }
    }
    if work.checks.is_empty() {
        return Err(CliError::NothingToCheck);
    }
    unknown_keys(&workspace, &work, &args.keys)?;
    let options = args.run.options(args.keys.clone());
    execute(
        workspace,
        &work,
        &options,
        "check",
        console,
        verbose,
        super::interrupt::interruptible(),
    )
    .await
}

/// Fails on the first of `keys` that no entity of the selected checks has, before
/// anything is built: a typo would otherwise check nothing and succeed. Metadata that
/// cannot be read is left for the run to report.
fn unknown_keys(workspace: &Workspace, work: &WorkPlan, keys: &[String]) -> Result<(), CliError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut known: Vec<String> = Vec::new();
    for (flavor, check) in &work.checks {
        let Some(declaration) = workspace.check(flavor, check) else {
            continue;
        };
        // A data repository that cannot be read is the error to show, not "no entity
        // has the key".
        let entities = crate::check::discover(&workspace.root, declaration)?;
        known.extend(entities.into_iter().map(|e| e.key));
    }
    known.sort();
    known.dedup();
    let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
    match keys.iter().find(|k| !known.contains(k)) {
        Some(key) => Err(CliError::UnknownEntity {
            key: key.clone(),
            help: crate::config::suggest_help(key, &candidates, "entity keys"),
        }),
        None => Ok(()),
    }
}

/// Runs `work` as one graph, prints what happened, and fails if a node failed or an
/// entity failed its check.
pub async fn execute(
    workspace: Workspace,
    work: &WorkPlan,
    options: &RunOptions,
    command: &str,
    console: Console,
    verbose: bool,
    cancel: CancellationToken,
) -> Result<(), CliError> {
    if !work.push.is_empty() && workspace.settings.registry.is_none() {
        return Err(CliError::NoRegistry {
            what: "a `push` task".to_owned(),
        });
    }
    let WorkGraph { graph, steps } = work_graph(&workspace, work);
    let tiers = tiers(&workspace).await?;
    let daemon = tiers.daemon.clone();
    let job = super::build::job_record(&workspace, command)?;
    let jobs = job_limit(options.jobs, &workspace);
    let owner = crate::check::pool::owner(&workspace.root);
    let workspace = Arc::new(workspace);
    let runner = Arc::new(CheckRunner::new(
        Arc::clone(&workspace),
        daemon.clone(),
        Pool::new(daemon, owner, options.keep_env),
        job.clone(),
        options.check.clone(),
    ));
    let executor = Arc::new(WorkExecutor {
        build: BuildExecutor {
            workspace: Arc::clone(&workspace),
            tiers,
            options: BuildOptions::default(),
            job: job.clone(),
            forced: Default::default(),
        },
        check: Arc::clone(&runner),
        environments: steps,
    });

    let subscribers = subscribers(&job, options.json, console);
    let report = engine::run(
        graph,
        executor,
        Options {
            jobs,
            keep_going: options.keep_going,
        },
        cancel,
        subscribers,
    )
    .await;
    runner.pool.shutdown().await;

    let mut results: Vec<&EntityResult> = Vec::new();
    let mut sources: Vec<&str> = Vec::new();
    let mut tasks: Vec<&str> = Vec::new();
    for node in report.iter() {
        match node.output() {
            Some(WorkOutput::Recorded {
                results: recorded, ..
            }) => results.extend(recorded.iter()),
            Some(WorkOutput::Build(output)) => sources.push(output.source.as_str()),
            Some(WorkOutput::Task(text)) => tasks.push(text),
            _ => {}
        }
    }
    let found: Vec<&str> = results.iter().map(|r| r.key.as_str()).collect();
    for key in &options.check.keys {
        if !found.contains(&key.as_str()) && !report.cancelled {
            tracing::warn!("no entity has the key `{key}`");
        }
    }
    if options.json {
        // After the node events: each entity's result, as results.json holds it.
        let mut out = std::io::stdout().lock();
        for result in &results {
            if let Ok(line) = serde_json::to_string(&serde_json::json!({ "result": result })) {
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = out.flush();
    }
    let mut err = std::io::stderr().lock();
    if !options.json {
        if !console.quiet {
            let _ = writeln!(err);
        }
        let width = results
            .iter()
            .map(|r| r.check.len() + 1 + r.key.len())
            .max()
            .unwrap_or(0);
        for result in &results {
            // -q: only what did not succeed.
            if !console.quiet || result.class != ResultClass::Success {
                let _ = write!(err, "{}", result_line(result, width, console, verbose));
            }
        }
    }
    let count = |class: ResultClass| results.iter().filter(|r| r.class == class).count();
    let cached = results.iter().filter(|r| r.cached).count();
    if !options.json && !console.quiet {
        if !sources.is_empty() {
            let mut counts: Vec<String> = Vec::new();
            for source in ["built", "daemon", "file", "registry"] {
                let n = sources.iter().filter(|s| **s == source).count();
                if n > 0 {
                    counts.push(format!("{n} {source}"));
                }
            }
            let _ = writeln!(err, "{} images: {}", sources.len(), counts.join(", "));
        }
        for task in &tasks {
            let _ = writeln!(err, "{task}");
        }
        if !work.checks.is_empty() {
            let _ = writeln!(
                err,
                "{} entities: {} success, {} inaccurate, {} script error, {} timeout ({cached} cached)",
                results.len(),
                count(ResultClass::Success),
                count(ResultClass::Inaccurate),
                count(ResultClass::ScriptError),
                count(ResultClass::Timeout),
            );
        }
        let _ = writeln!(
            err,
            "done in {}; job record: {}",
            format_duration(report.elapsed),
            job.dir.display()
        );
    }
    for (node, error) in report.failures() {
        let _ = write!(
            err,
            "\n{} failed:\n{}",
            node.id,
            render_failure(error, console.color)
        );
    }
    drop(err);
    if report.cancelled {
        return Err(CliError::Interrupted);
    }
    let failed = report.counts().failed;
    if failed > 0 {
        return Err(CliError::Failed {
            failed,
            total: report.len(),
        });
    }
    let failing = count(ResultClass::ScriptError)
        + count(ResultClass::Timeout)
        + if options.fail_on_inaccurate {
            count(ResultClass::Inaccurate)
        } else {
            0
        };
    if failing > 0 {
        return Err(CliError::ChecksFailed {
            failing,
            total: results.len(),
        });
    }
    Ok(())
}

/// `ok   checkenv/entities/hello  success  0.3s` (the entity padded to `width`), and for a
/// failure its output tail (or all of it with -v) and the path of its log.
fn result_line(result: &EntityResult, width: usize, console: Console, verbose: bool) -> String {
    let paint = |code: &str, text: &str| {
        if console.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let (mark, color) = match result.class {
        ResultClass::Success => ("ok  ", "32"),
        ResultClass::Inaccurate => ("warn", "33"),
        ResultClass::ScriptError | ResultClass::Timeout => ("FAIL", "31"),
    };
    let time = format_duration(std::time::Duration::from_millis(result.runtime_ms));
    let cached = if result.cached { " (cached)" } else { "" };
    let entity = format!("{}/{}", result.check, result.key);
    let class = result.class.to_string();
    let mut line = format!(
        "{} {entity:<width$}  {class:<12}  {time:>5}{cached}\n",
        paint(color, mark),
    );
    if result.class != ResultClass::Success {
        let output = if verbose {
            result
                .log
                .as_ref()
                .and_then(|log| std::fs::read_to_string(log).ok())
                .unwrap_or_else(|| result.output_tail.clone())
        } else {
            result.output_tail.clone()
        };
        for text in output.lines() {
            line.push_str(&format!("    │ {text}\n"));
        }
        if let Some(log) = &result.log {
            line.push_str(&format!("    full log: {log}\n"));
        }
    }
    line
}
