//! `kiln export`: builds (or finds) the release image of each selected flavor and writes
//! it as `<flavor>-<step>_<hash>.tar.gz` with a `sha256sum`-style `.sha256` file beside it.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::build::{self, BuildArgs, Console};
use crate::build::BuildError;
use crate::docker::Daemon;
use crate::model::Workspace;
use crate::plan;

/// Where exports go when `--output` is not given, relative to the workspace root.
pub const DEFAULT_EXPORT_DIR: &str = ".kiln/export";

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Folder to write the archives to (default: .kiln/export in the workspace)
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
}

pub async fn run(
    workspace: Workspace,
    args: &ExportArgs,
    console: Console,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut build_args = args.build.clone();
    // Without --goal: the `release` goal (or step) of every selected flavor that has one.
    if build_args.select.goals.is_empty() {
        build_args.select.goals = vec!["release".to_owned()];
        if build_args.select.flavors.is_empty() {
            build_args.select.flavors = vec!["*".to_owned()];
        }
    }
    let selection = build_args.select.selection();
    let targets: Vec<String> = plan::targets(&workspace, &selection)?
        .into_iter()
        .flat_map(|(flavor, steps)| {
            steps
                .into_iter()
                .map(move |s| format!("{}/{s}", flavor.name.value))
        })
        .collect();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace.root.join(DEFAULT_EXPORT_DIR));
    // The folder first: a bad --output fails before anything is built.
    std::fs::create_dir_all(&output).map_err(|e| CliError::OutputFolder {
        path: output.clone(),
        reason: e.to_string(),
    })?;
    let graph = plan::build_graph(&workspace, &selection)?;
    let cancel = super::interrupt::interruptible();
    let report = build::execute(
        workspace,
        &graph,
        &build_args,
        "export",
        console,
        cancel.clone(),
    )
    .await?;
    let daemon = Daemon::connect().await.map_err(BuildError::from)?;
    for node in targets {
        let image = report
            .iter()
            .filter_map(|n| n.output())
            .find(|o| format!("{}/{}", o.analysis.flavor, o.analysis.step) == node)
            .map(|o| o.analysis.image.clone())
            .ok_or_else(|| CliError::Internal(format!("{node} succeeded without an image")))?;
        // Interrupted: the half-written archive is removed as the export is dropped.
        let exported = cancel
            .run_until_cancelled(crate::build::export::export(
                &daemon, &node, &image, &output,
            ))
            .await
            .ok_or(CliError::Interrupted)??;
        if build_args.json {
            let line =
                serde_json::to_string(&exported).map_err(|e| CliError::Internal(e.to_string()))?;
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}  {}", exported.sha256, exported.archive.display())?;
        }
    }
    Ok(())
}
