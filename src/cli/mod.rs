//! The command line: parses arguments, loads the workspace, dispatches to a command.

mod build;
mod check;
mod clean;
mod completions;
mod error;
mod execute;
mod explain;
mod export;
mod gc;
mod graph;
mod interrupt;
mod keygen;
mod list;
mod marks;
mod merge;
mod output;
mod plan;
mod progress;
mod results;
mod run;
mod validate;
mod values;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::{CliError, EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED};
pub use output::{ColorChoice, render};

use crate::config;
use crate::model::{BuilderChoice, Workspace};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Declarative builds of Docker image flavors and entity checks, driven by KDL"
)]
pub struct Cli {
    /// Workspace folder (default: the nearest folder upward holding kiln.kdl or flavors/)
    #[arg(long, global = true, env = "KILN_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// More output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour output: auto colours a terminal unless NO_COLOR is set
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Which of the daemon's builders builds images (default: kiln.kdl's `builder`, else
    /// auto: BuildKit when the daemon offers it)
    #[arg(long, global = true, env = "KILN_BUILDER", value_name = "BUILDER", value_parser = values::builder())]
    pub builder: Option<BuilderChoice>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every configuration file and report all errors at once
    Validate,
    /// List flavors, steps, goals, checks and workflows
    List(list::ListArgs),
    /// Print the dependency graph of the selected flavors and goals
    Graph(graph::GraphArgs),
    /// Get the images of the selected goals: from the daemon, the file cache, the registry, or a build
    Build(build::BuildArgs),
    /// Show per node where its image would come from, without pulling or building
    Plan(plan::PlanArgs),
    /// Say why a step's image would be built — what changed since — or where it comes from
    Explain(explain::ExplainArgs),
    /// Build (as needed) and write every image to the file cache; same options as build
    Save(build::BuildArgs),
    /// Build (as needed) and push every image to the registry; same options as build
    Push(build::BuildArgs),
    /// Build (as needed) and write each flavor's release image as a .tar.gz with a .sha256 file
    Export(export::ExportArgs),
    /// Remove the images kiln built for this workspace (found by label)
    Clean(clean::CleanArgs),
    /// Remove what the workspace no longer needs, within a budget: old tarballs, job records, results history, stale images
    Gc(gc::GcArgs),
    /// Check every entity of the selected checks in its environment image
    Check(check::CheckArgs),
    /// Show each entity's latest result and its last passing run
    Results(results::ResultsArgs),
    /// Run a workflow: its tasks as one graph
    Run(run::WorkflowArgs),
    /// Run a workflow, then rerun what a file change affects
    Watch(watch::WatchArgs),
    /// Print shell completions: kiln completions bash > ~/.local/share/bash-completion/completions/kiln
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
    /// Print kiln's man page (roff): kiln man | man -l -
    Man,
    /// Write a new key that signs what this machine stores in shared caches, and print the line readers trust it by
    Keygen(keygen::KeygenArgs),
}

/// Runs kiln with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = cli.color.enabled();
    output::init_logging(cli.verbose, cli.quiet, color);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error, color);
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let console = execute::Console {
        color: cli.color.enabled(),
        quiet: cli.quiet,
    };
    // These need no workspace.
    match &cli.command {
        Command::Completions { shell } => {
            return completions::completions(*shell, &mut std::io::stdout().lock());
        }
        Command::Man => return completions::man_page(&mut std::io::stdout().lock()),
        Command::Keygen(args) => return keygen::run(args, &mut std::io::stdout().lock()),
        _ => {}
    }
    // Watch loads (and reloads) the workspace itself, and waits out a broken one.
    if let Command::Watch(args) = &cli.command {
        return runtime()?.block_on(watch::run(cli, args, console, cli.verbose > 0));
    }
    let workspace = load(cli)?;
    match &cli.command {
        Command::Validate => validate::run(
            &workspace,
            console,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::List(args) => list::run(&workspace, args, &mut std::io::stdout().lock()),
        Command::Graph(args) => graph::run(&workspace, args, &mut std::io::stdout().lock()),
        Command::Build(args) => runtime()?.block_on(build::run(workspace, args, "build", console)),
        Command::Save(args) => {
            let args = build::BuildArgs {
                save: true,
                ..args.clone()
            };
            runtime()?.block_on(build::run(workspace, &args, "save", console))
        }
        Command::Push(args) => {
            let args = build::BuildArgs {
                push: true,
                ..args.clone()
            };
            runtime()?.block_on(build::run(workspace, &args, "push", console))
        }
        Command::Plan(args) => runtime()?.block_on(plan::run(
            workspace,
            args,
            console,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )),
        Command::Explain(args) => {
            runtime()?.block_on(explain::run(workspace, args, &mut std::io::stdout()))
        }
        Command::Export(args) => runtime()?.block_on(export::run(workspace, args, console)),
        Command::Clean(args) => runtime()?.block_on(clean::run(workspace, args, console)),
        Command::Gc(args) => {
            runtime()?.block_on(gc::run(workspace, args, cli.quiet, &mut std::io::stdout()))
        }
        Command::Check(args) => {
            runtime()?.block_on(check::run(workspace, args, console, cli.verbose > 0))
        }
        Command::Results(args) => {
            results::run(&workspace, args, console, &mut std::io::stdout().lock())
        }
        Command::Run(args) => {
            runtime()?.block_on(run::run(workspace, args, console, cli.verbose > 0))
        }
        Command::Watch(_) | Command::Completions { .. } | Command::Man | Command::Keygen(_) => {
            unreachable!("handled above")
        }
    }
}

/// The async runtime of commands that talk to the daemon.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Finds and loads the workspace the command works on.
pub fn load(cli: &Cli) -> Result<Workspace, CliError> {
    let root = root(cli)?;
    tracing::debug!("workspace {}", root.display());
    let mut workspace = config::load(&root)?;
    if let Some(builder) = cli.builder {
        workspace.settings.builder = builder;
    }
    Ok(workspace)
}

/// The workspace folder: `--workspace`, else the nearest one at or above the current
/// folder.
pub fn root(cli: &Cli) -> Result<std::path::PathBuf, CliError> {
    match &cli.workspace {
        Some(dir) if !dir.is_dir() => Err(CliError::MissingWorkspace { path: dir.clone() }),
        Some(dir) => Ok(dir.clone()),
        None => {
            let start = std::env::current_dir()?;
            config::find_root(&start).ok_or(CliError::NoWorkspace { start })
        }
    }
}

/// Prints an error to stderr: each configuration error as its own diagnostic, then a
/// count.
fn report(error: &CliError, color: bool) {
    let mut text = String::new();
    match error {
        CliError::Config(errors) => {
            for e in &errors.errors {
                text.push_str(&render(e, color));
                text.push('\n');
            }
            text.push_str(&format!("error: {errors}; nothing was run\n"));
        }
        CliError::Preflight {
            dockerfiles,
            checks,
        } => {
            for problem in dockerfiles {
                text.push_str(&render(problem, color));
                text.push('\n');
            }
            for problem in checks {
                text.push_str(&render(problem, color));
                text.push('\n');
            }
            text.push_str(&format!("error: {error}; nothing was run\n"));
        }
        other => text.push_str(&render(other, color)),
    }
    eprint!("{text}");
}
