//! Listeners of a run's events — none reads anything the events do not carry: the
//! summary fold, the job record (`events.jsonl`, `summary.json`), `--json` lines, and
//! the report files a workflow asks for (JUnit, HTML, JSON). The console's progress is
//! one more, in `src/cli/progress.rs`. Text kiln did not write reaches the console and
//! the HTML page through [`printable`].

pub mod events;
pub mod html;
pub mod outcome;
pub mod outputs;
pub mod record;
pub mod summary;
pub mod untrusted;

pub use events::{EVENTS_FORMAT_VERSION, JsonLines};
pub use outcome::Outcome;
pub use outputs::ReportFiles;
pub use record::Recorder;
pub use summary::{Row, Summary, format_duration};
pub use untrusted::printable;
