//! How a run behaves.

/// Options of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// At most this many nodes run at once; 0 counts as 1.
    pub jobs: usize,
    /// After a failure, let every node that does not depend on it run (`--keep-going`),
    /// instead of starting nothing new (fail-fast, the default).
    pub keep_going: bool,
}

impl Options {
    /// The job limit actually applied: `jobs`, at least 1.
    pub fn job_limit(&self) -> usize {
        self.jobs.max(1)
    }
}

impl Default for Options {
    /// As many jobs as CPUs, fail-fast.
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_going: false,
        }
    }
}
