//! `kiln run NAME`: a workflow's tasks as one graph — each step built once, however many
//! tasks need it.

use clap::Args;

use super::CliError;
use super::build::Console;
use super::check::{RunOptions, execute, interruptible};
use crate::check::CheckOptions;
use crate::model::Workspace;
use crate::workflow;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow (workflows/<name>.kdl)
    #[arg(value_name = "WORKFLOW")]
    pub name: String,
    /// Set a parameter (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Run every entity of its checks, even those whose result is cached
    #[arg(long)]
    pub force: bool,
    /// Leave the environment containers of its checks running
    #[arg(long)]
    pub keep_env: bool,
    /// Run check commands as UID:GID (default: the user running kiln)
    #[arg(long, value_name = "UID:GID")]
    pub user: Option<String>,
    /// Exit non-zero when an entity is inaccurate, too
    #[arg(long)]
    pub fail_on_inaccurate: bool,
    /// At most this many nodes at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Let independent work finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    workspace: Workspace,
    args: &RunArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    let workflow = workflow::find(&workspace, &args.name)?;
    let sets = args
        .sets
        .iter()
        .map(|s| workflow::parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let values = workflow::resolve(workflow, &sets)?;
    let work = workflow::compile(&workspace, workflow, &values)?;
    let command = format!("run-{}", workflow.name.value);
    let options = RunOptions {
        jobs: args.jobs,
        keep_going: args.keep_going,
        json: args.json,
        check: CheckOptions {
            force: args.force,
            user: args.user.clone(),
            keys: Vec::new(),
        },
        keep_env: args.keep_env,
        fail_on_inaccurate: args.fail_on_inaccurate,
    };
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
