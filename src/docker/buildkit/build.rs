//! A build by BuildKit: the context tar in the body of `POST /build?version=2`, a
//! session for secrets and logins, and the progress BuildKit streams back (base64
//! protobuf `StatusResponse`s under `moby.buildkit.trace`) written to the step's log.

use std::collections::HashMap;
use std::io::Write;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use prost::Message;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::endpoint::{self, Endpoint};
use super::error::TransportError;
use super::progress::Progress;
use super::session;
use crate::docker::build::{BuildRequest, produce_context};
use crate::docker::{Daemon, DockerError};
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;

/// One line of the daemon's answer to `/build`.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    aux: Option<serde_json::Value>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// What a build's answer ended with.
enum Ending {
    Image(String),
    Failed(String),
    Cancelled,
    /// The answer ended without an image or an error.
    Nothing,
}

impl Daemon {
    /// Builds `request` with BuildKit (see [`Daemon::build`]).
    pub(in crate::docker) async fn build_with_buildkit(
        &self,
        request: BuildRequest,
        log: &mut (dyn Write + Send),
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        let Some(endpoint) = Endpoint::parse(self.address()) else {
            return Err(DockerError::BuildKitUnavailable {
                address: self.address().to_owned(),
            });
        };
        let lost = |source: TransportError| DockerError::Unreachable {
            during: Some(format!("building `{}` with BuildKit", request.name)),
            source: source.into_bollard(),
        };
        let version = self.docker.client_version();
        let session = session::open(&endpoint, &version, request.secrets.clone())
            .await
            .map_err(lost)?;
        let query = query(&request, &session.id);
        let (writer, mut chunks) = produce_context(request.context);
        let body = BodyExt::boxed(StreamBody::new(futures_util::stream::poll_fn(move |cx| {
            chunks
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok::<_, std::io::Error>(Frame::data(c))))
        })));
        let http_request = http::Request::post(endpoint::path(&version, "build", Some(&query)))
            .header(http::header::HOST, "docker")
            .header(http::header::CONTENT_TYPE, "application/x-tar")
            .body(body)
            .map_err(|e| lost(TransportError::Request(e)))?;
        let mut sender = endpoint.open(false).await.map_err(lost)?;
        let response = tokio::select! {
            response = sender.send_request(http_request) => response.map_err(|e| lost(TransportError::Http(e)))?,
            () = cancel.cancelled() => {
                let _ = writeln!(log, "kiln: cancelled");
                return Err(build_failed(&request.name, None, "cancelled".to_owned(), String::new()));
            }
        };
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
            let _ = writeln!(log, "{message}");
            let _ = writer.await;
            return Err(build_failed(&request.name, None, message, String::new()));
        }
        let mut progress = Progress::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut image = None;
        let ending = 'answer: loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = cancel.cancelled() => break Ending::Cancelled,
            };
            let Some(frame) = frame else {
                break image.take().map_or(Ending::Nothing, Ending::Image);
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    let _ = writeln!(log, "kiln: the connection to the daemon broke: {e}");
                    drop(body);
                    let _ = writer.await;
                    return Err(lost(TransportError::Http(e)));
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                match self::line(&line, &mut progress, log) {
                    // The image id comes before BuildKit's last records: read on.
                    Some(Ending::Image(id)) => image = Some(id),
                    Some(ending) => break 'answer ending,
                    None => {}
                }
            }
        };
        drop(body);
        drop(sender);
        drop(session);
        let written = writer.await;
        let _ = log.flush();
        if let Ok(Err(source)) = written
            && !matches!(ending, Ending::Image(_))
        {
            return Err(DockerError::Io {
                path: "build context".to_owned(),
                source,
            });
        }
        match ending {
            Ending::Image(id) => Ok(id),
            Ending::Failed(message) => Err(build_failed(
                &request.name,
                progress.instruction(),
                message,
                progress.tail(),
            )),
            Ending::Cancelled => {
                let _ = writeln!(log, "kiln: cancelled");
                Err(build_failed(
                    &request.name,
                    progress.instruction(),
                    "cancelled".to_owned(),
                    progress.tail(),
                ))
            }
            Ending::Nothing => Err(DockerError::request(
                "building",
                &request.name,
                "the daemon reported no image",
            )),
        }
    }
}

/// Handles one line of the answer; an ending when it says how the build ended.
fn line(line: &[u8], progress: &mut Progress, log: &mut (dyn Write + Send)) -> Option<Ending> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let message: Answer = match serde_json::from_slice(line) {
        Ok(message) => message,
        Err(e) => {
            let _ = writeln!(log, "kiln: {}", TransportError::Json(e));
            return None;
        }
    };
    if let Some(text) = &message.stream {
        let _ = log.write_all(text.as_bytes());
    }
    match (message.id.as_deref(), message.aux) {
        (Some("moby.buildkit.trace"), Some(serde_json::Value::String(encoded))) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .ok()
                .and_then(|bytes| StatusResponse::decode(Bytes::from(bytes)).ok());
            match decoded {
                Some(status) => progress.apply(status, log),
                None => {
                    let _ = writeln!(log, "kiln: a progress record that does not decode");
                }
            }
        }
        (Some("moby.image.id"), Some(aux)) => {
            if let Some(id) = aux.get("ID").and_then(|id| id.as_str()) {
                return Some(Ending::Image(id.to_owned()));
            }
        }
        _ => {}
    }
    let failure = message
        .error_detail
        .and_then(|d| d.message)
        .or(message.error);
    if let Some(message) = failure {
        let _ = writeln!(log, "{message}");
        return Some(Ending::Failed(message));
    }
    None
}

fn build_failed(
    name: &str,
    instruction: Option<String>,
    message: String,
    tail: String,
) -> DockerError {
    DockerError::BuildFailed {
        tag: name.to_owned(),
        instruction,
        message,
        tail,
    }
}

/// The query of the `/build` request.
fn query(request: &BuildRequest, session: &str) -> String {
    let json = |map: &HashMap<String, String>| serde_json::to_string(map).unwrap_or_default();
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("version", "2")
        .append_pair("session", session)
        .append_pair("dockerfile", &request.dockerfile)
        .append_pair("buildargs", &json(&request.args))
        .append_pair("labels", &json(&request.labels))
        .append_pair("rm", "1")
        .append_pair("forcerm", "1");
    if request.no_cache {
        query.append_pair("nocache", "1");
    }
    if let Some(tag) = &request.tag {
        query.append_pair("t", tag);
    }
    query.finish()
}
