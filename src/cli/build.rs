//! `kiln build`, `kiln save`, `kiln push`: get the images of the selected goals from the
//! cheapest tier that has them, building only what changed.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use clap::Args;

use super::CliError;
use super::output::render;
use super::progress::Progress;
use crate::build::{
    BuildError, BuildExecutor, BuildNode, BuildOptions, BuildOutput, Source, Tiers, analyze,
};
use crate::docker::Daemon;
use crate::engine::{self, NodeError, Options, Report, RunGraph, Subscriber};
use crate::model::Workspace;
use crate::plan::{self, PlanError, Selection};
use crate::report::{JobRecord, JsonLines, Summary};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Flavor name or glob (repeatable; default: every flavor)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Goal or step name (repeatable; default: each flavor's default goals)
    #[arg(long = "goal", short = 'g', value_name = "GOAL")]
    pub goals: Vec<String>,
}

impl SelectArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            flavors: self.flavors.clone(),
            goals: self.goals.clone(),
            all_steps: false,
        }
    }
}

/// Which images a run may reuse, and from where.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheArgs {
    /// Build every selected step, whatever the caches hold
    #[arg(long)]
    pub force_rebuild: bool,
    /// Build this step (in every selected flavor) and everything depending on it
    #[arg(long, value_name = "STEP")]
    pub force_rebuild_from: Vec<String>,
    /// Pull from the registry even when the daemon or the file cache has the image
    #[arg(long)]
    pub force_pull: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Fail instead of building, listing what would need building (release CI)
    #[arg(long)]
    pub no_build: bool,
    /// Write every image to the file cache
    #[arg(long)]
    pub save: bool,
    /// Push every image to the registry
    #[arg(long)]
    pub push: bool,
    /// At most this many nodes at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N", value_parser = super::values::jobs)]
    pub jobs: Option<usize>,
    /// Let independent branches finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
}

impl BuildArgs {
    pub fn options(&self) -> BuildOptions {
        BuildOptions {
            force_rebuild: self.cache.force_rebuild,
            force_rebuild_from: self.cache.force_rebuild_from.clone(),
            force_pull: self.cache.force_pull,
            no_build: self.no_build,
            save: self.save,
            push: self.push,
        }
    }
}

/// What the console may show.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    pub color: bool,
    pub quiet: bool,
}

fn key(node: &plan::Node) -> BuildNode {
    BuildNode::analyze(&node.flavor, &node.step)
}

/// The nodes forced to build: all with `--force-rebuild`, else the steps named by
/// `--force-rebuild-from` and everything depending on them. A name no planned step has
/// is an error (a typo would otherwise force nothing, silently).
fn forced_nodes(graph: &plan::Graph, options: &BuildOptions) -> Result<HashSet<String>, PlanError> {
    let order = graph.ordered();
    let mut steps: Vec<&str> = order.iter().map(|&i| graph.dag[i].step.as_str()).collect();
    steps.sort_unstable();
    steps.dedup();
    if let Some(unknown) = options
        .force_rebuild_from
        .iter()
        .find(|s| !steps.contains(&s.as_str()))
    {
        return Err(PlanError::UnknownStep {
            step: unknown.clone(),
            help: crate::config::suggest_help(unknown, &steps, "planned steps"),
        });
    }
    let mut forced = HashSet::new();
    for index in order {
        let node = &graph.dag[index];
        let force = options.force_rebuild
            || options.force_rebuild_from.contains(&node.step)
            || graph
                .parents(index)
                .iter()
                .any(|p| forced.contains(&graph.dag[*p].id()));
        if force {
            forced.insert(node.id());
        }
    }
    Ok(forced)
}

/// The planned graph as the engine's graph.
fn run_graph(graph: &plan::Graph) -> RunGraph<BuildNode> {
    let mut run = RunGraph::new();
    let mut ids = HashMap::new();
    let order = graph.ordered();
    for &index in &order {
        ids.insert(index, run.add(key(&graph.dag[index])));
    }
    for &index in &order {
        for parent in graph.parents(index) {
            run.depend(ids[&index], ids[&parent])
                .expect("the planned graph is acyclic and holds both nodes");
        }
    }
    run
}

/// What `kiln plan` shows for a node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    pub node: String,
    pub image: String,
    pub hash: String,
    /// Where the image would come from: `daemon`, `file`, `registry` or `built`.
    pub source: Source,
    pub warnings: Vec<String>,
}

/// Analyses every node in order and asks the tiers where each image would come from,
/// changing nothing.
pub async fn plan_nodes(
    workspace: &Workspace,
    graph: &plan::Graph,
    tiers: &Tiers,
    options: &BuildOptions,
) -> Result<Vec<Planned>, CliError> {
    let forced = forced_nodes(graph, options)?;
    let mut hashes: HashMap<String, String> = HashMap::new();
    let mut planned = Vec::new();
    for index in graph.ordered() {
        let node = key(&graph.dag[index]);
        let flavor = workspace
            .flavor(&node.flavor)
            .expect("planned flavors exist");
        let step = flavor
            .step(&node.step)
            .expect("planned steps exist")
            .clone();
        let deps: Vec<(String, String)> = graph
            .parents(index)
            .into_iter()
            .map(|p| {
                let dep = &graph.dag[p];
                (dep.step.clone(), hashes[&dep.id()].clone())
            })
            .collect();
        let repository = workspace.settings.repository.clone();
        let skip = workspace.settings.own_dirs();
        let flavor_name = node.flavor.clone();
        let analysis = tokio::task::spawn_blocking(move || {
            analyze(&repository, &flavor_name, &step, &deps, skip)
        })
        .await
        .map_err(|e| CliError::Internal(e.to_string()))??;
        let (source, warnings) = tiers
            .locate(
                &analysis,
                forced.contains(&node.step_id()),
                options.force_pull,
            )
            .await;
        hashes.insert(node.step_id(), analysis.hash.clone());
        planned.push(Planned {
            node: format!("{}/{}", node.flavor, node.step),
            image: analysis.image,
            hash: analysis.hash,
            source,
            warnings,
        });
    }
    Ok(planned)
}

/// The cache tiers of the workspace, with a connected daemon.
pub async fn tiers(workspace: &Workspace) -> Result<Tiers, CliError> {
    Ok(Tiers {
        daemon: Daemon::connect().await.map_err(BuildError::from)?,
        cache_dir: workspace.settings.cache_dir.clone(),
        registry: workspace
            .settings
            .registry
            .as_ref()
            .map(|r| r.value.clone()),
        registry_failed: Default::default(),
    })
}

/// Builds the graph of `args`' selection; `command` names the job record. Prints the
/// summary table and every failure; fails if any node failed.
pub async fn run(
    workspace: Workspace,
    args: &BuildArgs,
    command: &str,
    console: Console,
) -> Result<(), CliError> {
    let graph = plan::build_graph(&workspace, &args.select.selection())?;
    let cancel = super::interrupt::interruptible();
    execute(workspace, &graph, args, command, console, cancel)
        .await
        .map(|_| ())
}

/// Runs `graph` until done or `cancel` (the interrupt) trips; the report is returned
/// only when every node succeeded.
pub async fn execute(
    workspace: Workspace,
    graph: &plan::Graph,
    args: &BuildArgs,
    command: &str,
    console: Console,
    cancel: CancellationToken,
) -> Result<Report<BuildNode, BuildOutput>, CliError> {
    let options = args.options();
    let forced = forced_nodes(graph, &options)?;
    if options.push && workspace.settings.registry.is_none() {
        return Err(CliError::NoRegistry {
            what: if command == "push" {
                "`kiln push`".to_owned()
            } else {
                "`--push`".to_owned()
            },
        });
    }
    let tiers = tiers(&workspace).await?;
    if options.no_build {
        let planned = plan_nodes(&workspace, graph, &tiers, &options).await?;
        let missing: Vec<String> = planned
            .iter()
            .filter(|p| p.source == Source::Built)
            .map(|p| format!("{} ({})", p.node, p.image))
            .collect();
        if !missing.is_empty() {
            return Err(BuildError::NoBuild { images: missing }.into());
        }
    }
    let job = job_record(&workspace, command)?;
    let jobs = job_limit(args.jobs, &workspace);
    let executor = Arc::new(BuildExecutor {
        workspace: Arc::new(workspace),
        tiers,
        forced,
        options,
        job: job.clone(),
    });
    let subscribers = subscribers(&job, args.json, console);
    let report = engine::run(
        run_graph(graph),
        executor,
        Options {
            jobs,
            keep_going: args.keep_going,
        },
        cancel,
        subscribers,
    )
    .await;
    let summary = Summary::from_report(&report);
    if let Err(e) = job.write_json(&job.dir.join("summary.json"), &summary) {
        tracing::warn!("cannot write the summary: {e}");
    }
    let mut err = std::io::stderr().lock();
    if !args.json && !console.quiet {
        let _ = write!(err, "\n{}", summary.table());
        let _ = writeln!(err, "job record: {}", job.dir.display());
    }
    for (node, error) in report.failures() {
        let _ = write!(
            err,
            "\n{} failed:\n{}",
            node.value.step_id(),
            render_failure(error, console.color)
        );
    }
    drop(err);
    if report.cancelled {
        return Err(CliError::Interrupted);
    }
    let failed = summary.count("failed");
    if failed > 0 {
        return Err(CliError::Failed {
            failed,
            total: summary.nodes.len(),
        });
    }
    Ok(report)
}

/// A failed node's error: the diagnostic that caused it (code, labels, help) rather than
/// the wrapper repeating its message, then the path of the full log.
pub(super) fn render_failure(error: &NodeError, color: bool) -> String {
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

/// A new job record for `command` in the workspace's job-dir.
pub(super) fn job_record(workspace: &Workspace, command: &str) -> Result<JobRecord, CliError> {
    JobRecord::create(&workspace.settings.job_dir, command).map_err(|e| CliError::JobRecord {
        path: workspace.settings.job_dir.clone(),
        reason: e.to_string(),
    })
}

/// The job limit: `--jobs`, else kiln.kdl's `jobs`, else the number of CPUs.
pub(super) fn job_limit(jobs: Option<usize>, workspace: &Workspace) -> usize {
    jobs.or(workspace.settings.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}

/// Who hears a run's events: the job record's `events.jsonl`, and the console (JSON
/// lines with `--json`, progress otherwise, nothing with `-q`).
pub(super) fn subscribers(
    job: &JobRecord,
    json: bool,
    console: Console,
) -> Vec<Box<dyn Subscriber>> {
    let mut subscribers: Vec<Box<dyn Subscriber>> = Vec::new();
    match JsonLines::file(&job.dir.join("events.jsonl")) {
        Ok(recorder) => subscribers.push(Box::new(recorder)),
        Err(e) => tracing::warn!("cannot record events in {}: {e}", job.dir.display()),
    }
    if json {
        subscribers.push(Box::new(JsonLines::stdout()));
    } else if !console.quiet {
        subscribers.push(Box::new(Progress::new(console.color)));
    }
    subscribers
}
