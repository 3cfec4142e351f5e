//! `kiln plan`: the analysis of `kiln build` — each node's hash, image and the tier it
//! would come from — without pulling, loading or building anything.

use std::io::Write;

use clap::Args;

use super::CliError;
use super::build::{BuildArgs, CacheArgs, SelectArgs, plan_nodes, tiers};
use crate::model::Workspace;
use crate::plan;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    workspace: &Workspace,
    args: &PlanArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let graph = plan::build_graph(workspace, &args.select.selection())?;
    let options = BuildArgs {
        cache: args.cache.clone(),
        ..BuildArgs::default()
    }
    .options();
    let tiers = tiers(workspace).await?;
    let planned = plan_nodes(workspace, &graph, &tiers, &options).await?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&serde_json::json!({ "format": 1, "nodes": planned }))
                .map_err(|e| CliError::Internal(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    let width = planned
        .iter()
        .map(|p| p.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out, "{:<width$}  {:<8}  image", "node", "from")?;
    for p in &planned {
        let from = if p.source == crate::build::Source::Built {
            "build"
        } else {
            p.source.as_str()
        };
        writeln!(out, "{:<width$}  {:<8}  {}", p.node, from, p.image)?;
        for warning in &p.warnings {
            writeln!(out, "{:<width$}  warning: {warning}", "")?;
        }
    }
    let builds = planned
        .iter()
        .filter(|p| p.source == crate::build::Source::Built)
        .count();
    writeln!(
        out,
        "{} node{}, {builds} to build",
        planned.len(),
        if planned.len() == 1 { "" } else { "s" }
    )?;
    Ok(())
}
