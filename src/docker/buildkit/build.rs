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
        let lost = |source: TransportError| {
            self.unreachable(
                format!("building `{}` with BuildKit", request.name),
                source.into_bollard(),
            )
        };
        let version = self.docker.client_version();
        let during = || format!("building `{}` with BuildKit", request.name);
        // Opening the session is a quick call: a hung daemon is named within the bound.
        let session = self
            .answer(
                during,
                session::open(&endpoint, &version, request.secrets.clone()),
            )
            .await?
            .map_err(|source| match source {
                refused @ TransportError::NoUpgrade { .. } => DockerError::BuildKitRefused {
                    address: self.address().to_owned(),
                    source: Box::new(refused),
                },
                other => lost(other),
            })?;
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
        // The answer starts once the daemon has read the context and begun; until then,
        // and between progress records, a silent daemon is pinged (`Daemon::watch`).
        let response = tokio::select! {
            response = self.watch(during, sender.send_request(http_request)) => {
                response?.map_err(|e| lost(TransportError::Http(e)))?
            }
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
        let mut progress = Progress::telling(request.on_step.clone());
        let mut pending: Vec<u8> = Vec::new();
        let mut image = None;
        let ending = 'answer: loop {
            let frame = tokio::select! {
                frame = self.watch(during, body.frame()) => frame?,
                () = cancel.cancelled() => break Ending::Cancelled,
            };
            let Some(frame) = frame else {
                // A last line without its newline.
                match self::line(&std::mem::take(&mut pending), &mut progress, log) {
                    Some(Ending::Image(id)) => image = Some(id),
                    Some(ending) => break ending,
                    None => {}
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::Vertex;

    fn read(text: &str, progress: &mut Progress, log: &mut Vec<u8>) -> Option<Ending> {
        line(text.as_bytes(), progress, log)
    }

    #[test]
    fn the_answer_names_the_image_the_failure_and_the_progress() {
        let mut progress = Progress::default();
        let mut log = Vec::new();
        let status = StatusResponse {
            vertexes: vec![Vertex {
                digest: "sha256:a".to_owned(),
                name: "[1/1] COPY a /a".to_owned(),
                cached: true,
                ..Vertex::default()
            }],
            ..StatusResponse::default()
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec());
        let trace = format!(r#"{{"id":"moby.buildkit.trace","aux":"{encoded}"}}"#);
        assert!(read(&trace, &mut progress, &mut log).is_none());
        assert_eq!(
            String::from_utf8_lossy(&log),
            "#1 [1/1] COPY a /a\n#1 CACHED\n"
        );
        match read(
            r#"{"id":"moby.image.id","aux":{"ID":"sha256:b"}}"#,
            &mut progress,
            &mut log,
        ) {
            Some(Ending::Image(id)) => assert_eq!(id, "sha256:b"),
            _ => panic!("the image id ends the build"),
        }
        match read(
            r#"{"errorDetail":{"message":"exit code: 1"},"error":"exit code: 1"}"#,
            &mut progress,
            &mut log,
        ) {
            Some(Ending::Failed(message)) => assert_eq!(message, "exit code: 1"),
            _ => panic!("an error ends the build"),
        }
        assert!(read("not json", &mut progress, &mut log).is_none());
        assert!(String::from_utf8_lossy(&log).contains("not JSON"));
    }

    #[test]
    fn the_query_names_the_session_and_never_a_secret() {
        let request = BuildRequest {
            name: "kiln:x".to_owned(),
            tag: None,
            dockerfile: ".kiln/Dockerfile".to_owned(),
            args: HashMap::from([("A".to_owned(), "1 2".to_owned())]),
            labels: HashMap::new(),
            no_cache: true,
            context: Box::new(|_| Ok(())),
            backend: crate::docker::Backend::BuildKit,
            secrets: super::session::SecretValues::new(HashMap::from([(
                "token".to_owned(),
                b"hunter2".to_vec(),
            )])),
            on_step: Default::default(),
        };
        let query = query(&request, "s1");
        assert!(query.starts_with("version=2&session=s1&dockerfile=.kiln%2FDockerfile"));
        assert!(query.contains("buildargs=%7B%22A%22%3A%221+2%22%7D"));
        assert!(query.contains("nocache=1") && !query.contains("&t="));
        assert!(!query.contains("hunter2") && !query.contains("token"));
    }
}
