//! The inputs of a step now: its analysis and those of every step it needs, hashed the
//! way a build hashes them (no daemon needed).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::build::{Analysis, Bases, BuildError, analyze};
use crate::model::{StepId, Workspace};

/// Analyses by step, of one flavor.
pub type Analyses = BTreeMap<String, Arc<Analysis>>;

/// The analysis of `id` and of everything it needs, into `done`; external base images
/// hash with their identities in `bases`.
pub fn analyses(
    workspace: &Workspace,
    id: &StepId,
    bases: &Bases,
    done: &mut Analyses,
    cancel: &CancellationToken,
) -> Result<Arc<Analysis>, BuildError> {
    if let Some(analysis) = done.get(&id.step) {
        return Ok(Arc::clone(analysis));
    }
    let step = workspace.find_step(id).ok_or_else(|| BuildError::Io {
        path: id.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such step"),
    })?;
    let mut hashes = Vec::new();
    for need in &step.needs {
        let dependency = StepId::new(id.flavor.clone(), need.value.clone());
        let analysis = analyses(workspace, &dependency, bases, done, cancel)?;
        hashes.push((need.value.clone(), analysis.hash.clone()));
    }
    let analysis = Arc::new(analyze(
        workspace, &id.flavor, step, &hashes, bases, cancel,
    )?);
    done.insert(id.step.clone(), Arc::clone(&analysis));
    Ok(analysis)
}
