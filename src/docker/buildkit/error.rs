//! What can go wrong on kiln's own connection to the daemon (`endpoint.rs`).

use thiserror::Error;

/// A BuildKit request that did not get through. A build that got through and failed
/// is a `DockerError::BuildFailed`, not one of these.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),

    #[error("HTTP: {0}")]
    Http(#[source] hyper::Error),

    #[error("the request is malformed: {0}")]
    Request(#[source] http::Error),

    /// The daemon answered the request with an error status.
    #[error("the daemon answered {status}: {message}")]
    Status {
        status: http::StatusCode,
        message: String,
    },

    /// The daemon did not switch the session's connection to HTTP/2.
    #[error("the daemon did not open the session ({status})")]
    NoUpgrade { status: http::StatusCode },

    /// A line of the build's progress stream that is not JSON.
    #[error("the build's progress is not JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl TransportError {
    /// As bollard's error, so that a lost connection is `DockerError::Unreachable`
    /// whichever builder ran into it.
    pub fn into_bollard(self) -> bollard::errors::Error {
        bollard::errors::Error::IOError {
            err: std::io::Error::other(self),
        }
    }
}
