//! Errors talking to the Docker daemon.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    /// The connection to the daemon could not be made, or broke before the answer was
    /// complete: whatever kiln was doing, the daemon is the problem (built by
    /// `Daemon::failed` and its kin, which log the failed request at debug).
    #[error("cannot reach the Docker daemon at {address}: {}{source}", during.as_ref().map(|d| format!("{d}: ")).unwrap_or_default())]
    #[diagnostic(
        code(kiln::docker::unreachable),
        help("start the daemon, or point DOCKER_HOST at it (e.g. unix:///var/run/docker.sock)")
    )]
    Unreachable {
        /// DOCKER_HOST, or the default socket.
        address: String,
        /// What kiln was doing when the connection failed (e.g. "loading `x.tar`").
        during: Option<String>,
        #[source]
        source: ConnectionLost,
    },

    /// The daemon's socket took the request, and nothing came back in time.
    #[error("the Docker daemon at {address} did not answer within {seconds} s ({during})")]
    #[diagnostic(
        code(kiln::docker::not_answering),
        help(
            "the daemon is hung or overloaded (`docker info` against it tells which); once it answers again, `kiln clean` removes containers a run could not\nKILN_DOCKER_TIMEOUT sets how many seconds kiln waits for a daemon call to answer (default 30)"
        )
    )]
    NotAnswering {
        /// DOCKER_HOST, or the default socket.
        address: String,
        /// How long kiln waited for the answer.
        seconds: u64,
        /// What kiln was doing (e.g. "inspecting `x`").
        during: String,
    },

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

    /// BuildKit asked for where kiln cannot open a session of its own.
    #[error(
        "BuildKit builds are not available through `{address}`: kiln reaches BuildKit over a unix socket or plain tcp:// only"
    )]
    #[diagnostic(
        code(kiln::docker::buildkit_unavailable),
        help(
            "build with the classic builder (`--builder classic`), or point DOCKER_HOST at the daemon's unix socket or a tcp:// address"
        )
    )]
    BuildKitUnavailable { address: String },

    /// The daemon did not open a BuildKit session.
    #[error("the Docker daemon at {address} refused a BuildKit session: {source}")]
    #[diagnostic(
        code(kiln::docker::buildkit_refused),
        help(
            "the daemon does not offer BuildKit (an old or non-Linux daemon, or BuildKit switched off); build with the classic builder: --builder classic"
        )
    )]
    BuildKitRefused {
        address: String,
        #[source]
        source: Box<super::buildkit::TransportError>,
    },

    #[error("{action} `{image}` failed: {source}")]
    #[diagnostic(code(kiln::docker::request_failed))]
    Request {
        action: &'static str,
        image: String,
        #[source]
        source: RequestFailure,
    },

    #[error(
        "{action} `{image}` failed: the registry `{host}` wants a login, or refused the one given"
    )]
    #[diagnostic(
        code(kiln::docker::unauthorized),
        help(
            "log in with `docker login {host}` (kiln reads ~/.docker/config.json and its credential helpers), or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD\nthe registry said: {source}"
        )
    )]
    Unauthorized {
        action: &'static str,
        image: String,
        host: String,
        #[source]
        source: RequestFailure,
    },

    #[error("cannot read the credentials for the registry `{host}`: {}: {source}", path.display())]
    #[diagnostic(
        code(kiln::docker::credentials),
        help(
            "fix or remove the entry in the docker config, or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD"
        )
    )]
    CredentialsRead {
        host: String,
        /// The docker config file.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read the credentials for the registry `{host}`: {} is not valid JSON: {source}", path.display())]
    #[diagnostic(
        code(kiln::docker::credentials),
        help(
            "fix or remove the entry in the docker config, or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD"
        )
    )]
    CredentialsJson {
        host: String,
        /// The docker config file.
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot read the credentials for the registry `{host}`: `{program} get`: {source}")]
    #[diagnostic(
        code(kiln::docker::credentials),
        help(
            "fix or remove the entry in the docker config, or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD"
        )
    )]
    CredentialHelper {
        host: String,
        /// `docker-credential-<name>`.
        program: String,
        /// Starting the helper or talking to it failed.
        #[source]
        source: std::io::Error,
    },

    /// Credentials that are there but unusable: a config entry that does not decode, a
    /// credential helper that failed (with what it printed) or answered nonsense.
    #[error("cannot read the credentials for the registry `{host}`: {message}")]
    #[diagnostic(
        code(kiln::docker::credentials),
        help(
            "fix or remove the entry in the docker config, or set KILN_REGISTRY_USER and KILN_REGISTRY_PASSWORD"
        )
    )]
    Credentials { host: String, message: String },

    #[error("cannot write `{path}`: {source}")]
    #[diagnostic(code(kiln::docker::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A tarball that cannot be read as a tar (a bad header, a read error).
    #[error("cannot read `{}` as a tar: {source}", path.display())]
    #[diagnostic(code(kiln::docker::archive_read))]
    ArchiveRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A JSON file of a `docker save` tarball (manifest.json, an image config,
    /// `repositories`, index.json) that does not decode.
    #[error("the `{file}` of `{}` is not what `docker save` writes: {source}", path.display())]
    #[diagnostic(code(kiln::docker::archive_json))]
    ArchiveJson {
        path: PathBuf,
        file: String,
        #[source]
        source: serde_json::Error,
    },

    /// A tar without a file every `docker save` tarball has.
    #[error("`{}` is not a `docker save` tarball: it has no `{missing}`", path.display())]
    #[diagnostic(code(kiln::docker::archive_incomplete))]
    ArchiveIncomplete { path: PathBuf, missing: String },

    /// A load that tagged more than the one tag the checked tarball holds.
    #[error("loading `{}` tagged {}, not only `{expected}`", path.display(), tags.join(", "))]
    #[diagnostic(code(kiln::docker::archive_moved_tags))]
    ArchiveMovedTags {
        path: PathBuf,
        expected: String,
        tags: Vec<String>,
    },
}

/// Why a built image could not be labelled by a config-only load (`relabel.rs`). kiln
/// then builds it again with a `LABEL` instruction, so none of these fails a step by
/// itself.
#[derive(Debug, Error, Diagnostic)]
pub enum RelabelError {
    /// A daemon call (inspect, history, load, tag) failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    /// `inspect_image` did not say something an image config needs.
    #[error("the daemon's description of `{image}` has no `{field}`")]
    #[diagnostic(
        code(kiln::docker::relabel_incomplete),
        help(
            "the daemon describes images unlike Docker Engine's image store; kiln labels with a LABEL instruction instead"
        )
    )]
    Incomplete { image: String, field: &'static str },

    #[error("cannot write the labelled config of `{image}`: {source}")]
    #[diagnostic(code(kiln::docker::relabel_encode))]
    Encode {
        image: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot write the config-only tarball of `{image}`: {source}")]
    #[diagnostic(code(kiln::docker::relabel_archive))]
    Archive {
        image: String,
        #[source]
        source: std::io::Error,
    },

    /// The load succeeded, and the daemon has no image of the config's digest.
    #[error("loading the labelled config of `{image}` gave no image `{expected}`")]
    #[diagnostic(
        code(kiln::docker::relabel_not_loaded),
        help(
            "a daemon with the containerd image store names images by their manifest, and wants the layers' blobs"
        )
    )]
    NotLoaded { image: String, expected: String },

    #[error(
        "the labelled image `{loaded}` has other layers than the built `{image}` ({found} against {built})"
    )]
    #[diagnostic(code(kiln::docker::relabel_layers))]
    OtherLayers {
        image: String,
        loaded: String,
        /// How many layers the built image has.
        built: usize,
        /// How many the loaded one has.
        found: usize,
    },

    #[error("the labelled image `{loaded}` lacks the label `{key}`, or has another value")]
    #[diagnostic(code(kiln::docker::relabel_label))]
    LabelMissing { loaded: String, key: String },
}

/// How the connection to the daemon failed, in kiln's words rather than the HTTP
/// client's (`client error (Connect)`, `connection closed before message completed`);
/// `-vv` logs the client's own error beside the request.
#[derive(Debug, Error)]
pub enum ConnectionLost {
    /// A socket is there, and nothing accepts connections on it (a stopped daemon).
    #[error("nothing accepts connections there (connection refused)")]
    Refused,
    /// No socket at the address.
    #[error("there is no socket there")]
    NoSocket,
    /// The connection closed (or was reset) before the daemon's answer was complete: the
    /// daemon went away mid-request.
    #[error("the connection closed before the daemon's answer was complete")]
    Closed,
    #[error("the connection timed out")]
    TimedOut,
    /// Another error of the connection.
    #[error("{0}")]
    Io(std::io::Error),
    /// What the classification does not know, as the client said it. Boxed: bollard's
    /// error would make every `DockerError` larger.
    #[error(transparent)]
    Other(Box<bollard::errors::Error>),
}

impl ConnectionLost {
    /// What `error` says of the connection: the first I/O error or closed connection
    /// down its chain of causes.
    pub fn of(error: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        use std::io::ErrorKind as Kind;
        let first: &(dyn std::error::Error + 'static) = match &error {
            E::SocketNotFoundError(_) => return ConnectionLost::NoSocket,
            E::RequestTimeoutError => return ConnectionLost::TimedOut,
            // These three are transparent: their `source()` skips the error they hold.
            E::IOError { err } => err,
            E::HyperResponseError { err } => err,
            E::HyperLegacyError { err } => err,
            other => other,
        };
        let mut next = Some(first);
        while let Some(cause) = next {
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                    return ConnectionLost::Closed;
                }
                if hyper.is_timeout() {
                    return ConnectionLost::TimedOut;
                }
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    Kind::ConnectionRefused => return ConnectionLost::Refused,
                    Kind::NotFound => return ConnectionLost::NoSocket,
                    Kind::ConnectionReset
                    | Kind::ConnectionAborted
                    | Kind::BrokenPipe
                    | Kind::UnexpectedEof
                    | Kind::NotConnected => return ConnectionLost::Closed,
                    Kind::TimedOut => return ConnectionLost::TimedOut,
                    // An `other` error may wrap a more telling one (BuildKit's
                    // transport); its `source()` would skip the one it wraps.
                    Kind::Other if io.get_ref().is_some() => {
                        next = io
                            .get_ref()
                            .map(|inner| inner as &(dyn std::error::Error + 'static));
                        continue;
                    }
                    _ => {
                        return ConnectionLost::Io(std::io::Error::new(io.kind(), io.to_string()));
                    }
                }
            }
            next = cause.source();
        }
        ConnectionLost::Other(Box::new(error))
    }
}

/// Whether `error` is the connection failing — not reached, broken, timed out — rather
/// than something the daemon answered.
pub fn is_transport(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    matches!(
        error,
        E::IOError { .. }
            | E::HyperResponseError { .. }
            | E::HyperLegacyError { .. }
            | E::RequestTimeoutError
            | E::SocketNotFoundError(_)
    )
}

/// Why a request to the daemon (or through it, to a registry) failed.
#[derive(Debug, Error)]
pub enum RequestFailure {
    /// The request itself failed. Boxed: bollard's error would make every
    /// `DockerError` (and what wraps one) larger.
    #[error(transparent)]
    Docker(Box<bollard::errors::Error>),
    /// The daemon answered, but with an error message (in a progress stream) or with
    /// something kiln cannot use.
    #[error("{0}")]
    Said(String),
}

impl From<bollard::errors::Error> for RequestFailure {
    fn from(error: bollard::errors::Error) -> Self {
        RequestFailure::Docker(Box::new(error))
    }
}

impl From<&str> for RequestFailure {
    fn from(said: &str) -> Self {
        RequestFailure::Said(said.to_owned())
    }
}

impl From<String> for RequestFailure {
    fn from(said: String) -> Self {
        RequestFailure::Said(said)
    }
}

impl DockerError {
    pub fn request(action: &'static str, image: &str, failure: impl Into<RequestFailure>) -> Self {
        DockerError::Request {
            action,
            image: image.to_owned(),
            source: failure.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> bollard::errors::Error {
        bollard::errors::Error::IOError {
            err: std::io::Error::new(kind, "test"),
        }
    }

    #[test]
    fn a_lost_connection_is_said_in_kilns_words() {
        use std::io::ErrorKind as Kind;
        let said = |error| ConnectionLost::of(error).to_string();
        assert_eq!(
            said(io(Kind::ConnectionRefused)),
            "nothing accepts connections there (connection refused)"
        );
        assert_eq!(
            said(bollard::errors::Error::SocketNotFoundError("/x".into())),
            "there is no socket there"
        );
        for kind in [Kind::UnexpectedEof, Kind::ConnectionReset, Kind::BrokenPipe] {
            assert_eq!(
                said(io(kind)),
                "the connection closed before the daemon's answer was complete"
            );
        }
        // Wrapped in an `other` error (as BuildKit's transport is): the wrapped one tells.
        let wrapped = bollard::errors::Error::IOError {
            err: std::io::Error::other(std::io::Error::from(Kind::ConnectionRefused)),
        };
        assert!(matches!(
            ConnectionLost::of(wrapped),
            ConnectionLost::Refused
        ));
        assert!(is_transport(&io(Kind::BrokenPipe)));
        let answered = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "no".into(),
        };
        assert!(!is_transport(&answered));
    }
}
