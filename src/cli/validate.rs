//! `kiln validate`: load everything, check every step's Dockerfile against its context,
//! report all errors, or say what was found.

use std::io::Write;

use super::CliError;
use crate::model::Workspace;

pub fn run(workspace: &Workspace, quiet: bool, out: &mut impl Write) -> Result<(), CliError> {
    let problems = crate::build::preflight::check_workspace(workspace);
    if !problems.is_empty() {
        return Err(CliError::Dockerfiles { problems });
    }
    if quiet {
        return Ok(());
    }
    let steps: usize = workspace.flavors.iter().map(|f| f.steps.len()).sum();
    let goals: usize = workspace.flavors.iter().map(|f| f.goals.len()).sum();
    let checks: usize = workspace.flavors.iter().map(|f| f.checks.len()).sum();
    writeln!(
        out,
        "workspace {} is valid: {} ({}, {}, {}), {}",
        workspace.root.display(),
        count(workspace.flavors.len(), "flavor"),
        count(steps, "step"),
        count(goals, "goal"),
        count(checks, "check"),
        count(workspace.workflows.len(), "workflow"),
    )?;
    Ok(())
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
