//! `kiln clean`: removes the images kiln built for this workspace, found by label. The
//! file cache and the registry are left alone.

use std::io::Write;

use clap::{ArgGroup, Args};

use super::CliError;
use crate::build::BuildError;
use crate::docker::{Daemon, labels, split_reference};
use crate::model::Workspace;
use crate::plan;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["flavors", "all"])))]
pub struct CleanArgs {
    /// Remove the images of this flavor (name or glob; repeatable)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Remove the images of every flavor of this workspace
    #[arg(long)]
    pub all: bool,
}

pub async fn run(
    workspace: &Workspace,
    args: &CleanArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let flavors: Option<Vec<String>> = if args.all {
        None
    } else {
        Some(
            plan::flavors(workspace, &args.flavors)?
                .into_iter()
                .map(|f| f.name.value.clone())
                .collect(),
        )
    };
    let daemon = Daemon::connect().await.map_err(BuildError::from)?;
    let images = daemon
        .images_with_label(labels::MANAGED, "true")
        .await
        .map_err(BuildError::from)?;
    // This workspace's images: tagged in its repository, or in its registry repository.
    let mut repositories = vec![workspace.settings.repository.clone()];
    if let Some(registry) = &workspace.settings.registry {
        repositories.push(registry.value.clone());
    }
    let mut removed = 0;
    let mut failed = 0;
    for image in images {
        let flavor = image
            .labels
            .get(labels::FLAVOR)
            .cloned()
            .unwrap_or_default();
        if flavors.as_ref().is_some_and(|f| !f.contains(&flavor)) {
            continue;
        }
        for tag in &image.tags {
            if !repositories.iter().any(|r| split_reference(tag).0 == r) {
                continue;
            }
            match daemon.remove(tag, false).await {
                Ok(()) => {
                    removed += 1;
                    writeln!(out, "removed {tag}")?;
                }
                Err(e) => {
                    failed += 1;
                    tracing::warn!("{e}");
                }
            }
        }
    }
    if args.all {
        let containers =
            crate::check::pool::Pool::remove_all(&daemon, &super::check::owner(workspace))
                .await
                .map_err(BuildError::from)?;
        if containers > 0 {
            writeln!(
                out,
                "{containers} environment container{} removed",
                if containers == 1 { "" } else { "s" }
            )?;
        }
    }
    writeln!(
        out,
        "{removed} image tag{} removed{}",
        if removed == 1 { "" } else { "s" },
        if failed > 0 {
            format!(", {failed} could not be (see the warnings)")
        } else {
            String::new()
        }
    )?;
    Ok(())
}
