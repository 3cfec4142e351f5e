//! `kiln graph`: print the dependency graph as DOT, Mermaid or JSON.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::CliError;
use crate::model::Workspace;
use crate::plan::{self, Plan, Selection};

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Flavor name or glob (repeatable; default: every flavor)
    #[arg(long = "flavor", short = 'f', value_name = "FLAVOR")]
    pub flavors: Vec<String>,
    /// Goal or step name (repeatable; default: each flavor's default goals)
    #[arg(long = "goal", short = 'g', value_name = "GOAL")]
    pub goals: Vec<String>,
    /// Every step of the selected flavors, not only their goals
    #[arg(long, conflicts_with = "goals")]
    pub all_steps: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
}

pub fn run(workspace: &Workspace, args: &GraphArgs, out: &mut impl Write) -> Result<(), CliError> {
    let selection = Selection {
        flavors: args.flavors.clone(),
        goals: args.goals.clone(),
        all_steps: args.all_steps,
    };
    let plan = Plan {
        build: plan::step_targets(workspace, &selection)?,
        ..Plan::default()
    };
    let graph = plan::build(workspace, &plan)?;
    let text = match args.format {
        Format::Dot => plan::to_dot(&graph),
        Format::Mermaid => plan::to_mermaid(&graph),
        Format::Json => plan::to_json(&graph),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}
