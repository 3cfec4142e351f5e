//! `kiln gc`: what a workspace keeps, within a budget. The file cache over `max-size`
//! loses its oldest tarballs — never the newest of a step, never one a running kiln
//! holds —; job records beyond the newest `keep` go, except those the latest results
//! point to (their logs and artifacts); so do results-history files beyond the newest
//! `keep`, and each entity's cached results beyond its newest `keep`; and images of the
//! workspace's repository whose hash no step of the workspace has now, unless a
//! container uses them. `dry_run` only lists.

mod error;
mod file_cache;
mod images;
mod records;
mod result_cache;

pub use error::GcError;

use serde::Serialize;

use crate::docker::Daemon;
use crate::model::Workspace;

/// How much to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The most the file cache may hold, in bytes; `None`: no limit.
    pub max_size: Option<u64>,
    /// How many job records and results-history files to keep, and cached results of
    /// each entity.
    pub keep: usize,
}

/// The default of [`Budget::keep`].
pub const DEFAULT_KEEP: usize = 20;

/// One thing removed (or, in a dry run, to be removed).
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// `tarball`, `job record`, `results history`, `cached result`, `image`.
    pub kind: &'static str,
    /// A path, or an image tag.
    pub what: String,
    pub bytes: u64,
}

/// What a collection did.
#[derive(Debug, Default, Serialize)]
pub struct Collected {
    pub removed: Vec<Removal>,
    /// What stayed although the budget would let it go, and why.
    pub kept: Vec<String>,
    /// The file cache's size after the collection.
    pub file_cache_bytes: u64,
}

impl Collected {
    pub fn freed(&self) -> u64 {
        self.removed.iter().map(|r| r.bytes).sum()
    }
}

/// Collects `workspace` within `budget`; with a daemon, its images too.
pub async fn collect(
    workspace: &Workspace,
    daemon: Option<&Daemon>,
    budget: Budget,
    dry_run: bool,
) -> Result<Collected, GcError> {
    let mut collected = Collected::default();
    file_cache::collect(
        &workspace.settings.cache_dir,
        &workspace.settings.lock_dir(),
        budget.max_size,
        dry_run,
        &mut collected,
    )?;
    records::collect(
        &workspace.settings.job_dir,
        &workspace.settings.results_dir(),
        budget.keep,
        dry_run,
        &mut collected,
    )?;
    result_cache::collect(
        &workspace.settings.result_cache_dir(),
        budget.keep,
        dry_run,
        &mut collected,
    )?;
    if let Some(daemon) = daemon {
        images::collect(workspace, daemon, dry_run, &mut collected).await?;
    }
    Ok(collected)
}
