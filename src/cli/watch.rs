//! `kiln watch NAME`: run a workflow, then rerun it whenever an input's content changes.
//!
//! Each change (after the debounce) reloads the configuration when a KDL file changed,
//! rehashes every step and entity, and reruns the workflow only if a hash changed — a
//! save without a content change reruns nothing. Inside a rerun, unchanged steps come
//! from the daemon and unchanged entities from the result cache, so only the changed
//! nodes and their dependents do work. A change during a run cancels it and starts over.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use serde_json::json;
use tokio::sync::mpsc;

use super::execute::{Console, RunOptions, execute};
use super::interrupt::interruptible;
use super::output::render;
use super::{Cli, CliError};
use crate::check::CheckOptions;
use crate::model::Workspace;
use crate::plan::Plan;
use crate::watch::{Inputs, State, Storm, changed, state};
use crate::workflow;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The workflow to run on every change
    #[arg(value_name = "WORKFLOW")]
    pub name: String,
    /// Set a parameter (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Wait this long after the last change before rerunning (milliseconds)
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub debounce: u64,
    /// Pause when more than this many changes arrive within --storm-window
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub storm: usize,
    /// The window of --storm, and the quiet time that ends a pause (seconds)
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub storm_window: u64,
    /// At most this many nodes at once
    #[arg(long, short = 'j', value_name = "N", value_parser = super::values::jobs)]
    pub jobs: Option<usize>,
    /// One JSON object per line on stdout: watch cycles and node events
    #[arg(long)]
    pub json: bool,
}

/// Prints watch-level news: a line on stderr, or a JSON object on stdout.
struct Say {
    json: bool,
    quiet: bool,
}

impl Say {
    fn say(&self, kind: &str, fields: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            let mut object = json!({ "watch": kind });
            if let (Some(o), serde_json::Value::Object(extra)) = (object.as_object_mut(), fields) {
                o.extend(extra);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{object}");
            let _ = out.flush();
        } else if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "watch: {}", text());
        }
    }
}

pub async fn run(
    cli: &Cli,
    args: &WatchArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    let mut root = None;
    let result = watch(cli, args, console, verbose, &mut root).await;
    // The check containers stay warm between cycles; not after watch.
    if let Some(root) = root
        && let Ok(daemon) = crate::docker::Daemon::connect().await
        && let Err(e) =
            crate::check::pool::Pool::remove_all(&daemon, &crate::check::pool::owner(&root)).await
    {
        tracing::warn!("{e}");
    }
    result
}

async fn watch(
    cli: &Cli,
    args: &WatchArgs,
    console: Console,
    verbose: bool,
    root: &mut Option<PathBuf>,
) -> Result<(), CliError> {
    let say = Say {
        json: args.json,
        quiet: console.quiet,
    };
    let interrupt = interruptible();
    let (sender, mut events) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut debouncer = new_debouncer(
        Duration::from_millis(args.debounce),
        None,
        move |result: DebounceEventResult| {
            if let Ok(batch) = result {
                let paths: Vec<PathBuf> = batch
                    .into_iter()
                    .filter(|e| e.kind.is_create() || e.kind.is_modify() || e.kind.is_remove())
                    .flat_map(|e| e.event.paths)
                    .collect();
                if !paths.is_empty() {
                    let _ = sender.send(paths);
                }
            }
        },
    )
    .map_err(|e| CliError::Internal(format!("cannot watch files: {e}")))?;

    let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
    let mut inputs: Option<Inputs> = None;
    let mut last: Option<State> = None;
    let mut storm = Storm::new(args.storm, Duration::from_secs(args.storm_window));
    let mut trigger: Vec<PathBuf> = Vec::new();
    let mut cycle = 0u64;
    // Set when a change superseded a run: it is the next trigger, without waiting.
    let mut pending = false;
    let stopped = |cycle: u64| {
        say.say("stopped", json!({ "cycle": cycle }), || {
            "interrupted".to_owned()
        });
        Err(CliError::Interrupted)
    };
    // Mistakes of the command line (no workspace, an unknown workflow or parameter)
    // end watch at once; a configuration that does not load is waited on.
    let workspace_root = super::root(cli)?;
    if let Err(error) = prepare(cli, args)
        && !matches!(error, CliError::Config(_))
    {
        return Err(error);
    }
    loop {
        // Load, compile and hash what is there now.
        match prepare(cli, args) {
            Err(error) => {
                // Until the configuration first loads nothing is watched but the
                // workspace itself, for the fix.
                if watched.is_empty()
                    && debouncer
                        .watch(&workspace_root, RecursiveMode::Recursive)
                        .is_ok()
                {
                    watched.insert(workspace_root.clone());
                }
                let diagnostics = config_diagnostics(&error);
                let messages: Vec<&serde_json::Value> =
                    diagnostics.iter().map(|d| &d["message"]).collect();
                say.say(
                    "config-error",
                    json!({ "errors": messages, "diagnostics": diagnostics }),
                    || "the configuration has errors; waiting for a fix".to_owned(),
                );
                if !args.json {
                    eprint!("{}", render(&error, console.color));
                }
            }
            Ok((workspace, work)) => {
                let root_dir = workspace.root.clone();
                let now = state(&workspace, &work);
                let wanted = Inputs::of(&workspace, &work);
                let roots: BTreeSet<PathBuf> = wanted.roots.clone();
                for gone in watched.difference(&roots) {
                    let _ = debouncer.unwatch(gone);
                }
                for new in roots.difference(&watched) {
                    if let Err(e) = debouncer.watch(new, RecursiveMode::Recursive) {
                        tracing::warn!("cannot watch {}: {e}", new.display());
                    }
                }
                watched = roots;
                inputs = Some(wanted);
                *root = Some(root_dir.clone());
                let differs = last.as_ref().map(|old| changed(old, &now));
                match differs {
                    Some(ids) if ids.is_empty() => {
                        let files = shown(&root_dir, &trigger);
                        say.say("nothing-changed", json!({ "trigger": files }), || {
                            format!("{}: no content changed, nothing to do", files.join(", "))
                        });
                    }
                    _ => {
                        cycle += 1;
                        let files = shown(&root_dir, &trigger);
                        let ids = differs.unwrap_or_default();
                        say.say(
                            "cycle-started",
                            json!({ "cycle": cycle, "trigger": files, "changed": ids }),
                            || {
                                if files.is_empty() {
                                    format!("cycle {cycle}: running {}", args.name)
                                } else {
                                    format!(
                                        "cycle {cycle}: {} changed; rerunning {}",
                                        files.join(", "),
                                        args.name
                                    )
                                }
                            },
                        );
                        let cancel = interrupt.child_token();
                        let options = RunOptions {
                            jobs: args.jobs,
                            keep_going: true,
                            json: args.json,
                            check: CheckOptions::default(),
                            keep_env: true,
                            verbose,
                            ..RunOptions::default()
                        };
                        let command = format!("watch-{}", args.name);
                        let run = execute(
                            workspace,
                            &work,
                            &options,
                            &command,
                            console,
                            cancel.clone(),
                        );
                        tokio::pin!(run);
                        let mut superseded: Vec<PathBuf> = Vec::new();
                        let outcome = loop {
                            tokio::select! {
                                outcome = &mut run => break outcome,
                                Some(paths) = events.recv() => {
                                    let paths = wanted_paths(inputs.as_ref(), paths);
                                    // Only a change of content supersedes the run (a check
                                    // creating a folder for its artifacts does not).
                                    if !paths.is_empty() && !cancel.is_cancelled() && supersedes(cli, args, &now) {
                                        cancel.cancel();
                                        superseded.extend(paths);
                                    } else if cancel.is_cancelled() {
                                        superseded.extend(paths);
                                    }
                                }
                            }
                        };
                        if interrupt.is_cancelled() {
                            return stopped(cycle);
                        }
                        if !superseded.is_empty() {
                            let files = shown(&root_dir, &superseded);
                            say.say(
                                "cycle-cancelled",
                                json!({ "cycle": cycle, "trigger": files }),
                                || {
                                    format!(
                                        "cycle {cycle} cancelled: {} changed meanwhile",
                                        files.join(", ")
                                    )
                                },
                            );
                            trigger = superseded;
                            pending = true;
                        } else {
                            let ok = outcome.is_ok();
                            if let Err(error) = &outcome
                                && !args.json
                            {
                                eprint!("{}", render(error, console.color));
                            }
                            say.say(
                                "cycle-finished",
                                json!({ "cycle": cycle, "ok": ok }),
                                || {
                                    format!(
                                        "cycle {cycle} done{}; waiting for changes",
                                        if ok { "" } else { " with failures" }
                                    )
                                },
                            );
                            last = Some(now);
                        }
                    }
                }
            }
        }
        // Wait for the next wanted change, unless one superseded the run. Both count
        // toward a storm: a check writing into its own inputs would otherwise cancel
        // and restart its cycle for ever.
        if !std::mem::take(&mut pending) {
            trigger = tokio::select! {
                paths = next_change(&mut events, inputs.as_ref()) => paths,
                () = interrupt.cancelled() => return stopped(cycle),
            };
        }
        if storm.trigger(Instant::now()) {
            let files = shown(root.as_deref().unwrap_or(Path::new("")), &trigger);
            say.say("paused", json!({ "trigger": files }), || {
                format!(
                    "paused: too many changes in {}s ({}); resuming after {}s of quiet",
                    storm.window().as_secs(),
                    files.join(", "),
                    storm.window().as_secs()
                )
            });
            loop {
                tokio::select! {
                    more = events.recv() => match more {
                        Some(paths) => trigger.extend(wanted_paths(inputs.as_ref(), paths)),
                        None => return Ok(()),
                    },
                    () = tokio::time::sleep(storm.window()) => break,
                    () = interrupt.cancelled() => return stopped(cycle),
                }
            }
            storm.reset();
            say.say("resumed", json!({}), || "resumed".to_owned());
        }
    }
}

/// Loads the workspace and compiles the workflow.
fn prepare(cli: &Cli, args: &WatchArgs) -> Result<(Workspace, Plan), CliError> {
    let workspace = super::load(cli)?;
    let work = workflow::plan(&workspace, &args.name, &args.sets)?;
    Ok((workspace, work))
}

/// Whether the workspace no longer matches `state`: its hashes changed, or its
/// configuration no longer loads.
fn supersedes(cli: &Cli, args: &WatchArgs, state_then: &State) -> bool {
    match prepare(cli, args) {
        Ok((workspace, work)) => !changed(state_then, &state(&workspace, &work)).is_empty(),
        Err(_) => true,
    }
}

/// Waits for a batch of changes that matter; config files always do.
async fn next_change(
    events: &mut mpsc::UnboundedReceiver<Vec<PathBuf>>,
    inputs: Option<&Inputs>,
) -> Vec<PathBuf> {
    loop {
        match events.recv().await {
            Some(paths) => {
                let paths = wanted_paths(inputs, paths);
                if !paths.is_empty() {
                    return paths;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

fn wanted_paths(inputs: Option<&Inputs>, paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| inputs.is_none_or(|i| i.wants(p)) || p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

fn shown(root: &Path, paths: &[PathBuf]) -> Vec<String> {
    let mut shown: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .collect();
    shown.sort();
    shown.dedup();
    shown
}

/// Each configuration error with its code and where it points (file, 1-based line and
/// column), for tools following `--json`.
fn config_diagnostics(error: &CliError) -> Vec<serde_json::Value> {
    use miette::Diagnostic;
    let one = |d: &dyn Diagnostic| {
        let mut value = json!({
            "code": d.code().map(|c| c.to_string()),
            "message": d.to_string(),
        });
        let place = d
            .labels()
            .and_then(|mut labels| labels.next())
            .zip(d.source_code())
            .and_then(|(label, source)| source.read_span(label.inner(), 0, 0).ok())
            .map(|span| {
                json!({
                    "file": span.name(),
                    "line": span.line() + 1,
                    "column": span.column() + 1,
                })
            });
        if let (Some(object), Some(serde_json::Value::Object(place))) =
            (value.as_object_mut(), place)
        {
            object.extend(place);
        }
        value
    };
    match error {
        CliError::Config(errors) => errors
            .errors
            .iter()
            .map(|e| one(e as &dyn Diagnostic))
            .collect(),
        other => vec![one(other)],
    }
}
