//! Building an image from a context tar streamed to the daemon, by the classic builder
//! (through bollard) or by BuildKit (`buildkit/`).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;

use bollard::body_stream;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backend::Backend;
use super::buildkit::SecretValues;
use super::client::Daemon;
use super::error::DockerError;
use super::text::Tail;

/// Produces the context tar into the writer it is given; runs on a blocking thread.
pub type ContextWriter = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

pub struct BuildRequest {
    /// The image's name, for messages (`repo:tag`).
    pub name: String,
    /// `repo:tag` to give the image; `None` leaves it untagged (the build's aux output
    /// names it).
    pub tag: Option<String>,
    /// Path of the (rendered) Dockerfile inside the context tar.
    pub dockerfile: String,
    pub args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    /// Build every instruction anew: the daemon's layer cache answers none.
    pub no_cache: bool,
    pub context: ContextWriter,
    /// Which of the daemon's builders builds it.
    pub backend: Backend,
    /// Build secrets by id (BuildKit only): served to the build, never sent in the
    /// request or written anywhere.
    pub secrets: SecretValues,
    /// Told each instruction as the build starts it.
    pub on_step: StatusSink,
}

/// Hears what a long request is on: for a build, each instruction as the builder
/// names it (`Step 3/5 : RUN make` from the classic builder, `[2/3] RUN make` from
/// BuildKit). The default hears nothing.
#[derive(Clone, Default)]
pub struct StatusSink(Option<Arc<Tell>>);

type Tell = dyn Fn(&str) + Send + Sync;

impl StatusSink {
    pub fn new(tell: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(tell)))
    }

    pub fn tell(&self, step: &str) {
        if let Some(tell) = &self.0 {
            tell(step);
        }
    }
}

impl fmt::Debug for StatusSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "StatusSink(..)"
        } else {
            "StatusSink(none)"
        })
    }
}

/// Runs the context writer on a blocking thread; the chunks it writes come out of the
/// receiver, and the handle says whether writing failed.
pub(super) fn produce_context(
    producer: ContextWriter,
) -> (
    tokio::task::JoinHandle<std::io::Result<()>>,
    mpsc::Receiver<Bytes>,
) {
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        };
        producer(&mut out)?;
        out.flush()
    });
    (writer, receiver)
}

/// Sends everything written to it to the daemon in chunks.
struct ChannelWriter {
    sender: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.sender.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the daemon stopped reading the context",
            )
        })
    }
}

impl Daemon {
    /// Builds `request`, writing the daemon's output to `log`. Returns the image id.
    pub async fn build(
        &self,
        request: BuildRequest,
        log: &mut (dyn Write + Send),
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        match request.backend {
            Backend::Classic => self.build_classic(request, log, cancel).await,
            Backend::BuildKit => self.build_with_buildkit(request, log, cancel).await,
        }
    }

    async fn build_classic(
        &self,
        request: BuildRequest,
        log: &mut (dyn Write + Send),
        cancel: &CancellationToken,
    ) -> Result<String, DockerError> {
        // The caller checks that a step with secrets is not built classically
        // (`kiln::build::secrets_need_buildkit`); the classic builder could not pass
        // them.
        debug_assert!(request.secrets.is_empty(), "secrets reach BuildKit only");
        let (writer, receiver) = produce_context(request.context);
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&request.dockerfile)
            .buildargs(&request.args)
            .labels(&request.labels)
            .nocache(request.no_cache)
            .rm(true)
            .forcerm(true);
        if let Some(tag) = &request.tag {
            options = options.t(tag);
        }
        let options = options.build();
        let body = body_stream(tokio_stream_from(receiver));
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut tail = Tail::default();
        let mut instruction = None;
        let mut image_id = None;
        let mut failure: Option<String> = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cancel.cancelled() => {
                    failure = Some("cancelled".to_owned());
                    break;
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    if let Some(text) = &info.stream {
                        let _ = log.write_all(text.as_bytes());
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            if let Some(step) = parse_step(line) {
                                instruction = Some(step.to_owned());
                                request.on_step.tell(&super::text::printable(line));
                            }
                            tail.line(line);
                        }
                    }
                    if let Some(aux) = info.aux.and_then(|a| a.id) {
                        image_id = Some(aux);
                    }
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        let _ = writeln!(log, "{detail}");
                        failure = Some(detail);
                    }
                }
                // The daemon reporting the build failed.
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    let _ = writeln!(log, "{error}");
                    failure = Some(error);
                    break;
                }
                // The connection broke: the daemon went away (a restart, a crash), which
                // says nothing about the Dockerfile.
                Err(
                    source @ (bollard::errors::Error::IOError { .. }
                    | bollard::errors::Error::HyperResponseError { .. }
                    | bollard::errors::Error::HyperLegacyError { .. }
                    | bollard::errors::Error::RequestTimeoutError
                    | bollard::errors::Error::SocketNotFoundError(_)),
                ) => {
                    let _ = writeln!(log, "kiln: the connection to the daemon broke: {source}");
                    let _ = log.flush();
                    drop(stream);
                    let _ = writer.await;
                    return Err(self.unreachable(format!("building `{}`", request.name), source));
                }
                // Anything else the daemon answered: the build failed.
                Err(other) => {
                    let message = other.to_string();
                    let _ = writeln!(log, "{message}");
                    failure = Some(message);
                    break;
                }
            }
        }
        drop(stream);
        let written = writer.await;
        let _ = log.flush();
        // A context that could not be written explains a failed build best.
        if let Ok(Err(source)) = written
            && (failure.is_some() || image_id.is_none())
        {
            return Err(DockerError::Io {
                path: "build context".to_owned(),
                source,
            });
        }
        if let Some(message) = failure {
            return Err(DockerError::BuildFailed {
                tag: request.name,
                instruction,
                message,
                tail: tail.text(),
            });
        }
        let no_image =
            || DockerError::request("building", &request.name, "the daemon reported no image");
        match (image_id, &request.tag) {
            (Some(id), _) => Ok(id),
            // Old daemons without aux ids: the tag was applied, ask for it.
            (None, Some(tag)) => self.inspect(tag).await?.map(|i| i.id).ok_or_else(no_image),
            (None, None) => Err(no_image()),
        }
    }
}

/// `Step 3/5 : RUN make` → `RUN make` (the classic builder's progress lines).
fn parse_step(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Step ")?;
    let (counter, instruction) = rest.split_once(" : ")?;
    counter.contains('/').then_some(instruction.trim())
}

fn tokio_stream_from(
    mut receiver: mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::parse_step;

    #[test]
    fn finds_the_instruction_of_a_step_line() {
        assert_eq!(parse_step("Step 3/5 : RUN make all"), Some("RUN make all"));
        assert_eq!(parse_step("Step : nothing"), None);
        assert_eq!(parse_step(" ---> Running in 1234"), None);
    }
}
