//! `kiln plan`: the analysis of `kiln build` — each node's hash, image and the tier it
//! would come from — without pulling, loading or building anything: the build's plan,
//! run with the planning-only policy.

use std::io::Write;

use clap::Args;

use super::CliError;
use super::build::{CacheArgs, SelectArgs};
use super::execute::{Console, RunOptions, execute};
use super::output::plural;
use crate::build::{BuildPolicy, Source};
use crate::cache::ResultSource;
use crate::model::{CheckId, Workspace};
use crate::plan::{self, Plan};
use crate::report::{Outcome, printable};

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Also plan the checks of the selected flavors: per entity, whether its result
    /// would come from the result cache, the registry, or a run
    #[arg(long)]
    pub checks: bool,
}

/// What `kiln plan --json` shows for a node.
#[derive(Debug, Clone, serde::Serialize)]
struct Planned<'a> {
    node: &'a str,
    image: &'a str,
    hash: &'a str,
    /// Where the image would come from: `daemon`, `file`, `registry` or `built`;
    /// `shortcut`; an entity's `cache`, `registry` or `run`; `failed`, `skipped`.
    source: Outcome,
    /// Why a `shortcut` image is left where it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    warnings: &'a [String],
}

pub async fn run(
    workspace: Workspace,
    args: &PlanArgs,
    console: Console,
    out: &mut dyn Write,
    err: &mut impl Write,
) -> Result<(), CliError> {
    // A check template naming a field no entity has fails its entities in any run of
    // these flavors: said before anything is analysed, as `kiln validate` does.
    let flavors = plan::flavors(&workspace, &args.select.flavors)?;
    let checks = super::validate::fields(&workspace, flavors.clone(), console, err)?;
    if !checks.is_empty() {
        return Err(CliError::Preflight {
            dockerfiles: Vec::new(),
            checks,
        });
    }
    let plan = Plan {
        build: plan::step_targets(&workspace, &args.select.selection())?,
        force: args.cache.force(),
        checks: if args.checks {
            flavors
                .iter()
                .flat_map(|f| {
                    f.checks
                        .iter()
                        .map(|c| CheckId::new(f.name.value.clone(), c.name.value.clone()))
                })
                .collect()
        } else {
            Vec::new()
        },
        ..Plan::default()
    };
    let options = RunOptions {
        build: BuildPolicy {
            force_pull: args.cache.force_pull,
            no_build: false,
            plan_only: true,
            shortcut: args.cache.shortcut,
        },
        ..RunOptions::default()
    };
    let cancel = super::interrupt::interruptible();
    let summary = execute(workspace, &plan, &options, "plan", console, cancel).await?;
    // Steps and entities; not the checks' discovery and record nodes.
    let planned: Vec<Planned> = summary
        .nodes
        .iter()
        .filter(|row| row.image.is_some() || row.result != Outcome::Done)
        .map(|row| Planned {
            node: &row.node,
            image: row.image.as_deref().unwrap_or_default(),
            hash: row.hash.as_deref().unwrap_or_default(),
            source: row.result,
            detail: row.detail.as_deref(),
            warnings: &row.warnings,
        })
        .collect();
    let failed = planned
        .iter()
        .filter(|p| p.source == Outcome::Failed)
        .count();
    let failure = (failed > 0).then_some(CliError::Failed {
        failed,
        total: planned.len(),
    });
    if args.json {
        let text =
            serde_json::to_string_pretty(&serde_json::json!({ "format": 1, "nodes": planned }))
                .map_err(|e| CliError::Internal(e.to_string()))?;
        writeln!(out, "{text}")?;
        return failure.map_or(Ok(()), Err);
    }
    let width = planned
        .iter()
        .map(|p| p.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out, "{:<width$}  {:<8}  image", "node", "from")?;
    for p in &planned {
        let from = match p.source {
            Outcome::Image(Source::Built) => "build",
            other => other.as_str(),
        };
        writeln!(out, "{:<width$}  {:<8}  {}", p.node, from, p.image)?;
        if let Some(detail) = p.detail {
            writeln!(out, "{:<width$}  {}", "", printable(detail))?;
        }
        for warning in p.warnings {
            writeln!(out, "{:<width$}  warning: {}", "", printable(warning))?;
        }
    }
    let builds = planned.iter().filter(|p| p.source.built()).count();
    // Where the planned entities' results would come from: cache, registry, run.
    let (mut cached, mut registry, mut run) = (0, 0, 0);
    for p in &planned {
        if let Outcome::Planned(source) = p.source {
            *match source {
                ResultSource::Cache => &mut cached,
                ResultSource::Registry => &mut registry,
                ResultSource::Run => &mut run,
            } += 1;
        }
    }
    if cached + registry + run > 0 {
        writeln!(
            out,
            "{}: {cached} from the result cache, {registry} from the registry, {run} to run",
            plural(cached + registry + run, "entity", "entities"),
        )?;
    }
    writeln!(
        out,
        "{}, {builds} to build",
        plural(planned.len(), "node", "nodes")
    )?;
    failure.map_or(Ok(()), Err)
}
