//! Copying files into and out of a container (the daemon's archive endpoint): what a
//! check does instead of bind mounts when the daemon is not on this machine.

use std::path::Path;

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt;

use super::client::Daemon;
use super::container::short;
use super::error::DockerError;

/// The most a copy out of a container may hold: more is an error, not an exhausted
/// memory.
pub const MAX_COPY_OUT: usize = 256 * 1024 * 1024;

impl Daemon {
    /// Unpacks the tar `archive` into the container at `/` (its paths say where).
    pub async fn copy_in(&self, container: &str, archive: Vec<u8>) -> Result<(), DockerError> {
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        let upload = self.docker.upload_to_container(
            container,
            Some(options),
            bollard::body_full(Bytes::from(archive)),
        );
        self.watch(
            || format!("copying files into {}", short(container)),
            upload,
        )
        .await?
        .map_err(|e| self.failed("copying files into", short(container), e))
    }

    /// The container's `path` (a folder or file) as a tar whose entries start with its
    /// last component; at most [`MAX_COPY_OUT`] bytes.
    pub async fn copy_out(&self, container: &str, path: &Path) -> Result<Vec<u8>, DockerError> {
        let shown = || format!("copying {} out of {}", path.display(), short(container));
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(&path.display().to_string())
            .build();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = self.watch(&shown, stream.next()).await? {
            let chunk = chunk.map_err(|e| self.failed("copying out of", short(container), e))?;
            if archive.len() + chunk.len() > MAX_COPY_OUT {
                return Err(DockerError::request(
                    "copying out of",
                    short(container),
                    format!("more than {MAX_COPY_OUT} bytes"),
                ));
            }
            archive.extend_from_slice(&chunk);
        }
        Ok(archive)
    }
}
