//! The one run path of every command: a [`Plan`] becomes the graph
//! ([`plan::build`](crate::plan::build)), the engine runs it with the one
//! [`Executor`](crate::run::Executor), and listeners hear its events — the job record
//! (events and summary), progress or `--json` lines, report files. What the console
//! shows at the end and the exit code come from the summary those events fold into.

use std::io::Write;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::CliError;
use super::marks::Mark;
use super::output::{plural, render};
use super::progress::Progress;
use crate::build::{BuildError, BuildPolicy, Builder, Tiers};
use crate::check::outcome::ResultClass;
use crate::check::results::{EntityResult, History};
use crate::check::{CheckOptions, CheckRunner};
use crate::docker::Daemon;
use crate::engine::{self, NodeError, NodeState, Options, Subscriber};
use crate::job::JobRecord;
use crate::model::Workspace;
use crate::plan::{self, Output, Plan};
use crate::report::printable;
use crate::report::{JsonLines, Outcome, Recorder, ReportFiles, Summary, format_duration};
use crate::run::Executor;

/// What the console may show.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    pub color: bool,
    pub quiet: bool,
}

/// How a run behaves, whichever command asked for it.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// At most this many nodes at once (default: kiln.kdl's `jobs`, else the CPUs).
    pub jobs: Option<usize>,
    pub keep_going: bool,
    /// JSON lines on stdout instead of progress and tables.
    pub json: bool,
    pub check: CheckOptions,
    /// Leave environment containers running.
    pub keep_env: bool,
    pub fail_on_inaccurate: bool,
    pub build: BuildPolicy,
    /// Print what clean-ups and exports produced on stdout (`kiln clean`, `kiln
    /// export`), not only in the summary.
    pub products: bool,
    /// Show whole logs of failing entities.
    pub verbose: bool,
    /// Show only what did work or went wrong, and counts (watch mode's cycles).
    pub brief: bool,
}

/// Runs `plan` until done or `cancel` trips; prints what happened and fails if a node
/// failed, an entity failed its check or a clean-up left images. `command` names the
/// job record. A plan-only run (`kiln plan`) records nothing and prints nothing: its
/// summary is the answer.
pub async fn execute(
    workspace: Workspace,
    plan: &Plan,
    options: &RunOptions,
    command: &str,
    console: Console,
    cancel: CancellationToken,
) -> Result<Summary, CliError> {
    let graph = plan::build(&workspace, plan)?;
    // A daemon that takes connections and never answers holds the connection for
    // KILN_DOCKER_TIMEOUT: Ctrl-C does not wait for it.
    let tiers = tokio::select! {
        tiers = tiers(&workspace) => tiers?,
        () = cancel.cancelled() => return Err(CliError::Interrupted),
    };
    // Held to the end: the clean-up after an interrupt is when it matters.
    let _abandon = tiers.daemon.abandon_on(cancel.clone());
    let workspace = Arc::new(workspace);
    if options.build.no_build && !options.build.plan_only {
        // Everything that would need building, at once, before anything happens.
        let planning = BuildPolicy {
            plan_only: true,
            ..options.build.clone()
        };
        let builder = Builder {
            workspace: Arc::clone(&workspace),
            tiers: tiers.clone(),
            policy: planning,
            job: None,
        };
        let graph = plan::build(
            &workspace,
            &Plan {
                checks: Vec::new(),
                ..plan.clone()
            },
        )?;
        let (summary, report) = run_graph(
            graph,
            builder,
            None,
            options,
            Vec::new(),
            cancel.clone(),
            &workspace,
            "plan",
        )
        .await;
        if report.cancelled {
            return Err(CliError::Interrupted);
        }
        let missing: Vec<String> = summary
            .nodes
            .iter()
            .filter(|row| row.result.built())
            .map(|row| format!("{} ({})", row.node, row.image.clone().unwrap_or_default()))
            .collect();
        if !missing.is_empty() {
            return Err(BuildError::NoBuild { images: missing }.into());
        }
    }
    let job = if options.build.plan_only {
        None
    } else {
        Some(
            JobRecord::create(&workspace.settings.job_dir, command).map_err(|source| {
                CliError::JobRecord {
                    path: workspace.settings.job_dir.clone(),
                    source,
                }
            })?,
        )
    };
    let checks = (!plan.checks.is_empty()).then(|| {
        Arc::new(CheckRunner::new(
            Arc::clone(&workspace),
            crate::check::backend::open(&tiers.daemon, &workspace, options.keep_env),
            job.clone(),
            options.check.clone(),
        ))
    });
    let builder = Builder {
        workspace: Arc::clone(&workspace),
        tiers,
        policy: options.build.clone(),
        job: job.clone(),
    };
    let mut listeners: Vec<Box<dyn Subscriber<Output>>> = Vec::new();
    if !options.build.plan_only {
        if options.json {
            listeners.push(Box::new(JsonLines::stdout()));
        } else if !console.quiet {
            listeners.push(Box::new(Progress::new(console.color, options.brief)));
        }
    }
    if !plan.reports.is_empty() {
        listeners.push(Box::new(ReportFiles::new(
            &workspace.root,
            plan.reports.clone(),
            command,
            History::new(workspace.settings.results_dir()),
            job.as_ref().map(|j| j.dir.clone()),
        )));
    }
    let (summary, report) = run_graph(
        graph,
        builder,
        checks.clone(),
        options,
        listeners,
        cancel,
        &workspace,
        command,
    )
    .await;
    if let Some(checks) = checks {
        checks.shutdown().await;
    }
    if options.build.plan_only {
        if report.cancelled {
            return Err(CliError::Interrupted);
        }
        // What would fail (a Dockerfile mistake, an unreadable context): the caller
        // shows the plan and fails after it.
        print_failures(&report, console.color);
        return Ok(summary);
    }
    show(&summary, options, console, job.as_ref());
    print_failures(&report, console.color);
    // Keys are only known to be unknown when discovery and recording went through.
    let failed = report.failures().next().is_some() || summary.record_failed.is_some();
    for key in &options.check.keys {
        if !report.cancelled && !failed && !summary.entities().any(|r| &r.key == key) {
            tracing::warn!("no entity has the key `{key}`");
        }
    }
    outcome(summary, options, report.cancelled)
}

/// Runs `graph` with the one executor; the summary its events folded into, and the
/// engine's report (for the failures' diagnostics).
#[allow(clippy::too_many_arguments)]
async fn run_graph(
    graph: plan::Graph,
    builder: Builder,
    checks: Option<Arc<CheckRunner>>,
    options: &RunOptions,
    mut listeners: Vec<Box<dyn Subscriber<Output>>>,
    cancel: CancellationToken,
    workspace: &Workspace,
    command: &str,
) -> (Summary, engine::Report<plan::Node, Output>) {
    let (recorder, summary) = Recorder::new(builder.job.as_ref(), command);
    if let Ok(mut summary) = summary.lock() {
        summary.builder = Some(builder.tiers.backend);
    }
    listeners.insert(0, Box::new(recorder));
    let executor = Arc::new(Executor::new(builder, checks, &graph));
    let report = engine::run(
        graph,
        executor,
        Options {
            jobs: job_limit(options.jobs, workspace),
            keep_going: options.keep_going,
        },
        cancel,
        listeners,
    )
    .await;
    let summary = summary.lock().map(|s| s.clone()).unwrap_or_default();
    (summary, report)
}

/// The exit: interrupted, failed nodes, a clean-up that left images, failing entities.
fn outcome(summary: Summary, options: &RunOptions, cancelled: bool) -> Result<Summary, CliError> {
    if cancelled {
        return Err(CliError::Interrupted);
    }
    let failed = summary.count(Outcome::Failed);
    if failed > 0 {
        return Err(CliError::Failed {
            failed,
            total: summary.nodes.len(),
        });
    }
    if let Some((path, source)) = &summary.record_failed {
        return Err(CliError::RecordIncomplete {
            path: path.clone(),
            source: Arc::clone(source),
        });
    }
    let incomplete: usize = summary
        .nodes
        .iter()
        .filter_map(|row| match row.output.as_deref() {
            Some(Output::Cleaned(cleaned)) => Some(cleaned.failed.len()),
            _ => None,
        })
        .sum();
    if incomplete > 0 {
        return Err(CliError::CleanIncomplete { failed: incomplete });
    }
    let failing = summary.failing_entities(options.fail_on_inaccurate);
    if failing > 0 {
        return Err(CliError::ChecksFailed {
            failing,
            total: summary.entities().count(),
        });
    }
    Ok(summary)
}

/// What the console ends with: products on stdout when asked; entity lines and counts
/// for runs that checked, the table otherwise; the job record.
fn show(summary: &Summary, options: &RunOptions, console: Console, job: Option<&JobRecord>) {
    if options.products && !options.json {
        let mut out = std::io::stdout().lock();
        for output in summary.nodes.iter().filter_map(|r| r.output.as_deref()) {
            match output {
                Output::Exported(e) => {
                    let _ = writeln!(out, "{}  {}", e.sha256, e.archive.display());
                }
                Output::Cleaned(cleaned) => {
                    for tag in &cleaned.removed {
                        let _ = writeln!(out, "removed {tag}");
                    }
                    for failed in &cleaned.failed {
                        let _ = writeln!(out, "could not remove {}: {}", failed.tag, failed.error);
                    }
                    if cleaned.containers > 0 {
                        let _ = writeln!(
                            out,
                            "{} environment container{} removed",
                            cleaned.containers,
                            if cleaned.containers == 1 { "" } else { "s" }
                        );
                    }
                    let _ = writeln!(out, "{cleaned}");
                }
                _ => {}
            }
        }
    }
    if options.json {
        return;
    }
    let mut err = std::io::stderr().lock();
    let entities: Vec<&EntityResult> = summary.entities().collect();
    let record = job
        .map(|j| format!("job record: {}", j.dir.display()))
        .unwrap_or_default();
    if options.brief {
        let _ = write!(
            err,
            "{}",
            brief(summary, &entities, console, options.verbose)
        );
        if !console.quiet {
            let _ = writeln!(err, "{record}");
        }
        return;
    }
    if entities.is_empty() {
        if !console.quiet {
            let _ = write!(err, "\n{}", summary.table());
            let _ = writeln!(err, "{record}");
        }
        return;
    }
    if !console.quiet {
        let _ = writeln!(err);
    }
    let width = entities
        .iter()
        .map(|r| r.check.len() + 1 + r.key.len())
        .max()
        .unwrap_or(0);
    let mut sorted = entities.clone();
    sorted.sort_by(|a, b| (&a.check, &a.key).cmp(&(&b.check, &b.key)));
    for result in &sorted {
        // -q: only what did not succeed.
        if !console.quiet || result.class != ResultClass::Success {
            let _ = write!(
                err,
                "{}",
                result_line(result, width, console, options.verbose)
            );
        }
    }
    if console.quiet {
        return;
    }
    let images: Vec<Outcome> = summary
        .nodes
        .iter()
        .filter(|r| r.image.is_some())
        .map(|r| r.result)
        .collect();
    if !images.is_empty() {
        // By tier, in the totals' order; images `--shortcut` left in theirs count in
        // the images, not in a tier.
        let counts: Vec<String> =
            Outcome::tally(images.iter().copied().filter(|o| o.image().is_some()))
                .into_iter()
                .map(|(source, n)| format!("{n} {source}"))
                .collect();
        let _ = writeln!(
            err,
            "{}: {}",
            plural(images.len(), "image", "images"),
            counts.join(", ")
        );
    }
    for row in &summary.nodes {
        if let Some(text) = row.output.as_deref().and_then(Output::describe) {
            let _ = writeln!(err, "{text}");
        }
    }
    let count = |class: ResultClass| entities.iter().filter(|r| r.class == class).count();
    let not_done = summary.nodes.iter().filter(|r| r.not_done()).count();
    let _ = writeln!(
        err,
        "{}: {} success, {} inaccurate, {} script error, {} timeout ({} cached){}",
        plural(entities.len(), "entity", "entities"),
        count(ResultClass::Success),
        count(ResultClass::Inaccurate),
        count(ResultClass::ScriptError),
        count(ResultClass::Timeout),
        entities.iter().filter(|r| r.cached).count(),
        if not_done > 0 {
            format!("; {} not done", plural(not_done, "node", "nodes"))
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        err,
        "done in {}; {record}",
        format_duration(std::time::Duration::from_millis(summary.elapsed_ms)),
    );
}

/// A watch cycle's end: the entities that failed in it (a cached failure was shown
/// when it happened), then one line of counts — what was built, loaded, run, failed, and
/// how much nothing had to be done for.
fn brief(summary: &Summary, entities: &[&EntityResult], console: Console, verbose: bool) -> String {
    let mut out = String::new();
    let mut fresh: Vec<&&EntityResult> = entities.iter().filter(|r| !r.cached).collect();
    fresh.sort_by(|a, b| (&a.check, &a.key).cmp(&(&b.check, &b.key)));
    let width = fresh
        .iter()
        .map(|r| r.check.len() + 1 + r.key.len())
        .max()
        .unwrap_or(0);
    for result in fresh.iter().filter(|r| r.class != ResultClass::Success) {
        out.push_str(&result_line(result, width, console, verbose));
    }
    if console.quiet {
        return out;
    }
    let images = |which: fn(Outcome) -> bool| {
        summary
            .nodes
            .iter()
            .filter(|r| r.image.is_some() && which(r.result))
            .count()
    };
    let failing = fresh
        .iter()
        .filter(|r| r.class != ResultClass::Success)
        .count();
    let mut parts = vec![
        format!("{} built", images(Outcome::built)),
        format!("{} loaded", images(Outcome::loaded)),
        format!(
            "{} run{}",
            plural(fresh.len(), "entity", "entities"),
            if failing > 0 {
                format!(" ({failing} not successful)")
            } else {
                String::new()
            }
        ),
        format!(
            "{} unchanged",
            images(Outcome::unchanged) + entities.iter().filter(|r| r.cached).count()
        ),
    ];
    let failed = summary.count(Outcome::Failed);
    if failed > 0 {
        parts.push(plural(failed, "node failed", "nodes failed"));
    }
    out.push_str(&format!(
        "{}; done in {}; ",
        parts.join(", "),
        format_duration(std::time::Duration::from_millis(summary.elapsed_ms))
    ));
    out
}

/// `ok   checkenv/entities/hello  success  0.3s` (the entity padded to `width`), and for a
/// failure its output tail (or all of it with -v) and the path of its log; for a failure
/// the result cache answered, only the path (its tail with -v).
pub(super) fn result_line(
    result: &EntityResult,
    width: usize,
    console: Console,
    verbose: bool,
) -> String {
    let mark = Mark::of_class(result.class).show(console.color);
    let time = format_duration(std::time::Duration::from_millis(result.runtime_ms));
    let cached = if result.cached { " (cached)" } else { "" };
    // A fetched result or a partition's file says what it likes: nothing of it, nor
    // of what the entity printed, reaches the terminal raw.
    let entity = printable(&format!("{}/{}", result.check, result.key)).into_owned();
    let class = result.class.to_string();
    let mut line = format!("{mark} {entity:<width$}  {class:<12}  {time:>5}{cached}\n");
    // A cached failure was shown when it happened: one line and its log, not its output
    // again (a no-op rerun would print every old failure's tail).
    if result.class != ResultClass::Success && result.cached && !verbose {
        if let Some(log) = &result.log {
            line.push_str(&format!("    cached; its log: {}\n", printable(log)));
        }
    } else if result.class != ResultClass::Success {
        let output = if verbose {
            result
                .log
                .as_ref()
                .and_then(|log| std::fs::read_to_string(log).ok())
                .unwrap_or_else(|| result.output_tail.clone())
        } else {
            result.output_tail.clone()
        };
        for text in printable(&output).lines() {
            line.push_str(&format!("    │ {text}\n"));
        }
        if let Some(log) = &result.log {
            line.push_str(&format!("    full log: {}\n", printable(log)));
        }
    }
    line
}

/// Each failed node's error on stderr, named by its step when a load, pull or build
/// continued the step's analysis.
fn print_failures(report: &engine::Report<plan::Node, Output>, color: bool) {
    let mut err = std::io::stderr().lock();
    for (node, error) in report.failures() {
        let continued = node
            .expanded_from
            .and_then(|from| report.get(from))
            .filter(|from| matches!(from.state, NodeState::Expanded { added: 1, .. }));
        let id = continued.map_or(&node.id, |from| &from.id);
        let _ = write!(err, "\n{id} failed:\n{}", render_failure(error, color));
    }
}

/// A failed node's error: the diagnostic that caused it (code, labels, help) rather than
/// the wrapper repeating its message, then the path of the full log.
fn render_failure(error: &NodeError, color: bool) -> String {
    let mut text = match error.diagnostic() {
        Some(cause) => render(cause, color),
        None => render(error, color),
    };
    if error.diagnostic().is_some()
        && let Some(log) = error.log()
    {
        text.push_str(&format!("  full log: {}\n", log.display()));
    }
    text
}

/// The cache tiers of the workspace, with a connected daemon.
pub(super) async fn tiers(workspace: &Workspace) -> Result<Tiers, CliError> {
    let daemon = Daemon::connect().await.map_err(BuildError::from)?;
    let builder = daemon
        .resolve_builder(workspace.settings.builder)
        .await
        .map_err(BuildError::from)?;
    tracing::info!("building with {} ({})", builder.backend.name(), builder.why);
    Ok(Tiers::new(daemon, builder.backend, workspace))
}

/// The job limit: `--jobs`, else kiln.kdl's `jobs`, else the number of CPUs.
fn job_limit(jobs: Option<usize>, workspace: &Workspace) -> usize {
    jobs.or(workspace.settings.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}
