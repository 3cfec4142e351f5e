//! `kiln watch NAME`: run a workflow, then rerun it whenever an input's content changes.
//!
//! Each change (after the debounce) reloads the configuration when a KDL file changed,
//! rehashes every step and entity, and reruns the workflow only if a hash changed — a
//! save without a content change reruns nothing. Inside a rerun, unchanged steps come
//! from the daemon and unchanged entities from the result cache, so only the changed
//! nodes and their dependents do work. A change during a run cancels it and starts over.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::execute::{Console, RunOptions, execute};
use super::interrupt::interruptible;
use super::output::render;
use super::{Cli, CliError};
use crate::check::CheckOptions;
use crate::model::Workspace;
use crate::plan::Plan;
use crate::report::printable;
use crate::watch::{Changes, Decision, Inputs, State, Storm, decide, state, supersedes};
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
            // The files that triggered a cycle are named: names in a data repository
            // are contributed.
            let _ = writeln!(std::io::stderr().lock(), "watch: {}", printable(&text()));
        }
    }
}

pub async fn run(
    cli: &Cli,
    args: &WatchArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    // Mistakes of the command line (no workspace, an unknown workflow or parameter)
    // end watch at once; a configuration that does not load is waited on.
    let root = super::root(cli)?;
    // Changed paths come under the canonical roots the workspace was loaded from.
    let workspace_root = root.canonicalize().unwrap_or(root);
    if let Err(error) = prepare(cli, args)
        && !matches!(error, CliError::Config(_))
    {
        return Err(error);
    }
    let mut watch = Watch {
        cli,
        args,
        console,
        verbose,
        say: Say {
            json: args.json,
            quiet: console.quiet,
        },
        interrupt: interruptible(),
        changes: Changes::new(Duration::from_millis(args.debounce))
            .map_err(|e| CliError::Internal(format!("cannot watch files: {e}")))?,
        storm: Storm::new(args.storm, Duration::from_secs(args.storm_window)),
        workspace_root,
        last: None,
        cycle: 0,
        warm: false,
        state_dir: None,
    };
    let result = watch.run().await;
    // The check containers stay warm between cycles; not after watch.
    if watch.warm
        && let Some(state_dir) = &watch.state_dir
        && let Ok(daemon) = crate::docker::Daemon::connect().await
        && let Err(e) = crate::check::docker::remove_environments(
            &daemon,
            &watch.workspace_root,
            state_dir,
            None,
        )
        .await
    {
        tracing::warn!("{e}");
    }
    result
}

/// The watch loop and what it keeps between turns.
struct Watch<'a> {
    cli: &'a Cli,
    args: &'a WatchArgs,
    console: Console,
    verbose: bool,
    say: Say,
    interrupt: CancellationToken,
    changes: Changes,
    storm: Storm,
    workspace_root: PathBuf,
    /// The state the last finished cycle ran on.
    last: Option<State>,
    cycle: u64,
    /// Whether a cycle ran, and may have left environment containers running.
    warm: bool,
    /// The workspace's state folder, once it loaded (where container leases are).
    state_dir: Option<PathBuf>,
}

impl Watch<'_> {
    /// Looks (decides and applies), collects the next change, and again, until
    /// interrupted.
    async fn run(&mut self) -> Result<(), CliError> {
        // What set a look off: nothing at first, then changed files.
        let mut trigger = Vec::new();
        loop {
            let superseded = self.look(&trigger).await?;
            trigger = self.collect(superseded).await?;
        }
    }

    /// Decides what the workspace as it loads now means, and applies it; the change
    /// that superseded the cycle it ran, if one did.
    async fn look(&mut self, trigger: &[PathBuf]) -> Result<Option<Vec<PathBuf>>, CliError> {
        let (workspace, work) = match prepare(self.cli, self.args) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.wait_for_fix(&error);
                return Ok(None);
            }
        };
        self.changes.follow(Inputs::of(&workspace, &work));
        self.state_dir = Some(workspace.settings.state_dir.clone());
        let now = state(&workspace, &work);
        let files = shown(&self.workspace_root, trigger);
        match decide(&now, self.last.as_ref()) {
            Decision::NothingChanged => {
                self.say
                    .say("nothing-changed", json!({ "trigger": files }), || {
                        format!("{}: no content changed, nothing to do", files.join(", "))
                    });
                Ok(None)
            }
            Decision::Run { changed } => {
                self.cycle += 1;
                self.warm = true;
                let (cycle, name) = (self.cycle, &self.args.name);
                self.say.say(
                    "cycle-started",
                    json!({ "cycle": cycle, "trigger": files, "changed": changed }),
                    || {
                        if files.is_empty() {
                            format!("cycle {cycle}: running {name}")
                        } else {
                            let files = files.join(", ");
                            format!("cycle {cycle}: {files} changed; rerunning {name}")
                        }
                    },
                );
                self.apply_cycle(workspace, work, now).await
            }
        }
    }

    /// Until a configuration first loads, the whole workspace is watched, for the fix.
    fn wait_for_fix(&mut self, error: &CliError) {
        self.changes.watch_workspace(&self.workspace_root);
        let diagnostics = config_diagnostics(error);
        let messages: Vec<&serde_json::Value> = diagnostics.iter().map(|d| &d["message"]).collect();
        self.say.say(
            "config-error",
            json!({ "errors": messages, "diagnostics": diagnostics }),
            || "the configuration has errors; waiting for a fix".to_owned(),
        );
        if !self.args.json {
            eprint!("{}", render(error, self.console.color));
        }
    }

    /// Runs a cycle on `now` and says how it ended.
    async fn apply_cycle(
        &mut self,
        workspace: Workspace,
        work: Plan,
        now: State,
    ) -> Result<Option<Vec<PathBuf>>, CliError> {
        let cycle = self.cycle;
        let run = Cycle {
            cli: self.cli,
            args: self.args,
            verbose: self.verbose,
            console: self.console,
            started: &now,
            brief: self.last.is_some(),
        };
        match run
            .apply(workspace, &work, &mut self.changes, &self.interrupt)
            .await
        {
            CycleEnd::Interrupted => Err(self.stopped()),
            CycleEnd::Superseded(paths) => {
                let files = shown(&self.workspace_root, &paths);
                self.say.say(
                    "cycle-cancelled",
                    json!({ "cycle": cycle, "trigger": files }),
                    || {
                        format!(
                            "cycle {cycle} cancelled: {} changed meanwhile",
                            files.join(", ")
                        )
                    },
                );
                Ok(Some(paths))
            }
            CycleEnd::Finished(outcome) => {
                let outcome = *outcome;
                let ok = outcome.is_ok();
                // Failing entities were listed as they failed: a count says the rest.
                let failing = match &outcome {
                    Err(CliError::ChecksFailed { failing, total }) => {
                        Some(format!(": {failing} of {total} entities failing"))
                    }
                    _ => None,
                };
                if let Err(error) = &outcome
                    && failing.is_none()
                    && !self.args.json
                {
                    eprint!("{}", render(error, self.console.color));
                }
                self.say.say(
                    "cycle-finished",
                    json!({ "cycle": cycle, "ok": ok }),
                    || {
                        let failures = match &failing {
                            Some(failing) => failing.as_str(),
                            None if ok => "",
                            None => " with failures",
                        };
                        format!("cycle {cycle} done{failures}; waiting for changes")
                    },
                );
                self.last = Some(now);
                Ok(None)
            }
        }
    }

    /// The next trigger: the change that superseded the run, without waiting, or the
    /// next change that matters. Both count toward a storm: a check writing into its
    /// own inputs would otherwise cancel and restart its cycle for ever.
    async fn collect(
        &mut self,
        superseded: Option<Vec<PathBuf>>,
    ) -> Result<Vec<PathBuf>, CliError> {
        let mut trigger = match superseded {
            Some(paths) => paths,
            None => match self.changes.next(&self.interrupt).await {
                Some(paths) => paths,
                None => return Err(self.stopped()),
            },
        };
        if self.storm.trigger(Instant::now()) {
            let files = shown(&self.workspace_root, &trigger);
            let window = self.storm.window().as_secs();
            self.say.say("paused", json!({ "trigger": files }), || {
                format!(
                    "paused: too many changes in {window}s ({}); resuming after {window}s of quiet",
                    files.join(", "),
                )
            });
            match self
                .changes
                .until_quiet(self.storm.window(), &self.interrupt)
                .await
            {
                Some(more) => trigger.extend(more),
                None => return Err(self.stopped()),
            }
            self.storm.reset();
            self.say.say("resumed", json!({}), || "resumed".to_owned());
        }
        Ok(trigger)
    }

    fn stopped(&self) -> CliError {
        let cycle = self.cycle;
        self.say.say("stopped", json!({ "cycle": cycle }), || {
            "interrupted".to_owned()
        });
        CliError::Interrupted
    }
}

/// How a cycle ended.
enum CycleEnd {
    /// It ran to the end, with this outcome.
    /// Boxed: a summary is large, the other ends are small.
    Finished(Box<Result<crate::report::Summary, CliError>>),
    /// A change of content cancelled it; these paths changed.
    Superseded(Vec<PathBuf>),
    /// The user stopped watch.
    Interrupted,
}

/// One run of the workflow, cancelled by a change that supersedes it.
struct Cycle<'a> {
    cli: &'a Cli,
    args: &'a WatchArgs,
    verbose: bool,
    console: Console,
    /// The state the cycle runs on.
    started: &'a State,
    /// Show only what the cycle did (after the first cycle that finished, which shows
    /// everything).
    brief: bool,
}

impl Cycle<'_> {
    async fn apply(
        &self,
        workspace: Workspace,
        work: &Plan,
        changes: &mut Changes,
        interrupt: &CancellationToken,
    ) -> CycleEnd {
        let cancel = interrupt.child_token();
        let options = RunOptions {
            jobs: self.args.jobs,
            keep_going: true,
            json: self.args.json,
            check: CheckOptions::default(),
            keep_env: true,
            verbose: self.verbose,
            brief: self.brief,
            ..RunOptions::default()
        };
        let command = format!("watch-{}", self.args.name);
        let run = execute(
            workspace,
            work,
            &options,
            &command,
            self.console,
            cancel.clone(),
        );
        tokio::pin!(run);
        let mut superseded: Vec<PathBuf> = Vec::new();
        let outcome = loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                paths = changes.next(interrupt) => match paths {
                    // Cancelled already: whatever else changes is part of the next trigger.
                    Some(paths) if cancel.is_cancelled() => superseded.extend(paths),
                    Some(paths) => {
                        let now = prepare(self.cli, self.args)
                            .ok()
                            .map(|(w, plan)| state(&w, &plan));
                        if supersedes(self.started, now.as_ref()) {
                            cancel.cancel();
                            superseded.extend(paths);
                        }
                    }
                    // Interrupted: the run stops on its own (its token is a child).
                    None => break (&mut run).await,
                },
            }
        };
        if interrupt.is_cancelled() {
            CycleEnd::Interrupted
        } else if !superseded.is_empty() {
            CycleEnd::Superseded(superseded)
        } else {
            CycleEnd::Finished(Box::new(outcome))
        }
    }
}

/// Loads the workspace and compiles the workflow.
fn prepare(cli: &Cli, args: &WatchArgs) -> Result<(Workspace, Plan), CliError> {
    let workspace = super::load(cli)?;
    let work = workflow::plan(&workspace, &args.name, &args.sets)?;
    Ok((workspace, work))
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
