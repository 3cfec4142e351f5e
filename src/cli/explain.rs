//! `kiln explain NODE…`: why each step's image comes from where it comes from, or why
//! it would be built; why each entity's result would come from the result cache, or
//! why it would run (src/explain/).

use std::io::Write;

use clap::Args;

use super::error::CliError;
use super::execute::tiers;
use crate::check::Entity;
use crate::explain::{History, explain, explain_entity};
use crate::model::{CheckId, StepId, Workspace};
use crate::report::printable;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Steps (FLAVOR/STEP, e.g. slc/release) or entities (FLAVOR/CHECK/KEY, e.g.
    /// checkenv/entities/hello) to explain
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// One JSON object per node, one per line, instead of text
    #[arg(long)]
    pub json: bool,
    /// For entities: the user checks run as (`uid:gid`, as `kiln check --user`;
    /// default: yours)
    #[arg(long, value_name = "UID:GID", value_parser = super::values::user)]
    pub user: Option<String>,
}

/// A node the command line names.
enum Named {
    Step(StepId),
    Entity(CheckId, Box<Entity>),
}

pub async fn run(
    workspace: Workspace,
    args: &ExplainArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let named = args
        .nodes
        .iter()
        .map(|node| resolve(&workspace, node))
        .collect::<Result<Vec<_>, _>>()?;
    let tiers = tiers(&workspace).await?;
    let history = History::read(
        &workspace.settings.job_dir,
        Some(&tiers.daemon),
        &workspace.settings.repository,
    )
    .await
    .map_err(crate::explain::ExplainError::from)?;
    let bases = crate::build::Bases::of_workspace(&workspace, &tiers.daemon)
        .await
        .map_err(crate::explain::ExplainError::from)?;
    let user = args
        .user
        .clone()
        .unwrap_or_else(crate::check::runner::host_user);
    for node in &named {
        let (json, text) = match node {
            Named::Step(id) => {
                let explanation = explain(&workspace, &tiers, &history, &bases, id).await?;
                (serde_json::to_string(&explanation), explanation.text())
            }
            Named::Entity(check, entity) => {
                let explanation = explain_entity(
                    &workspace,
                    &tiers.daemon,
                    &history,
                    &bases,
                    check,
                    entity,
                    user.clone(),
                )
                .await?;
                (serde_json::to_string(&explanation), explanation.text())
            }
        };
        if args.json {
            writeln!(out, "{}", json.map_err(std::io::Error::other)?)?;
        } else {
            // It names the files of entity folders, which are contributed.
            write!(out, "{}", printable(&text))?;
        }
    }
    Ok(())
}

/// A step (`flavor/step`) or an entity (`flavor/check/key`) the workspace declares;
/// anything else is an unknown node with a did-you-mean.
fn resolve(workspace: &Workspace, node: &str) -> Result<Named, CliError> {
    let mut parts = node.splitn(3, '/');
    let (flavor, middle, key) = (parts.next(), parts.next(), parts.next());
    if let (Some(flavor), Some(name), Some(key)) = (flavor, middle, key) {
        return entity(workspace, CheckId::new(flavor, name), key, node);
    }
    if let (Some(flavor), Some(step)) = (flavor, middle) {
        let id = StepId::new(flavor, step);
        if workspace.find_step(&id).is_some() {
            return Ok(Named::Step(id));
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
    Err(CliError::UnknownNode {
        name: node.to_owned(),
        help: crate::config::suggest_help(node, &names, "steps"),
    })
}

/// Entity `key` of check `check`, found as a run finds it.
fn entity(workspace: &Workspace, check: CheckId, key: &str, node: &str) -> Result<Named, CliError> {
    let Some(declaration) = workspace.find_check(&check) else {
        let known: Vec<String> = workspace
            .flavors
            .iter()
            .flat_map(|f| {
                f.checks
                    .iter()
                    .map(|c| format!("{}/{}", f.name.value, c.name.value))
            })
            .collect();
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        return Err(CliError::UnknownCheck {
            name: check.to_string(),
            help: crate::config::suggest_help(&check.to_string(), &names, "checks"),
        });
    };
    let entities = crate::check::discover(&workspace.root, declaration)?;
    let nodes: Vec<String> = entities
        .iter()
        .map(|e| format!("{check}/{}", e.key))
        .collect();
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let help = crate::config::suggest_help(node, &names, "entities");
    match entities.iter().find(|e| e.key == key) {
        Some(found) => Ok(Named::Entity(check, Box::new(found.clone()))),
        None => Err(CliError::UnknownNode {
            name: node.to_owned(),
            help,
        }),
    }
}
