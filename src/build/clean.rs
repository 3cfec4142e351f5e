//! Removing the images kiln built for a workspace, found by label.

use std::fmt;

use serde::Serialize;

use crate::docker::{Daemon, labels, split_reference};
use crate::model::Workspace;

use super::error::BuildError;

/// What a clean-up did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleaned {
    /// Environment containers removed first (an image a container uses stays).
    pub containers: usize,
    /// Every tag removed.
    pub removed: Vec<String>,
    /// Every tag that could not be removed, and why.
    pub failed: Vec<NotRemoved>,
}

/// A tag a clean-up could not remove.
#[derive(Debug, Clone, Serialize)]
pub struct NotRemoved {
    pub tag: String,
    pub error: String,
}

impl fmt::Display for Cleaned {
    /// `2 environment containers and 5 image tags removed, 1 could not be`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if self.containers > 0 {
            write!(
                f,
                "{} environment container{} and ",
                self.containers,
                plural(self.containers)
            )?;
        }
        let removed = self.removed.len();
        write!(f, "{removed} image tag{} removed", plural(removed))?;
        if !self.failed.is_empty() {
            write!(f, ", {} could not be", self.failed.len())?;
        }
        Ok(())
    }
}

/// Removes the images labelled `io.kiln.managed` and tagged in the workspace's repository
/// (or its registry repository): of `flavors`, or of every flavor when `None`. A tag
/// that cannot be removed is listed in [`Cleaned::failed`]; the others are removed.
pub async fn remove_images(
    daemon: &Daemon,
    workspace: &Workspace,
    flavors: Option<&[String]>,
    cleaned: &mut Cleaned,
) -> Result<(), BuildError> {
    let images = daemon.images_with_label(labels::MANAGED, "true").await?;
    let mut repositories = vec![workspace.settings.repository.clone()];
    if let Some(registry) = &workspace.settings.registry {
        repositories.push(registry.value.clone());
    }
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
                Ok(()) => cleaned.removed.push(tag.clone()),
                Err(e) => cleaned.failed.push(NotRemoved {
                    tag: tag.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }
    Ok(())
}
