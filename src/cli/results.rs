//! `kiln results [KEY]`: each entity's latest result and its last passing run, from the
//! results history.

use std::io::Write;

use clap::{Args, Subcommand};

use super::CliError;
use crate::check::results::{EntityResult, History};
use crate::model::Workspace;
use crate::report::format_duration;
use crate::report::printable;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ResultsArgs {
    #[command(subcommand)]
    pub action: Option<ResultsAction>,
    /// Only this entity (default: every entity with results)
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Every recorded result of KEY, oldest first, instead of the latest
    #[arg(long, requires = "key")]
    pub history: bool,
}

/// What `kiln results` does besides showing results.
#[derive(Debug, Subcommand)]
pub enum ResultsAction {
    /// Merge the results of partitions (`--partition K/N`) into one run and its reports;
    /// fails when an entity is missing or was checked twice
    Merge(super::merge::MergeArgs),
}

pub fn run(
    workspace: &Workspace,
    args: &ResultsArgs,
    console: super::execute::Console,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(ResultsAction::Merge(merge)) = &args.action {
        return super::merge::run(workspace, merge, console, out);
    }
    let history = History::new(workspace.settings.results_dir());
    if args.history
        && let Some(key) = &args.key
    {
        return print_history(workspace, &history, key, args.json, out);
    }
    let latest = history
        .latest(args.key.as_deref())
        .map_err(|e| CliError::Internal(e.to_string()))?;
    if args.json {
        let rows: Vec<serde_json::Value> = latest
            .iter()
            .map(|l| {
                serde_json::json!({
                    "key": l.key,
                    "check": l.check,
                    "latest": l.latest,
                    "last_passing": l.last_passing,
                })
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Internal(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    if latest.is_empty() {
        match &args.key {
            Some(key) => {
                let known = known_keys(workspace, &history);
                if !known.contains(key) {
                    let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
                    return Err(CliError::UnknownEntity {
                        key: key.clone(),
                        help: crate::config::suggest_help(key, &candidates, "entity keys"),
                    });
                }
                writeln!(
                    out,
                    "no results for `{key}` yet; `kiln check {key}` makes some"
                )?;
            }
            None => writeln!(out, "no results yet; `kiln check` makes some")?,
        }
        return Ok(());
    }
    let width = latest.iter().map(|l| l.key.len()).max().unwrap_or(3).max(3);
    let check_width = latest
        .iter()
        .map(|l| l.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:<check_width$}  {:<12}  {:<20}  last passing",
        "key", "check", "latest", "date"
    )?;
    // What the history holds came from entities, fetched results and partitions' files:
    // every string of it is printed as `printable` makes it.
    for l in &latest {
        let passing = match &l.last_passing {
            Some(p) if same_run(p, &l.latest) => "this one".to_owned(),
            Some(p) => format!("{} ({})", printable(&p.date), printable(&p.environment)),
            None => "never".to_owned(),
        };
        writeln!(
            out,
            "{:<width$}  {:<check_width$}  {:<12}  {:<20}  {passing}",
            printable(&l.key),
            printable(&l.check),
            l.latest.class.to_string(),
            printable(&l.latest.date)
        )?;
        if args.key.is_some() {
            writeln!(out, "  environment: {}", printable(&l.latest.environment))?;
            if let Some(code) = l.latest.exit_code {
                writeln!(out, "  exit code: {code}")?;
            }
            if let Some(log) = &l.latest.log {
                writeln!(out, "  log: {}", printable(log))?;
            }
            for line in printable(&l.latest.output_tail).lines() {
                writeln!(out, "  │ {line}")?;
            }
        }
    }
    Ok(())
}

fn same_run(a: &EntityResult, b: &EntityResult) -> bool {
    a.date == b.date && a.class == b.class && a.image_id == b.image_id
}

/// Every entity key kiln knows of: those with results, and those the workspace's checks
/// find now (a data repository that cannot be read adds none).
fn known_keys(workspace: &Workspace, history: &History) -> std::collections::BTreeSet<String> {
    let mut known: std::collections::BTreeSet<String> = history
        .latest(None)
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.key)
        .collect();
    for check in workspace.flavors.iter().flat_map(|f| &f.checks) {
        if let Ok(entities) = crate::check::discover(&workspace.root, check) {
            known.extend(entities.into_iter().map(|e| e.key));
        }
    }
    known
}

/// `kiln results KEY --history`: a line per recorded result of `key`, oldest first.
fn print_history(
    workspace: &Workspace,
    history: &History,
    key: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let results: Vec<EntityResult> = history
        .runs()
        .map_err(|e| CliError::Internal(e.to_string()))?
        .into_iter()
        .flat_map(|run| run.results)
        .filter(|r| r.key == key)
        .collect();
    if results.is_empty() && !known_keys(workspace, history).contains(key) {
        let known = known_keys(workspace, history);
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        return Err(CliError::UnknownEntity {
            key: key.to_owned(),
            help: crate::config::suggest_help(key, &candidates, "entity keys"),
        });
    }
    if json {
        let text = serde_json::to_string_pretty(&results)
            .map_err(|e| CliError::Internal(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    if results.is_empty() {
        writeln!(
            out,
            "no results for `{key}` yet; `kiln check {key}` makes some"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<22}  {:<20}  {:<22}  {:>8}  log",
        "date", "check", "result", "time"
    )?;
    for r in &results {
        let class = if r.cached {
            format!("{} (cached)", r.class)
        } else {
            r.class.to_string()
        };
        writeln!(
            out,
            "{:<22}  {:<20}  {:<22}  {:>8}  {}",
            printable(&r.date),
            printable(&r.check),
            class,
            format_duration(std::time::Duration::from_millis(r.runtime_ms)),
            printable(r.log.as_deref().unwrap_or("-"))
        )?;
    }
    Ok(())
}
