//! Errors talking to the Docker daemon.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon: {reason}")]
    #[diagnostic(
        code(kiln::docker::unreachable),
        help("start the daemon, or point DOCKER_HOST at it (e.g. unix:///var/run/docker.sock)")
    )]
    Unreachable { reason: String },

    #[error("building `{tag}` failed{}: {message}", instruction.as_ref().map(|i| format!(" at `{i}`")).unwrap_or_default())]
    #[diagnostic(
        code(kiln::docker::build_failed),
        help("last lines of the build output:\n{tail}")
    )]
    BuildFailed {
        tag: String,
        /// The Dockerfile instruction that failed, as the daemon printed it.
        instruction: Option<String>,
        message: String,
        /// The last lines of the build output.
        tail: String,
    },

    #[error("{action} `{image}` failed: {reason}")]
    #[diagnostic(code(kiln::docker::request_failed))]
    Request {
        action: &'static str,
        image: String,
        reason: String,
    },

    #[error(
        "{action} `{image}` failed: the registry `{host}` wants a login, or refused the one given"
    )]
    #[diagnostic(
        code(kiln::docker::unauthorized),
        help(
            "log in with `docker login {host}` (kiln reads ~/.docker/config.json and its credential helpers), or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD\nthe registry said: {reason}"
        )
    )]
    Unauthorized {
        action: &'static str,
        image: String,
        host: String,
        reason: String,
    },

    #[error("cannot read the credentials for the registry `{host}`: {reason}")]
    #[diagnostic(
        code(kiln::docker::credentials),
        help(
            "fix or remove the entry in the docker config, or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD"
        )
    )]
    Credentials { host: String, reason: String },

    #[error("cannot write `{path}`: {reason}")]
    #[diagnostic(code(kiln::docker::io))]
    Io { path: String, reason: String },
}

impl DockerError {
    pub fn request(action: &'static str, image: &str, error: impl std::fmt::Display) -> Self {
        DockerError::Request {
            action,
            image: image.to_owned(),
            reason: error.to_string(),
        }
    }
}

/// True when bollard reports a 404 from the daemon.
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
