//! What a run leaves behind and shows: the job record, the event log, the summary.

pub mod events;
pub mod job;
pub mod outputs;
pub mod summary;

pub use events::JsonLines;
pub use job::JobRecord;
pub use summary::{Row, Summary};
