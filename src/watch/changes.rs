//! Collecting what changed: file events from the debouncer, kept to the paths the
//! workflow's inputs want (configuration files always count), watched under the roots
//! of those inputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecommendedWatcher;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Inputs;

/// The watched folders and the batches of changed paths under them.
pub struct Changes {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    batches: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    watched: BTreeSet<PathBuf>,
    inputs: Option<Inputs>,
}

impl Changes {
    /// Watches nothing yet; batches come `debounce` after their last change.
    pub fn new(debounce: Duration) -> Result<Self, notify::Error> {
        let (sender, batches) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
            if let Ok(batch) = result {
                let paths: Vec<PathBuf> = batch
                    .into_iter()
                    .filter(|e| e.kind.is_create() || e.kind.is_modify() || e.kind.is_remove())
                    .flat_map(|e| e.event.paths)
                    .collect();
                if !paths.is_empty() {
                    let _ = sender.send(paths);
                }
            }
        })?;
        Ok(Changes {
            debouncer,
            batches,
            watched: BTreeSet::new(),
            inputs: None,
        })
    }

    /// Until a configuration first loads, the whole workspace is watched, for the fix.
    pub fn watch_workspace(&mut self, root: &Path) {
        if self.watched.is_empty() && self.debouncer.watch(root, RecursiveMode::Recursive).is_ok() {
            self.watched.insert(root.to_owned());
        }
    }

    /// Watches the roots of `inputs` (and only them) from now on.
    pub fn follow(&mut self, inputs: Inputs) {
        for gone in self.watched.difference(&inputs.roots) {
            let _ = self.debouncer.unwatch(gone);
        }
        for new in inputs.roots.difference(&self.watched) {
            if let Err(e) = self.debouncer.watch(new, RecursiveMode::Recursive) {
                tracing::warn!("cannot watch {}: {e}", new.display());
            }
        }
        self.watched = inputs.roots.clone();
        self.inputs = Some(inputs);
    }

    /// The next batch with a path that matters, sorted; `None` when `stop` trips first.
    pub async fn next(&mut self, stop: &CancellationToken) -> Option<Vec<PathBuf>> {
        loop {
            let batch = tokio::select! {
                batch = self.batches.recv() => batch,
                () = stop.cancelled() => return None,
            };
            match batch {
                Some(paths) => {
                    let paths = self.wanted(paths);
                    if !paths.is_empty() {
                        return Some(paths);
                    }
                }
                // The debouncer lives as long as `self`: no more batches means none ever.
                None => {
                    stop.cancelled().await;
                    return None;
                }
            }
        }
    }

    /// Every path that matters arriving until `quiet` passes without one; `None` when
    /// `stop` trips first.
    pub async fn until_quiet(
        &mut self,
        quiet: Duration,
        stop: &CancellationToken,
    ) -> Option<Vec<PathBuf>> {
        let mut paths = Vec::new();
        loop {
            tokio::select! {
                batch = self.batches.recv() => match batch {
                    Some(batch) => paths.extend(self.wanted(batch)),
                    None => return Some(paths),
                },
                () = tokio::time::sleep(quiet) => return Some(paths),
                () = stop.cancelled() => return None,
            }
        }
    }

    /// The paths of `paths` that matter, sorted and without repeats.
    fn wanted(&self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| {
                self.inputs.as_ref().is_none_or(|i| i.wants(p))
                    || p.extension().is_some_and(|e| e == "kdl")
            })
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }
}
