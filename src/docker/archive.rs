//! Images as tarballs: `docker save` and `docker load` through the API.

use std::io::Write;
use std::path::Path;

use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::StreamExt;
use tokio_util::io::ReaderStream;

use super::client::Daemon;
use super::error::DockerError;

impl Daemon {
    /// Streams the image `reference` as a `docker save` tarball into `out`.
    pub async fn export(
        &self,
        reference: &str,
        out: &mut (dyn Write + Send),
    ) -> Result<u64, DockerError> {
        let mut stream = self.docker.export_image(reference);
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| DockerError::request("saving", reference, e))?;
            out.write_all(&chunk).map_err(|source| DockerError::Io {
                path: reference.to_owned(),
                source,
            })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Loads a `docker save` tarball from `path` into the daemon.
    pub async fn import(&self, path: &Path) -> Result<(), DockerError> {
        let shown = path.display().to_string();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| DockerError::Io {
                path: shown.clone(),
                source,
            })?;
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = self
            .docker
            .import_image_stream(options, ReaderStream::new(file), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| match e {
                // The daemon read the file and refused it.
                bollard::errors::Error::DockerResponseServerError { .. } => {
                    DockerError::request("loading", &shown, e)
                }
                // The daemon was not reached or the connection broke: not the file's fault.
                source => DockerError::Unreachable {
                    during: Some(format!("loading `{shown}`")),
                    source,
                },
            })?;
        }
        Ok(())
    }
}
