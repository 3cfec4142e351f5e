//! `kiln run NAME`: a workflow's tasks as one graph — each step built once, however many
//! tasks need it.

use clap::Args;

use super::CliError;
use super::build::Console;
use super::check::execute;
use super::interrupt::interruptible;
use crate::model::Workspace;
use crate::workflow;

#[derive(Debug, Args)]
pub struct WorkflowArgs {
    /// The workflow (workflows/<name>.kdl)
    #[arg(value_name = "WORKFLOW")]
    pub name: String,
    /// Set a parameter (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub run: super::check::RunArgs,
}

pub async fn run(
    workspace: Workspace,
    args: &WorkflowArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    let work = workflow::plan(&workspace, &args.name, &args.sets)?;
    let command = format!("run-{}", args.name);
    let options = args.run.options(Vec::new());
    execute(
        workspace,
        &work,
        &options,
        &command,
        console,
        verbose,
        interruptible(),
    )
    .await
}
