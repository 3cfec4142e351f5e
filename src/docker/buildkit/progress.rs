//! BuildKit's progress, as a log a person reads: the plain form `docker buildx build
//! --progress=plain` prints, one numbered block per vertex.
//!
//! ```text
//! #4 [2/3] RUN make
//! #4 0.211 compiling…
//! #4 DONE 1.2s
//! #5 [3/3] COPY out /out
//! #5 CACHED
//! ```

use std::collections::HashMap;
use std::io::Write;

use bollard_buildkit_proto::moby::buildkit::v1::{StatusResponse, Vertex};

use crate::docker::StatusSink;
use crate::docker::text::{Tail, printable};

/// What the progress said so far.
#[derive(Debug, Default)]
pub struct Progress {
    /// Each vertex seen, by digest: its number in the log and whether its start and
    /// end were printed.
    vertices: HashMap<String, Seen>,
    /// The number the next vertex gets.
    next: usize,
    /// The last lines printed.
    tail: Tail,
    /// The Dockerfile instruction of the last vertex that failed.
    failed: Option<String>,
    /// The instruction running or done last (`[2/3] RUN make` → `RUN make`).
    current: Option<String>,
    /// Output of a vertex not ended by a newline yet, by digest.
    partial: HashMap<String, Vec<u8>>,
    /// Told each instruction that starts running (not one the cache answers).
    on_step: StatusSink,
}

#[derive(Debug)]
struct Seen {
    number: usize,
    name: String,
    started: bool,
    ended: bool,
}

impl Progress {
    /// A progress that tells `on_step` each instruction that starts running.
    pub fn telling(on_step: StatusSink) -> Self {
        Self {
            on_step,
            ..Self::default()
        }
    }

    /// Writes what `status` adds to the log.
    pub fn apply(&mut self, status: StatusResponse, log: &mut (dyn Write + Send)) {
        for vertex in &status.vertexes {
            self.vertex(vertex, log);
        }
        for entry in status.logs {
            let Some(number) = self.vertices.get(&entry.vertex).map(|s| s.number) else {
                continue;
            };
            let pending = self.partial.entry(entry.vertex).or_default();
            pending.extend_from_slice(&entry.msg);
            let mut lines = Vec::new();
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            for line in lines {
                self.line(&format!("#{number} {line}"), log);
            }
        }
        for warning in status.warnings {
            let short = String::from_utf8_lossy(&warning.short).into_owned();
            self.line(&format!("WARNING: {short}"), log);
        }
    }

    fn vertex(&mut self, vertex: &Vertex, log: &mut (dyn Write + Send)) {
        let next = &mut self.next;
        let seen = self
            .vertices
            .entry(vertex.digest.clone())
            .or_insert_with(|| {
                *next += 1;
                Seen {
                    number: *next,
                    name: vertex.name.clone(),
                    started: false,
                    ended: false,
                }
            });
        let number = seen.number;
        let mut lines = Vec::new();
        if !seen.started && (vertex.started.is_some() || vertex.cached) {
            seen.started = true;
            lines.push(format!("#{number} {}", seen.name));
            if !vertex.cached && vertex.completed.is_none() && instruction(&seen.name).is_some() {
                self.on_step.tell(&printable(&seen.name));
            }
        }
        let mut failed = None;
        if !seen.ended && (vertex.completed.is_some() || vertex.cached || !vertex.error.is_empty())
        {
            seen.ended = true;
            if !seen.started {
                seen.started = true;
                lines.push(format!("#{number} {}", seen.name));
            }
            if !vertex.error.is_empty() {
                lines.push(format!("#{number} ERROR: {}", vertex.error));
                failed = Some(seen.name.clone());
            } else if vertex.cached {
                lines.push(format!("#{number} CACHED"));
            } else {
                let took = match (&vertex.started, &vertex.completed) {
                    (Some(start), Some(end)) => {
                        let nanos = (end.seconds - start.seconds) as f64 * 1e9
                            + f64::from(end.nanos - start.nanos);
                        format!(" {:.1}s", (nanos / 1e9).max(0.0))
                    }
                    _ => String::new(),
                };
                lines.push(format!("#{number} DONE{took}"));
            }
        }
        let name = seen.name.clone();
        if seen.started
            && let Some(instruction) = instruction(&name)
        {
            self.current = Some(instruction.to_owned());
        }
        if let Some(name) = failed {
            if let Some(pending) = self.partial.remove(&vertex.digest)
                && !pending.is_empty()
            {
                let text = String::from_utf8_lossy(&pending).into_owned();
                self.line(&format!("#{number} {text}"), log);
            }
            self.failed = instruction(&name).map(str::to_owned).or(self.failed.take());
        }
        for line in lines {
            self.line(&line, log);
        }
    }

    fn line(&mut self, line: &str, log: &mut (dyn Write + Send)) {
        let _ = writeln!(log, "{line}");
        self.tail.line(line);
    }

    /// The instruction that failed, else the one running last.
    pub fn instruction(&self) -> Option<String> {
        self.failed.clone().or_else(|| self.current.clone())
    }

    /// The last lines of the log.
    pub fn tail(&self) -> String {
        self.tail.text()
    }
}

/// The Dockerfile instruction of a vertex name: `[2/3] RUN make` and
/// `[builder 2/3] RUN make` → `RUN make`; BuildKit's own vertices (`[internal] load
/// …`, `exporting to image`) have none.
pub fn instruction(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('[')?;
    let (stage, instruction) = rest.split_once("] ")?;
    let counter = stage.rsplit(' ').next()?;
    let (done, total) = counter.split_once('/')?;
    (done.parse::<u32>().is_ok() && total.parse::<u32>().is_ok()).then_some(instruction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::google::protobuf::Timestamp;

    fn timestamp(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.to_owned(),
            name: name.to_owned(),
            ..Vertex::default()
        }
    }

    #[test]
    fn instructions_of_vertex_names() {
        assert_eq!(instruction("[2/3] RUN make"), Some("RUN make"));
        assert_eq!(instruction("[builder 1/4] FROM x"), Some("FROM x"));
        assert_eq!(instruction("[internal] load build context"), None);
        assert_eq!(instruction("exporting to image"), None);
    }

    #[test]
    fn a_failing_vertex_is_named_with_its_output() {
        let mut progress = Progress::default();
        let mut log = Vec::new();
        let mut run = vertex("sha256:a", "[2/2] RUN make");
        run.started = Some(timestamp(10, 0));
        progress.apply(
            StatusResponse {
                vertexes: vec![run.clone()],
                ..StatusResponse::default()
            },
            &mut log,
        );
        progress.apply(
            StatusResponse {
                logs: vec![bollard_buildkit_proto::moby::buildkit::v1::VertexLog {
                    vertex: "sha256:a".to_owned(),
                    msg: b"compiling\nno rule".to_vec(),
                    ..Default::default()
                }],
                ..StatusResponse::default()
            },
            &mut log,
        );
        run.completed = Some(timestamp(11, 500_000_000));
        run.error = "exit code: 2".to_owned();
        progress.apply(
            StatusResponse {
                vertexes: vec![run],
                ..StatusResponse::default()
            },
            &mut log,
        );
        let text = String::from_utf8(log).unwrap();
        assert_eq!(
            text,
            "#1 [2/2] RUN make\n#1 compiling\n#1 no rule\n#1 ERROR: exit code: 2\n"
        );
        assert_eq!(progress.instruction().as_deref(), Some("RUN make"));
        assert!(progress.tail().ends_with("#1 ERROR: exit code: 2"));
    }

    #[test]
    fn cached_and_done_vertices_print_once() {
        let mut progress = Progress::default();
        let mut log = Vec::new();
        let mut cached = vertex("sha256:c", "[1/2] COPY a /a");
        cached.cached = true;
        let mut done = vertex("sha256:d", "[internal] load build context");
        done.started = Some(timestamp(1, 0));
        done.completed = Some(timestamp(1, 250_000_000));
        for _ in 0..2 {
            progress.apply(
                StatusResponse {
                    vertexes: vec![cached.clone(), done.clone()],
                    ..StatusResponse::default()
                },
                &mut log,
            );
        }
        let text = String::from_utf8(log).unwrap();
        assert_eq!(
            text,
            "#1 [1/2] COPY a /a\n#1 CACHED\n#2 [internal] load build context\n#2 DONE 0.2s\n"
        );
    }
}
