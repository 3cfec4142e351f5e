//! `kiln check`: build the environment images the selected checks need, discover their
//! entities while the graph runs, check each in a warm environment container, and keep
//! the results.

use clap::Args;

use super::CliError;
use super::execute::{Console, RunOptions, execute};
use crate::check::CheckOptions;
use crate::check::partition::{Partition, PartitionBy};
use crate::model::{CheckId, Workspace};
use crate::plan::{self, Plan};

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Entity keys to check (default: every entity)
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Flavor name or glob whose checks run (repeatable; default: every flavor with checks)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Only the checks of this name (repeatable; default: all of the selected flavors)
    #[arg(long = "check", short = 'c', value_name = "CHECK")]
    pub checks: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How a run of builds and checks behaves: the options `kiln check` and `kiln run` share.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Run every entity, even those whose result is cached
    #[arg(long)]
    pub force: bool,
    /// Leave the environment containers running (a later run reuses them)
    #[arg(long)]
    pub keep_env: bool,
    /// Run check commands as UID:GID (default: the user running kiln)
    #[arg(long, value_name = "UID:GID", value_parser = super::values::user)]
    pub user: Option<String>,
    /// Exit non-zero when an entity is inaccurate, too
    #[arg(long)]
    pub fail_on_inaccurate: bool,
    /// At most this many nodes (builds, checks) at once (default: kiln.kdl's `jobs`, else the CPUs)
    #[arg(long, short = 'j', value_name = "N", value_parser = super::values::jobs)]
    pub jobs: Option<usize>,
    /// Let independent work finish after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// One JSON event per line on stdout instead of progress
    #[arg(long)]
    pub json: bool,
    /// Check only partition K of N of each check's entities (for N parallel CI jobs);
    /// `auto` reads the CI's variables (KILN_PARTITION, CircleCI, GitLab)
    #[arg(long, value_name = "K/N|auto")]
    pub partition: Option<String>,
    /// How entities are spread over partitions: `hash` of check and key (default), or
    /// `duration`, balancing the recorded durations (every job needs the same history)
    #[arg(long, value_name = "hash|duration", requires = "partition", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<PartitionBy>()))]
    pub partition_by: Option<PartitionBy>,
    /// Neither look for results in the registry nor push them there (images still
    /// travel)
    #[arg(long)]
    pub no_remote_results: bool,
}

impl RunArgs {
    /// The partition the command line (or, with `auto`, the CI) names.
    fn partition(&self) -> Result<Option<Partition>, CliError> {
        let Some(given) = &self.partition else {
            return Ok(None);
        };
        let mut partition = if given == "auto" {
            Partition::from_ci(|name| std::env::var(name).ok())?
        } else {
            given.parse::<Partition>()?
        };
        partition.by = self.partition_by.unwrap_or_default();
        Ok(Some(partition))
    }

    /// The options of a run checking only the entities `keys` (all when empty).
    pub fn options(&self, keys: Vec<String>, verbose: bool) -> Result<RunOptions, CliError> {
        Ok(RunOptions {
            jobs: self.jobs,
            keep_going: self.keep_going,
            json: self.json,
            check: CheckOptions {
                force: self.force,
                user: self.user.clone(),
                keys,
                partition: self.partition()?,
                no_remote_results: self.no_remote_results,
            },
            keep_env: self.keep_env,
            fail_on_inaccurate: self.fail_on_inaccurate,
            verbose,
            ..RunOptions::default()
        })
    }
}

pub async fn run(
    workspace: Workspace,
    args: &CheckArgs,
    console: Console,
    verbose: bool,
) -> Result<(), CliError> {
    let mut plan = Plan::default();
    let flavors = plan::flavors(&workspace, &args.flavors)?;
    let declared: Vec<&str> = flavors
        .iter()
        .flat_map(|f| f.checks.iter().map(|c| c.name.as_str()))
        .collect();
    if let Some(name) = args.checks.iter().find(|n| !declared.contains(&n.as_str())) {
        let mut names = declared.clone();
        names.sort_unstable();
        names.dedup();
        return Err(CliError::UnknownCheck {
            name: name.clone(),
            help: crate::config::suggest_help(name, &names, "checks"),
        });
    }
    for flavor in flavors {
        for check in &flavor.checks {
            if args.checks.is_empty() || args.checks.contains(&check.name.value) {
                plan.checks.push(CheckId::new(
                    flavor.name.value.clone(),
                    check.name.value.clone(),
                ));
            }
        }
    }
    if plan.checks.is_empty() {
        return Err(CliError::NothingToCheck);
    }
    unknown_keys(&workspace, &plan, &args.keys)?;
    let options = args.run.options(args.keys.clone(), verbose)?;
    execute(
        workspace,
        &plan,
        &options,
        "check",
        console,
        super::interrupt::interruptible(),
    )
    .await
    .map(|_| ())
}

/// Fails on the first of `keys` that no entity of the selected checks has, before
/// anything is built: a typo would otherwise check nothing and succeed. Metadata that
/// cannot be read is left for the run to report.
fn unknown_keys(workspace: &Workspace, plan: &Plan, keys: &[String]) -> Result<(), CliError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut known: Vec<String> = Vec::new();
    for check in &plan.checks {
        let Some(declaration) = workspace.find_check(check) else {
            continue;
        };
        // A data repository that cannot be read is the error to show, not "no entity
        // has the key".
        let entities = crate::check::discover(&workspace.root, declaration)?;
        known.extend(entities.into_iter().map(|e| e.key));
    }
    known.sort();
    known.dedup();
    let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
    match keys.iter().find(|k| !known.contains(k)) {
        Some(key) => Err(CliError::UnknownEntity {
            key: key.clone(),
            help: crate::config::suggest_help(key, &candidates, "entity keys"),
        }),
        None => Ok(()),
    }
}
