//! What a run leaves behind: its job record and the logs in it.

pub mod log;
pub mod record;

pub use log::{CappedLog, LOG_LIMIT};
pub use record::{JobRecord, timestamp, write_atomic};
