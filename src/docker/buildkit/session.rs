//! A BuildKit session: the side channel over which the daemon asks the client for what
//! a build may not carry in its request — build secrets and registry logins.
//!
//! The client opens it with `POST /session` and `Upgrade: h2c`; from then on the
//! daemon is the gRPC client and kiln serves, on that one connection, the health check
//! BuildKit pings, `moby.buildkit.secrets.v1.Secrets` and `moby.filesync.v1.Auth`.
//! (The Go client does the same in moby/buildkit's `session` package.)

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::endpoint::{self, Endpoint};
use super::error::TransportError;
use crate::docker::credentials;

/// The secrets a build may read, by id. Held in memory for the build only; never
/// written anywhere.
#[derive(Clone, Default)]
pub struct SecretValues(Arc<HashMap<String, Vec<u8>>>);

impl SecretValues {
    pub fn new(values: HashMap<String, Vec<u8>>) -> Self {
        Self(Arc::new(values))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: a value never reaches a log through Debug.
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// An open session; closed when dropped.
pub struct Session {
    pub id: String,
    serving: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Opens a session at `endpoint` serving `secrets`.
pub async fn open(
    endpoint: &Endpoint,
    version: &bollard::ClientVersion,
    secrets: SecretValues,
) -> Result<Session, TransportError> {
    let id = session_id();
    let mut sender = endpoint.open(true).await?;
    let mut request = http::Request::post(endpoint::path(version, "session", None))
        .header(http::header::HOST, "docker")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", &id)
        .header("X-Docker-Expose-Session-Name", "kiln")
        // BuildKit keys the cache of a session's local sources by it; kiln sends its
        // context in the request, so one key does.
        .header("X-Docker-Expose-Session-Sharedkey", "kiln");
    for method in METHODS {
        request = request.header("X-Docker-Expose-Session-Grpc-Method", *method);
    }
    let request = request
        .body(Empty::new().map_err(|never| match never {}).boxed())
        .map_err(TransportError::Request)?;
    let mut response = sender
        .send_request(request)
        .await
        .map_err(TransportError::Http)?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(TransportError::NoUpgrade {
            status: response.status(),
        });
    }
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(TransportError::Http)?;
    let connection = SessionConnection(TokioIo::new(upgraded));
    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(SecretsServer::new(SecretStore(secrets)))
        .add_service(AuthServer::new(Logins));
    let serving = tokio::spawn(async move {
        let incoming = futures_util::stream::iter([Ok::<_, std::io::Error>(connection)]);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::debug!("buildkit session: {e}");
        }
    });
    Ok(Session { id, serving })
}

/// The gRPC methods kiln serves, announced when the session opens.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
];

/// A session id no other client on the daemon has: its process, the time and a
/// counter, hashed.
fn session_id() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!(
        "{}-{}-{}",
        std::process::id(),
        now.as_nanos(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let digest = Sha256::digest(seed.as_bytes());
    hex::encode(&digest[..13])
}

/// The upgraded connection, as tonic's server wants its incoming connections.
struct SessionConnection(TokioIo<Upgraded>);

impl tonic::transport::server::Connected for SessionConnection {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SessionConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Answers BuildKit's health checks: the session is there as long as it is served.
struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    type WatchStream = futures_util::stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

/// Gives a `RUN --mount=type=secret,id=…` the value the step declared under that id.
struct SecretStore(SecretValues);

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match (self.0).0.get(id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            None => Err(Status::not_found(format!(
                "secret `{id}` is not declared by the step (declare it with: secret \"{id}\" env=\"…\")"
            ))),
        }
    }
}

/// Logins to registries, for a `FROM` BuildKit pulls: the same credentials kiln pulls
/// and pushes with (KILN_REGISTRY_USER/PASSWORD, the docker config, its helpers).
struct Logins;

#[tonic::async_trait]
impl Auth for Logins {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.get_ref().host.clone();
        // A reference on that host: the lookup keys on the reference's registry.
        let found = tokio::task::spawn_blocking(move || {
            credentials::credentials(&format!("{host}/kiln-login"))
        })
        .await;
        let mut answer = CredentialsResponse::default();
        match found {
            Ok(Ok(Some(login))) => {
                if let Some(token) = login.identitytoken.filter(|t| !t.is_empty()) {
                    answer.secret = token;
                } else {
                    answer.username = login.username.unwrap_or_default();
                    answer.secret = login.password.unwrap_or_default();
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!("{e}"),
            Err(e) => tracing::debug!("credential lookup: {e}"),
        }
        Ok(Response::new(answer))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        // BuildKit then fetches the token itself, with `credentials`.
        Err(Status::unimplemented("fetch_token"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}
