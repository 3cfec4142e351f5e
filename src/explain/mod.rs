//! `kiln explain`: why a step's image comes from where it comes from, or why it would
//! be built; why an entity's result comes from the result cache, or why it would run
//! (`entity.rs`). Its inputs now (hashed as a build hashes them) against earlier ones — of
//! the last build a job record kept, or of an image in the daemon, whose
//! `io.kiln.manifest` label carries them — input by input: which files (added,
//! removed, content, executable bit), args, the Dockerfile, the hash format, and for a
//! changed dependency, recursively, why that one changed. Each cache tier says hit or
//! miss and why.

mod earlier;
mod entity;
mod error;
mod explanation;
mod inputs;

pub use earlier::{Earlier, History, Origin};
pub use entity::{
    CachedResult, EntityChanges, EntityExplanation, EnvironmentChange, EnvironmentNow, Was,
    explain_entity,
};
pub use error::ExplainError;
pub use explanation::{Because, Changed, Changes, Compared, Explanation};
pub use inputs::{Analyses, analyses};

use std::collections::BTreeSet;

use tokio_util::sync::CancellationToken;

use crate::build::{Analysis, Bases, Tiers};
use crate::hash::{Change, EntryKind, diff};
use crate::model::{StepId, Workspace, display_path};

/// Explains `id` against the tiers of `tiers` and the earlier inputs in `history`;
/// external base images hash with their identities in `bases`.
pub async fn explain(
    workspace: &Workspace,
    tiers: &Tiers,
    history: &History,
    bases: &Bases,
    id: &StepId,
) -> Result<Explanation, ExplainError> {
    let mut done = inputs::Analyses::new();
    let analysis = inputs::analyses(workspace, id, bases, &mut done, &CancellationToken::new())?;
    let answers = tiers.answers(&analysis).await;
    let from = answers.iter().find(|a| a.hit).map(|a| a.tier);
    let changes = match from {
        Some(_) => None,
        None => {
            let mut seen = BTreeSet::new();
            Some(changes_of(
                workspace,
                history,
                &done,
                id,
                &analysis,
                history.before(&id.stem(), &analysis.manifest),
                &mut seen,
            ))
        }
    };
    Ok(Explanation {
        node: id.to_string(),
        image: analysis.image.clone(),
        hash: analysis.hash.clone(),
        tiers: answers,
        from,
        changes,
    })
}

/// What changed from `earlier` to the step's inputs now; each changed dependency
/// explained against the manifest of its old hash.
fn changes_of(
    workspace: &Workspace,
    history: &History,
    done: &inputs::Analyses,
    id: &StepId,
    analysis: &Analysis,
    earlier: Option<&Earlier>,
    seen: &mut BTreeSet<String>,
) -> Changes {
    let Some(earlier) = earlier else {
        return Changes {
            compared_with: None,
            changed: Vec::new(),
        };
    };
    let changed = diff(&earlier.manifest, &analysis.manifest)
        .into_iter()
        .map(|change| {
            let source = file_source(workspace, analysis, &change);
            let because = match &change {
                Change::Changed { old, new } if new.kind == EntryKind::Dependency => {
                    let dependency = StepId::new(id.flavor.clone(), new.name.clone());
                    done.get(&new.name)
                        .filter(|_| seen.insert(format!("{dependency}@{}", old.digest)))
                        .map(|now| {
                            let before = history.with_hash(&dependency.stem(), &old.digest);
                            Box::new(Because {
                                node: dependency.to_string(),
                                changes: changes_of(
                                    workspace,
                                    history,
                                    done,
                                    &dependency,
                                    now,
                                    before,
                                    seen,
                                ),
                            })
                        })
                }
                _ => None,
            };
            Changed {
                change,
                source,
                because,
            }
        })
        .collect();
    Changes {
        compared_with: Some(Compared {
            hash: earlier.manifest.hash.clone(),
            origin: earlier.origin.clone(),
        }),
        changed,
    }
}

/// Where a changed or added file of the context is on the host, shown relative to
/// the workspace.
fn file_source(workspace: &Workspace, analysis: &Analysis, change: &Change) -> Option<String> {
    if change.kind() != EntryKind::File || matches!(change, Change::Removed { .. }) {
        return None;
    }
    let file = analysis
        .context
        .files
        .iter()
        .find(|f| f.path == change.name())?;
    Some(display_path(&workspace.root, &file.source))
}
