//! The connection to the Docker daemon: DOCKER_HOST honoured, API version negotiated.

use bollard::Docker;

use super::error::DockerError;

/// A connected daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub(crate) docker: Docker,
}

impl Daemon {
    /// Connects as the docker CLI would (DOCKER_HOST, else the local socket), agrees on
    /// an API version the daemon supports, and checks that it answers.
    pub async fn connect() -> Result<Self, DockerError> {
        let unreachable = |source| DockerError::Unreachable {
            during: None,
            source,
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        tracing::debug!("docker API {}", docker.client_version());
        Ok(Self { docker })
    }

    pub fn api(&self) -> &Docker {
        &self.docker
    }
}
