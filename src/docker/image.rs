//! Images in the daemon: inspect, tag, list by label, remove.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListImagesOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};

use super::client::Daemon;
use super::error::{DockerError, is_not_found};
use super::reference::ImageRef;

/// What kiln needs to know of an image in the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub tags: Vec<String>,
    /// `repo@sha256:…` of each registry it was pulled from or pushed to.
    pub repo_digests: Vec<String>,
}

impl Daemon {
    /// The image named `reference`, or `None` if the daemon has none.
    pub async fn inspect(&self, reference: &str) -> Result<Option<ImageInfo>, DockerError> {
        match self
            .answer(
                || format!("inspecting `{reference}`"),
                self.docker.inspect_image(reference),
            )
            .await?
        {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
                tags: image.repo_tags.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.failed("inspecting", reference, e)),
        }
    }

    /// Tags `source` as `target` (`repo:tag`).
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), DockerError> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.answer(
            || format!("tagging `{target}`"),
            self.docker.tag_image(source, Some(options)),
        )
        .await?
        .map_err(|e| self.failed("tagging", target, e))
    }

    /// Ids and tags of the images carrying `label=value` (or just `label` when `value`
    /// is empty).
    pub async fn images_with_label(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ImageInfo>, DockerError> {
        let filter = if value.is_empty() {
            label.to_owned()
        } else {
            format!("{label}={value}")
        };
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("label".to_owned(), vec![filter])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .answer(
                || format!("listing images labelled `{label}`"),
                self.docker.list_images(Some(options)),
            )
            .await?
            .map_err(|e| self.failed("listing", label, e))?;
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                labels: i.labels,
                tags: i.repo_tags,
                repo_digests: i.repo_digests,
            })
            .collect())
    }

    /// Removes an image (by tag: only that tag, unless it is the last). Absent is fine.
    /// Its untagged parent images stay (`noprune`): they are the daemon's layer cache,
    /// which a build running at the same time may be about to use — pruning them under
    /// it fails that build with "failed to get digest". `docker image prune` frees them,
    /// and the unlabelled images builds leave untagged too (see `relabel.rs`).
    pub async fn remove(&self, reference: &str, force: bool) -> Result<(), DockerError> {
        let options = RemoveImageOptionsBuilder::default()
            .force(force)
            .noprune(true)
            .build();
        match self
            .answer(
                || format!("removing `{reference}`"),
                self.docker.remove_image(reference, Some(options), None),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.failed("removing", reference, e)),
        }
    }
}

/// `host:5000/repo/name:tag` → (`host:5000/repo/name`, `tag`), as the daemon's tag, pull
/// and push calls take them: the repository as written, and what names the image in it —
/// the digest if the reference has one (`repo:tag@sha256:…` pulls by digest), else the
/// tag, else `latest`. What is no image reference is the repository, with `latest`: the
/// daemon says what is wrong with it.
pub fn split_reference(reference: &str) -> (&str, &str) {
    match ImageRef::parse(reference) {
        Some(parts) => (
            parts.repository,
            parts.digest.or(parts.tag).unwrap_or("latest"),
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn splits_tags_not_ports() {
        assert_eq!(split_reference("kiln:slc-a_12"), ("kiln", "slc-a_12"));
        assert_eq!(
            split_reference("127.0.0.1:5000/kiln:x"),
            ("127.0.0.1:5000/kiln", "x")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/kiln"),
            ("127.0.0.1:5000/kiln", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/a/b:tag"),
            ("localhost:5000/a/b", "tag")
        );
    }

    #[test]
    fn a_digest_names_the_image() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            split_reference(&format!("repo@{digest}")),
            ("repo", digest.as_str())
        );
        assert_eq!(
            split_reference(&format!("127.0.0.1:5000/kiln:x@{digest}")),
            ("127.0.0.1:5000/kiln", digest.as_str())
        );
    }
}
