//! `kiln clean`: removes the images kiln built for this workspace, found by label, and
//! first the environment containers (kept with `--keep-env`) that use them: the plan
//! {clean}. The file cache and the registry are left alone.

use clap::{ArgGroup, Args};

use super::CliError;
use super::execute::{Console, RunOptions, execute};
use crate::model::Workspace;
use crate::plan::{self, CleanScope, Plan};

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

pub async fn run(workspace: Workspace, args: &CleanArgs, console: Console) -> Result<(), CliError> {
    let scope = if args.all {
        CleanScope::All
    } else {
        CleanScope::Flavors(
            plan::flavors(&workspace, &args.flavors)?
                .into_iter()
                .map(|f| f.name.value.clone())
                .collect(),
        )
    };
    let plan = Plan {
        clean: Some(scope),
        ..Plan::default()
    };
    let options = RunOptions {
        products: true,
        ..RunOptions::default()
    };
    // Its products are the whole answer: no progress or table around them.
    let console = Console {
        quiet: true,
        ..console
    };
    let cancel = super::interrupt::interruptible();
    execute(workspace, &plan, &options, "clean", console, cancel)
        .await
        .map(|_| ())
}
