//! `kiln export`: gets the release image of each selected flavor (building what is
//! missing) and writes it as `<flavor>-<step>_<hash>.tar.gz` with a `sha256sum`-style
//! `.sha256` file beside it: the plan {export} (plus saves and pushes when asked).

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::build::BuildArgs;
use super::execute::{Console, execute};
use crate::model::Workspace;

/// Where `kiln export` writes when `--output` is not given, relative to the workspace
/// root: inside kiln's own folder `.kiln/` (never part of a context), so an export that
/// names no folder adds none to the workspace. Not the default of a workflow's `export`
/// task, a folder of the workspace (`DEFAULT_EXPORT_TASK_DIR` in `config/workflow.rs`).
pub const DEFAULT_EXPORT_OUTPUT: &str = ".kiln/export";

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
) -> Result<(), CliError> {
    let mut build_args = args.build.clone();
    // Without --goal: the `release` goal (or step) of every selected flavor that has one.
    if build_args.select.goals.is_empty() {
        build_args.select.goals = vec!["release".to_owned()];
        if build_args.select.flavors.is_empty() {
            build_args.select.flavors = vec!["*".to_owned()];
        }
    }
    let mut plan = build_args.plan(&workspace, "export")?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace.root.join(DEFAULT_EXPORT_OUTPUT));
    // The folder first: a bad --output fails before anything is built.
    std::fs::create_dir_all(&output).map_err(|source| CliError::OutputFolder {
        path: output.clone(),
        source,
    })?;
    plan.export = std::mem::take(&mut plan.build)
        .into_iter()
        .map(|step| (step, output.clone()))
        .collect();
    let mut options = build_args.options();
    options.products = true;
    let cancel = super::interrupt::interruptible();
    execute(workspace, &plan, &options, "export", console, cancel)
        .await
        .map(|_| ())
}
