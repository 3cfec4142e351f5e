//! Removing the images kiln built for a workspace, found by label.

use crate::docker::{Daemon, labels, split_reference};
use crate::model::Workspace;

use super::error::BuildError;

/// What [`remove_images`] did.
#[derive(Debug, Default)]
pub struct Removed {
    /// Every tag removed.
    pub tags: Vec<String>,
    /// Tags that could not be removed (each logged as a warning).
    pub failed: usize,
}

/// Removes the images labelled `io.kiln.managed` and tagged in the workspace's repository
/// (or its registry repository): of `flavors`, or of every flavor when `None`.
pub async fn remove_images(
    daemon: &Daemon,
    workspace: &Workspace,
    flavors: Option<&[String]>,
) -> Result<Removed, BuildError> {
    let images = daemon.images_with_label(labels::MANAGED, "true").await?;
    let mut repositories = vec![workspace.settings.repository.clone()];
    if let Some(registry) = &workspace.settings.registry {
        repositories.push(registry.value.clone());
    }
    let mut removed = Removed::default();
    for image in images {
        let flavor = image
            .labels
            .get(labels::FLAVOR)
            .cloned()
            .unwrap_or_default();
        if flavors.is_some_and(|f| !f.contains(&flavor)) {
            continue;
        }
        for tag in &image.tags {
            if !repositories.iter().any(|r| split_reference(tag).0 == r) {
                continue;
            }
            match daemon.remove(tag, false).await {
                Ok(()) => removed.tags.push(tag.clone()),
                Err(e) => {
                    removed.failed += 1;
                    tracing::warn!("{e}");
                }
            }
        }
    }
    Ok(removed)
}
