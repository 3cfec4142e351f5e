//! `kiln run NAME`: a workflow's tasks as one graph — each step built once, however many
//! tasks need it.

use clap::Args;

use super::CliError;
use super::execute::{Console, execute};
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
    let plan = workflow::plan(&workspace, &args.name, &args.sets)?;
    if !plan.push.is_empty() && workspace.settings.registry.is_none() {
        return Err(CliError::NoRegistry {
            what: "a `push` task".to_owned(),
        });
    }
    let command = format!("run-{}", args.name);
    let options = args.run.options(Vec::new(), verbose)?;
    execute(
        workspace,
        &plan,
        &options,
        &command,
        console,
        interruptible(),
    )
    .await
    .map(|_| ())
}
