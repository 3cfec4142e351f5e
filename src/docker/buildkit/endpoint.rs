//! A connection of kiln's own to the daemon, for the two requests bollard cannot make
//! the way a BuildKit build needs them.
//!
//! Hand-written over hyper (which bollard itself uses) for one reason: bollard's
//! BuildKit build opens the build's session itself and serves only registry logins on
//! it, so a build secret — which BuildKit asks the session for — could never be given.
//! kiln opens the session (`session.rs`) and sends the `/build` request naming it
//! (`build.rs`) on connections made here. Everything else stays with bollard.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::error::TransportError;

/// The body of a request kiln sends on such a connection.
pub type Body = BoxBody<Bytes, io::Error>;

/// Where the daemon listens, as DOCKER_HOST names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port` or `http://host:port`, without TLS.
    Tcp(String),
}

/// A byte stream to the daemon, whichever socket it is.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

impl Endpoint {
    /// The endpoint of a DOCKER_HOST address, or `None` for one kiln cannot reach on its
    /// own (`ssh://`, `npipe://`, TLS with DOCKER_TLS_VERIFY): BuildKit builds are not
    /// available there.
    pub fn parse(address: &str) -> Option<Self> {
        if let Some(path) = address.strip_prefix("unix://") {
            return (!path.is_empty()).then(|| Endpoint::Unix(PathBuf::from(path)));
        }
        let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        let rest = address
            .strip_prefix("tcp://")
            .or_else(|| address.strip_prefix("http://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        (!tls && !authority.is_empty()).then(|| Endpoint::Tcp(authority.to_owned()))
    }

    /// Opens a connection and agrees on HTTP/1.1 over it; `upgrades` keeps the
    /// connection usable after a `101 Switching Protocols` answer.
    pub async fn open(&self, upgrades: bool) -> Result<http1::SendRequest<Body>, TransportError> {
        let stream: Pin<Box<dyn Stream>> = match self {
            Endpoint::Unix(path) => Box::pin(
                UnixStream::connect(path)
                    .await
                    .map_err(TransportError::Connect)?,
            ),
            Endpoint::Tcp(authority) => Box::pin(
                TcpStream::connect(authority)
                    .await
                    .map_err(TransportError::Connect)?,
            ),
        };
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(TransportError::Http)?;
        // The connection lives as long as its requests: it ends when the sender and
        // every response body are dropped, or when the daemon closes it.
        if upgrades {
            tokio::spawn(async move {
                if let Err(e) = connection.with_upgrades().await {
                    tracing::debug!("buildkit session connection: {e}");
                }
            });
        } else {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("buildkit build connection: {e}");
                }
            });
        }
        Ok(sender)
    }
}

/// `/v1.41/build?…`: the path of an API call at the negotiated version.
pub fn path(version: &bollard::ClientVersion, call: &str, query: Option<&str>) -> String {
    let mut path = format!(
        "/v{}.{}/{call}",
        version.major_version, version.minor_version
    );
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_kiln_can_reach_itself() {
        assert_eq!(
            Endpoint::parse("unix:///var/run/docker.sock"),
            Some(Endpoint::Unix(PathBuf::from("/var/run/docker.sock")))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375"),
            Some(Endpoint::Tcp("127.0.0.1:2375".to_owned()))
        );
        assert_eq!(Endpoint::parse("ssh://user@host"), None);
        assert_eq!(Endpoint::parse("npipe:////./pipe/docker_engine"), None);
        assert_eq!(Endpoint::parse("unix://"), None);
    }

    #[test]
    fn paths_carry_the_api_version() {
        let version = bollard::ClientVersion {
            major_version: 1,
            minor_version: 41,
        };
        assert_eq!(path(&version, "session", None), "/v1.41/session");
        assert_eq!(
            path(&version, "build", Some("version=2")),
            "/v1.41/build?version=2"
        );
    }
}
