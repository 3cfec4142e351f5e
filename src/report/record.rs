//! The job record's listener: every event into `events.jsonl`, the summary folded from
//! them into `summary.json` when the run ends. The summary is shared with the command,
//! which prints it and derives its exit code from it.

use std::sync::{Arc, Mutex};

use crate::engine::{Event, Subscriber};
use crate::job::JobRecord;
use crate::plan::Output;

use super::events::JsonLines;
use super::summary::Summary;

/// Records a run in its job record.
pub struct Recorder {
    job: Option<JobRecord>,
    events: Option<JsonLines>,
    /// `events.jsonl` could not be created.
    events_failed: Option<std::io::Error>,
    summary: Arc<Mutex<Summary>>,
}

impl Recorder {
    /// A recorder writing into `job` (nothing is written without one); the second value
    /// is the summary, complete once the run returned.
    pub fn new(job: Option<&JobRecord>, command: &str) -> (Self, Arc<Mutex<Summary>>) {
        let mut events_failed = None;
        let events = job.and_then(|job| {
            let path = job.dir.join("events.jsonl");
            JsonLines::file(&path)
                .inspect_err(|e| tracing::warn!("cannot record events in {}: {e}", path.display()))
                .map_err(|e| events_failed = Some(e))
                .ok()
        });
        let summary = Arc::new(Mutex::new(Summary::new(command)));
        let recorder = Self {
            job: job.cloned(),
            events,
            events_failed,
            summary: Arc::clone(&summary),
        };
        (recorder, summary)
    }
}

impl Subscriber<Output> for Recorder {
    fn started(&mut self, nodes: usize) {
        if let Some(events) = &mut self.events {
            Subscriber::<Output>::started(events, nodes);
        }
    }

    fn event(&mut self, event: &Event<Output>) {
        if let Some(events) = &mut self.events {
            events.event(event);
        }
        if let Ok(mut summary) = self.summary.lock() {
            summary.apply(event);
        }
    }

    fn finished(&mut self, cancelled: bool) {
        let events_failed = self
            .events
            .as_mut()
            .and_then(|events| {
                Subscriber::<Output>::finished(events, cancelled);
                events.take_error()
            })
            .or(self.events_failed.take());
        let Ok(mut summary) = self.summary.lock() else {
            return;
        };
        summary.finish(cancelled);
        let Some(job) = &self.job else {
            return;
        };
        let path = job.dir.join("summary.json");
        if let Err(e) = job.write_json(&path, &*summary) {
            tracing::warn!("cannot write the summary: {e}");
            summary.record_failed = Some((path, Arc::new(e)));
        } else if let Some(e) = events_failed {
            summary.record_failed = Some((job.dir.join("events.jsonl"), Arc::new(e)));
        }
    }
}
