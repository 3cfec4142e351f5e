//! Images of the workspace's repository that no step of the workspace has now: an
//! image kiln built for inputs that since changed. Only tags of this workspace's
//! repository carrying kiln's labels are candidates (never another workspace's or a
//! user's image), and an image a container uses stays (the daemon refuses to untag it
//! without force, which kiln never uses here).

use std::collections::HashSet;

use tokio_util::sync::CancellationToken;

use crate::build::Bases;
use crate::docker::{Daemon, labels};
use crate::model::{StepId, Workspace};

use super::{Collected, GcError, Removal};

pub async fn collect(
    workspace: &Workspace,
    daemon: &Daemon,
    dry_run: bool,
    collected: &mut Collected,
) -> Result<(), GcError> {
    let bases = Bases::of_workspace(workspace, daemon).await?;
    let current = current_hashes(workspace, &bases)?;
    let prefix = format!("{}:", workspace.settings.repository);
    for image in daemon.images_with_label(labels::MANAGED, "true").await? {
        let Some(hash) = image.labels.get(labels::HASH) else {
            continue;
        };
        if current.contains(hash) {
            continue;
        }
        for tag in image.tags.iter().filter(|t| t.starts_with(&prefix)) {
            if dry_run {
                collected.removed.push(Removal {
                    kind: "image",
                    what: tag.clone(),
                    bytes: 0,
                });
                continue;
            }
            match daemon.remove(tag, false).await {
                Ok(()) => collected.removed.push(Removal {
                    kind: "image",
                    what: tag.clone(),
                    bytes: 0,
                }),
                Err(e) => collected.kept.push(format!("{tag}: {e}")),
            }
        }
    }
    Ok(())
}

/// The hash of every step of the workspace, as a build would compute it now (external
/// base images with the identities the daemon has of them).
fn current_hashes(workspace: &Workspace, bases: &Bases) -> Result<HashSet<String>, GcError> {
    let cancel = CancellationToken::new();
    let mut hashes = HashSet::new();
    for flavor in &workspace.flavors {
        let mut done = crate::explain::Analyses::new();
        for step in &flavor.steps {
            let id = StepId::new(flavor.name.value.clone(), step.name.value.clone());
            let analysis = crate::explain::analyses(workspace, &id, bases, &mut done, &cancel)?;
            hashes.insert(analysis.hash.clone());
        }
    }
    Ok(hashes)
}
