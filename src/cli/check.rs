//! `kiln check`: build the environment images the selected checks need, discover their
//! entities while the graph runs, check each in a warm environment container, and keep
//! the results.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::CliError;
use super::build::{Console, render_failure, tiers};
use super::progress::Progress;
use crate::build::{BuildExecutor, BuildNode, BuildOptions};
use crate::check::outcome::ResultClass;
use crate::check::pool::Pool;
use crate::check::results::EntityResult;
use crate::check::{CheckOptions, CheckRunner, environments};
use crate::engine::{self, Options, RunGraph, Subscriber};
use crate::model::Workspace;
use crate::plan;
use crate::report::summary::format_duration;
use crate::report::{JobRecord, JsonLines};
use crate::work::{WorkExecutor, WorkNode, WorkOutput};

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
    /// Run every entity, even those whose result is cached
    #[arg(long)]
    pub force: bool,
    /// Leave the environment containers running (a later run reuses them)
    #[arg(long)]
    pub keep_env: bool,
    /// Run commands as UID:GID (default: the user running kiln)
    #[arg(long, value_name = "UID:GID")]
    pub user: Option<String>,
    /// Exit non-zero when an entity is inaccurate, too
    #[arg(long)]
    pub fail_on_inaccurate: bool,
    /// At most this many nodes (builds, checks) at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Let independent work finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
}

/// Identifies the workspace in container labels, so two checkouts never share
/// containers: the first 16 hex digits of the sha256 of its root path.
pub fn owner(workspace: &Workspace) -> String {
    crate::hash::sha256_hex(workspace.root.as_os_str().as_encoded_bytes())[..16].to_owned()
}

pub async fn run(
    workspace: Workspace,
    args: &CheckArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    // The checks to run: (flavor, check).
    let mut checks: Vec<(String, String)> = Vec::new();
    for flavor in plan::flavors(&workspace, &args.flavors)? {
        for check in &flavor.checks {
            if args.checks.is_empty() || args.checks.contains(&check.name.value) {
                checks.push((flavor.name.value.clone(), check.name.value.clone()));
            }
        }
    }
    if checks.is_empty() {
        return Err(CliError::NothingToCheck);
    }
    let mut environment_steps = Vec::new();
    for (flavor, check) in &checks {
        let declaration = workspace
            .flavor(flavor)
            .and_then(|f| f.checks.iter().find(|c| &c.name.value == check))
            .expect("selected above");
        environment_steps.extend(environments(flavor, declaration));
    }
    let graph = plan::steps_graph(&workspace, &environment_steps);

    // The engine graph: the environment builds, then one discovery node per check.
    let mut run_graph = RunGraph::new();
    let mut ids = HashMap::new();
    let order = graph.ordered();
    for &index in &order {
        let node = &graph.dag[index];
        ids.insert(
            index,
            run_graph.add(WorkNode::Build(BuildNode::analyze(
                &node.flavor,
                &node.step,
            ))),
        );
    }
    for &index in &order {
        for parent in graph.parents(index) {
            run_graph
                .depend(ids[&index], ids[&parent])
                .expect("the planned graph is acyclic and holds both nodes");
        }
    }
    let environments: HashMap<String, engine::NodeId> =
        order.iter().map(|i| (graph.dag[*i].id(), ids[i])).collect();
    for (flavor, check) in &checks {
        run_graph.add(WorkNode::Discover {
            flavor: flavor.clone(),
            check: check.clone(),
        });
    }

    let tiers = tiers(&workspace).await?;
    let daemon = tiers.daemon.clone();
    let job = JobRecord::create(&workspace.settings.job_dir, "check")?;
    let jobs = args
        .jobs
        .or(workspace.settings.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let owner = owner(&workspace);
    let workspace = Arc::new(workspace);
    let runner = Arc::new(CheckRunner::new(
        Arc::clone(&workspace),
        daemon.clone(),
        Pool::new(daemon, owner, args.keep_env),
        job.clone(),
        CheckOptions {
            force: args.force,
            user: args.user.clone(),
            keys: args.keys.clone(),
        },
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
        environments,
    });

    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let mut subscribers: Vec<Box<dyn Subscriber>> = Vec::new();
    match JsonLines::file(&job.dir.join("events.jsonl")) {
        Ok(recorder) => subscribers.push(Box::new(recorder)),
        Err(e) => tracing::warn!("cannot record events in {}: {e}", job.dir.display()),
    }
    if args.json {
        subscribers.push(Box::new(JsonLines::stdout()));
    } else if !console.quiet {
        subscribers.push(Box::new(Progress::new(console.color)));
    }
    let report = engine::run(
        run_graph,
        executor,
        Options {
            jobs,
            keep_going: args.keep_going,
        },
        cancel,
        subscribers,
    )
    .await;
    interrupt.abort();
    runner.pool.shutdown().await;

    // Results: one line per entity, the output tail and log of each failure.
    let mut results: Vec<&EntityResult> = Vec::new();
    for node in report.iter() {
        if let Some(WorkOutput::Recorded {
            results: recorded, ..
        }) = node.output()
        {
            results.extend(recorded.iter());
        }
    }
    let found: Vec<&str> = results.iter().map(|r| r.key.as_str()).collect();
    for key in &args.keys {
        if !found.contains(&key.as_str()) && !report.cancelled {
            tracing::warn!("no entity has the key `{key}`");
        }
    }
    let mut err = std::io::stderr().lock();
    if !args.json {
        if !console.quiet {
            let _ = writeln!(err);
        }
        for result in &results {
            // -q: only what did not succeed.
            if !console.quiet || result.class != ResultClass::Success {
                let _ = write!(err, "{}", result_line(result, console, verbose));
            }
        }
    }
    let count = |class: ResultClass| results.iter().filter(|r| r.class == class).count();
    let cached = results.iter().filter(|r| r.cached).count();
    if !args.json && !console.quiet {
        let _ = writeln!(
            err,
            "{} entities: {} success, {} inaccurate, {} script error, {} timeout ({cached} cached) in {}\njob record: {}",
            results.len(),
            count(ResultClass::Success),
            count(ResultClass::Inaccurate),
            count(ResultClass::ScriptError),
            count(ResultClass::Timeout),
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
        + if args.fail_on_inaccurate {
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

/// `ok   checkenv/entities/hello  success  0.3s`, and for a failure its output tail (or
/// all of it with -v) and the path of its log.
fn result_line(result: &EntityResult, console: Console, verbose: bool) -> String {
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
    let mut line = format!(
        "{} {}/{}  {}  {time}{cached}\n",
        paint(color, mark),
        result.check,
        result.key,
        result.class
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
