//! `kiln clean`: removes the images kiln built for this workspace, found by label, and
//! first the environment containers (kept with `--keep-env`) that use them. The file
//! cache and the registry are left alone.

use std::io::Write;

use clap::{ArgGroup, Args};

use super::CliError;
use crate::build::BuildError;
use crate::docker::Daemon;
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
    // Containers first: an image a container uses cannot be removed.
    let containers = crate::check::pool::Pool::remove_of(
        &daemon,
        &crate::check::pool::owner(&workspace.root),
        flavors.as_deref(),
    )
    .await
    .map_err(BuildError::from)?;
    if containers > 0 {
        writeln!(
            out,
            "{containers} environment container{} removed",
            if containers == 1 { "" } else { "s" }
        )?;
    }
    let removed =
        crate::build::clean::remove_images(&daemon, workspace, flavors.as_deref()).await?;
    for tag in &removed.tags {
        writeln!(out, "removed {tag}")?;
    }
    let failed = removed.failed;
    let removed = removed.tags.len();
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
    if failed > 0 {
        return Err(CliError::CleanIncomplete { failed });
    }
    Ok(())
}
