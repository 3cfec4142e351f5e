//! `kiln explain NODE…`: why each step's image comes from where it comes from, or why
//! it would be built (src/explain/).

use std::io::Write;

use clap::Args;

use super::error::CliError;
use super::execute::tiers;
use crate::explain::{History, explain};
use crate::model::{StepId, Workspace};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Steps to explain, as FLAVOR/STEP (e.g. slc/release)
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// One JSON object per node, one per line, instead of text
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    workspace: Workspace,
    args: &ExplainArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let ids = args
        .nodes
        .iter()
        .map(|node| step_id(&workspace, node))
        .collect::<Result<Vec<_>, _>>()?;
    let tiers = tiers(&workspace).await?;
    let history = History::read(
        &workspace.settings.job_dir,
        Some(&tiers.daemon),
        &workspace.settings.repository,
    )
    .await
    .map_err(crate::explain::ExplainError::from)?;
    for id in &ids {
        let explanation = explain(&workspace, &tiers, &history, id).await?;
        if args.json {
            let line = serde_json::to_string(&explanation).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        } else {
            write!(out, "{}", explanation.text())?;
        }
    }
    Ok(())
}

/// `flavor/step` of a step the workspace declares; anything else is an unknown node
/// with a did-you-mean.
fn step_id(workspace: &Workspace, node: &str) -> Result<StepId, CliError> {
    if let Some((flavor, step)) = node.split_once('/') {
        let id = StepId::new(flavor, step);
        if workspace.find_step(&id).is_some() {
            return Ok(id);
        }
    }
    let known: Vec<String> = workspace
        .flavors
        .iter()
        .flat_map(|f| {
            f.steps
                .iter()
                .map(|s| format!("{}/{}", f.name.value, s.name.value))
        })
        .collect();
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let entity = node.matches('/').count() >= 2;
    Err(CliError::UnknownNode {
        name: node.to_owned(),
        help: if entity {
            "kiln explain explains steps (FLAVOR/STEP); a check's entities are not explained yet (`kiln results` shows each entity's latest result and its last passing run)".to_owned()
        } else {
            crate::config::suggest_help(node, &names, "steps")
        },
    })
}
