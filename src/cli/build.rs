//! `kiln build`, `kiln save`, `kiln push`: get the images of the selected goals from the
//! cheapest tier that has them, building only what changed; `--save` and `--push` add
//! a save and a push of every image to the plan.

use clap::Args;

use super::CliError;
use super::execute::{Console, RunOptions, execute};
use crate::build::BuildPolicy;
use crate::model::Workspace;
use crate::plan::{self, Force, Plan, Selection};

#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Flavor name or glob (repeatable; default: every flavor)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Goal or step name (repeatable; default: each flavor's default goals)
    #[arg(long = "goal", short = 'g', value_name = "GOAL")]
    pub goals: Vec<String>,
}

impl SelectArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            flavors: self.flavors.clone(),
            goals: self.goals.clone(),
            all_steps: false,
        }
    }
}

/// Which images a run may reuse, and from where.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheArgs {
    /// Build every selected step, whatever the caches hold
    #[arg(long)]
    pub force_rebuild: bool,
    /// Build this step (in every selected flavor) and everything depending on it
    #[arg(long, value_name = "STEP")]
    pub force_rebuild_from: Vec<String>,
    /// Pull from the registry even when the daemon or the file cache has the image
    #[arg(long)]
    pub force_pull: bool,
    /// Get only the images the run itself needs (goals, saves, pushes, exports, check
    /// environments): a step below them stays in the file cache or the registry unless
    /// a step built on it has to be built
    #[arg(long)]
    pub shortcut: bool,
}

impl CacheArgs {
    pub fn force(&self) -> Force {
        Force {
            all: self.force_rebuild,
            from: self.force_rebuild_from.clone(),
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Fail instead of building, listing what would need building (release CI)
    #[arg(long)]
    pub no_build: bool,
    /// Write every image to the file cache
    #[arg(long)]
    pub save: bool,
    /// Push every image to the registry
    #[arg(long)]
    pub push: bool,
    /// At most this many nodes at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N", value_parser = super::values::jobs)]
    pub jobs: Option<usize>,
    /// Let independent branches finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
}

impl BuildArgs {
    /// The plan of building the selection (and saving, pushing every image).
    pub fn plan(&self, workspace: &Workspace, command: &str) -> Result<Plan, CliError> {
        let mut plan = Plan {
            build: plan::step_targets(workspace, &self.select.selection())?,
            force: self.cache.force(),
            ..Plan::default()
        };
        if self.push && workspace.settings.registry.is_none() {
            return Err(CliError::NoRegistry {
                what: if command == "push" {
                    "`kiln push`".to_owned()
                } else {
                    "`--push`".to_owned()
                },
            });
        }
        if self.save || self.push {
            let every = plan::all_steps(workspace, &plan);
            if self.save {
                plan.save = every.clone();
            }
            if self.push {
                plan.push = every;
            }
        }
        Ok(plan)
    }

    pub fn options(&self) -> RunOptions {
        RunOptions {
            jobs: self.jobs,
            keep_going: self.keep_going,
            json: self.json,
            build: BuildPolicy {
                force_pull: self.cache.force_pull,
                no_build: self.no_build,
                plan_only: false,
                shortcut: self.cache.shortcut,
            },
            ..RunOptions::default()
        }
    }
}

/// Builds the selection of `args`; `command` names the job record.
pub async fn run(
    workspace: Workspace,
    args: &BuildArgs,
    command: &str,
    console: Console,
) -> Result<(), CliError> {
    let plan = args.plan(&workspace, command)?;
    let cancel = super::interrupt::interruptible();
    execute(workspace, &plan, &args.options(), command, console, cancel)
        .await
        .map(|_| ())
}
