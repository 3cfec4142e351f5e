//! Events as JSON lines: `--json` on stdout, and `events.jsonl` in the job record. The
//! first line says the format (`{"kind":"run-started","format":2,"nodes":N}`), the last
//! how the run ended (`{"kind":"run-finished","cancelled":false}`); docs/cli.md has
//! the rest.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::engine::{Event, Subscriber};

/// Version of the event lines' layout: 2 added the `run-started`/`run-finished`
/// lines, `parent`, `duration_ms`, a failure's `log` and a success's `result`.
pub const EVENTS_FORMAT_VERSION: u32 = 2;

/// Writes each event as one line of JSON; a write error stops the writing, never the run
/// (the first one is kept for [`JsonLines::take_error`]).
pub struct JsonLines {
    out: Option<Box<dyn Write + Send>>,
    failed: Option<std::io::Error>,
    /// Flush after every event (a pipe someone follows), or only at the end (a file).
    flush_each: bool,
}

impl JsonLines {
    /// Events on standard output, flushed one by one.
    pub fn stdout() -> Self {
        Self {
            out: Some(Box::new(std::io::stdout())),
            failed: None,
            flush_each: true,
        }
    }

    /// Events into `path` (the job record's `events.jsonl`).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            out: Some(Box::new(BufWriter::new(File::create(path)?))),
            failed: None,
            flush_each: false,
        })
    }

    /// Events into any writer (tests).
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Some(Box::new(out)),
            failed: None,
            flush_each: true,
        }
    }
}

impl JsonLines {
    fn write(&mut self, value: &impl Serialize) {
        let Some(out) = self.out.as_mut() else { return };
        let written = serde_json::to_writer(&mut *out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| if self.flush_each { out.flush() } else { Ok(()) });
        if let Err(e) = written {
            self.fail(e);
        }
    }

    fn fail(&mut self, error: std::io::Error) {
        tracing::warn!("cannot write events: {error}");
        self.out = None;
        self.failed.get_or_insert(error);
    }

    /// The first write that failed, if one did.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.failed.take()
    }
}

impl<O: Serialize> Subscriber<O> for JsonLines {
    fn started(&mut self, nodes: usize) {
        self.write(&serde_json::json!({
            "kind": "run-started",
            "format": EVENTS_FORMAT_VERSION,
            "nodes": nodes,
        }));
    }

    fn event(&mut self, event: &Event<O>) {
        self.write(event);
    }

    fn finished(&mut self, cancelled: bool) {
        self.write(&serde_json::json!({ "kind": "run-finished", "cancelled": cancelled }));
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }
}
