//! `kiln validate`: load everything, check every step's Dockerfile against its context
//! and every check's `run` template against its entities' fields, report all errors, or
//! say what was found.

use std::io::Write;

use super::CliError;
use super::execute::Console;
use super::output::plural;
use crate::check::fields::{FieldProblem, check_fields};
use crate::model::{Flavor, Workspace};

pub fn run(
    workspace: &Workspace,
    console: Console,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<(), CliError> {
    let dockerfiles = crate::build::preflight::check_workspace(workspace);
    let checks = fields(workspace, &workspace.flavors, console, err)?;
    if !dockerfiles.is_empty() || !checks.is_empty() {
        return Err(CliError::Preflight {
            dockerfiles,
            checks,
        });
    }
    if console.quiet {
        return Ok(());
    }
    let steps: usize = workspace.flavors.iter().map(|f| f.steps.len()).sum();
    let goals: usize = workspace.flavors.iter().map(|f| f.goals.len()).sum();
    let checks: usize = workspace.flavors.iter().map(|f| f.checks.len()).sum();
    writeln!(
        out,
        "workspace {} is valid: {} ({}, {}, {}), {}",
        workspace.root.display(),
        plural(workspace.flavors.len(), "flavor", "flavors"),
        plural(steps, "step", "steps"),
        plural(goals, "goal", "goals"),
        plural(checks, "check", "checks"),
        plural(workspace.workflows.len(), "workflow", "workflows"),
    )?;
    Ok(())
}

/// The metadata fields the `run` templates of `flavors`' checks use, against the
/// entities each check discovers: prints the warnings (fields some entities lack) to
/// `err` unless `-q`, and returns the errors (fields no entity has, metadata that
/// cannot be read).
pub(super) fn fields<'f>(
    workspace: &Workspace,
    flavors: impl IntoIterator<Item = &'f Flavor>,
    console: Console,
    err: &mut impl Write,
) -> Result<Vec<FieldProblem>, CliError> {
    let findings = check_fields(workspace, flavors.into_iter().flat_map(|f| &f.checks));
    if !console.quiet {
        for warning in &findings.warnings {
            writeln!(err, "{}", super::render(warning, console.color))?;
        }
    }
    Ok(findings.errors)
}
