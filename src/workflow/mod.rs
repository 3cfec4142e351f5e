//! Workflows by name: parameters, and the tasks compiled into one [`Plan`](crate::plan::Plan).

mod compile;
mod error;
mod params;

pub use compile::compile;
pub use error::WorkflowError;
pub use params::{fill, parse_set, resolve};

use crate::model::{Workflow, Workspace};

/// The workflow named `name`, or an error suggesting the closest names.
pub fn find<'w>(workspace: &'w Workspace, name: &str) -> Result<&'w Workflow, WorkflowError> {
    workspace.workflow(name).ok_or_else(|| {
        let names: Vec<&str> = workspace
            .workflows
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        WorkflowError::Unknown {
            name: name.to_owned(),
            help: if names.is_empty() {
                "the workspace has no workflows; add one in workflows/<name>.kdl".to_owned()
            } else {
                crate::config::suggest_help(name, &names, "workflows")
            },
        }
    })
}

/// The [`Plan`](crate::plan::Plan) of workflow `name` with `sets` (`NAME=VALUE` each)
/// applied to its parameters.
pub fn plan(
    workspace: &Workspace,
    name: &str,
    sets: &[String],
) -> Result<crate::plan::Plan, WorkflowError> {
    let workflow = find(workspace, name)?;
    let sets = sets
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let values = resolve(workflow, &sets)?;
    compile(workspace, workflow, &values)
}
