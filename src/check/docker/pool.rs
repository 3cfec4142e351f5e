//! Environment containers: one long-running container per (image id, mounts, env),
//! started on first use and shared by every entity that runs in it.
//!
//! Containers carry labels: kiln's, the owner (the workspace), the environment slot
//! (`flavor/step`), the image id, the fingerprint and the lease. Before a pool starts a
//! container it looks at the containers of the same owner and slot: a running one with
//! the same fingerprint (left by `--keep-env`, or in use by another run on the same
//! workspace) is shared; one of an older image is removed, never reused. One of the same
//! image with other mounts or env may belong to another check of this run (two checks
//! can share an environment), so it is left alone; a pool that does not keep its
//! containers removes those of its slots when it shuts down.
//!
//! A run holds the [lease](super::lease) of every container it uses, and removes a
//! container only when no other run holds it: two runs on one workspace never tear
//! down each other's environment. It looks for a container and starts one holding the
//! lock of the fingerprint ([`Starting`]), so two runs started at once never both
//! start one.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Mutex, OnceCell};

use super::lease::{Lease, Leases, Starting};
use super::staging::Staging;
use crate::check::backend::EnvKey;
use crate::docker::{ContainerInfo, ContainerSpec, Daemon, DockerError, labels};

/// Identifies the workspace in container labels, so two checkouts never share
/// containers: the first 16 hex digits of the sha256 of its root path.
pub fn owner(root: &std::path::Path) -> String {
    crate::hash::sha256_hex(root.as_os_str().as_encoded_bytes())[..16].to_owned()
}

/// The containers of one run.
pub struct Pool {
    daemon: Daemon,
    owner: String,
    keep: bool,
    leases: Leases,
    /// Where the locks of finding or starting a container are (`.kiln/locks`).
    locks: PathBuf,
    cells: Mutex<HashMap<String, Arc<OnceCell<Used>>>>,
    /// The environment slots containers were asked for.
    slots: Mutex<HashSet<String>>,
    /// Set once the containers of killed runs were looked for (with the first start).
    swept: AtomicBool,
    /// Containers this run gave up and could not remove (the daemon did not answer).
    unremoved: std::sync::Mutex<Vec<String>>,
    /// Starts the daemon did not answer: each may have made a container.
    unsure: AtomicUsize,
}

/// A container this run uses, and its lease, held while it does.
struct Used {
    id: String,
    lease: Lease,
}

impl Pool {
    pub fn new(daemon: Daemon, owner: String, keep: bool, leases: Leases, locks: PathBuf) -> Self {
        Self {
            daemon,
            owner,
            keep,
            leases,
            locks,
            cells: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashSet::new()),
            swept: AtomicBool::new(false),
            unremoved: std::sync::Mutex::default(),
            unsure: AtomicUsize::new(0),
        }
    }

    /// The container for `key`, started (or adopted) once however many ask at once.
    pub async fn container(&self, key: &EnvKey, staging: &Staging) -> Result<String, DockerError> {
        let fingerprint = key.fingerprint();
        self.slots.lock().await.insert(key.slot.clone());
        let cell = Arc::clone(
            self.cells
                .lock()
                .await
                .entry(fingerprint.clone())
                .or_default(),
        );
        cell.get_or_try_init(|| self.start(key, &fingerprint, staging))
            .await
            .map(|used| used.id.clone())
    }

    async fn start(
        &self,
        key: &EnvKey,
        fingerprint: &str,
        staging: &Staging,
    ) -> Result<Used, DockerError> {
        // Until the container this run shares or starts is listed with its lease.
        let _starting = Starting::hold(&self.locks, fingerprint, &key.slot)
            .await
            .map_err(|source| DockerError::Io {
                path: self.locks.display().to_string(),
                source,
            })?;
        let mut containers = self
            .daemon
            .containers_with_label(labels::OWNER, &self.owner)
            .await?;
        if !self.swept.swap(true, Ordering::Relaxed) {
            containers = self.sweep(containers).await;
        }
        let mut adopted = None;
        for container in containers {
            if container.labels.get(labels::ENV_SLOT) != Some(&key.slot) {
                continue;
            }
            let theirs = container
                .labels
                .get(labels::FINGERPRINT)
                .cloned()
                .unwrap_or_default();
            let same_image = container.labels.get(labels::ENV_IMAGE) == Some(&key.image_id);
            if theirs == fingerprint && container.running && adopted.is_none() {
                // Shared with the run that uses it, or adopted from a `--keep-env` run;
                // not while another run removes it.
                if let Some(lease) = self
                    .leases
                    .share(lease_of(&container))
                    .map_err(|e| self.io(e))?
                {
                    adopted = Some(Used {
                        id: container.id,
                        lease,
                    });
                }
            } else if (!same_image || theirs == fingerprint)
                && self.remove_unused(&container).await?
            {
                tracing::info!(
                    "replaced the stale environment container {} of {}",
                    short(&container.id),
                    key.slot
                );
            }
        }
        if let Some(used) = adopted {
            return Ok(used);
        }
        // Held before the container exists: no other run can take it for unused.
        let lease = self.leases.create().map_err(|e| self.io(e))?;
        let spec = ContainerSpec {
            image: key.image.clone(),
            name: None,
            labels: HashMap::from([
                (labels::MANAGED.to_owned(), "true".to_owned()),
                (labels::CONTAINER.to_owned(), "true".to_owned()),
                (labels::OWNER.to_owned(), self.owner.clone()),
                (labels::ENV_SLOT.to_owned(), key.slot.clone()),
                (labels::FINGERPRINT.to_owned(), fingerprint.to_owned()),
                (labels::ENV_IMAGE.to_owned(), key.image_id.clone()),
                (labels::LEASE.to_owned(), lease.name().to_owned()),
                (labels::KEPT.to_owned(), self.keep.to_string()),
            ]),
            mounts: staging.mounts(&key.mounts),
            env: key.env.clone(),
        };
        let id = match self.daemon.start_container(&spec).await {
            Ok(id) => id,
            Err(e @ (DockerError::NotAnswering { .. } | DockerError::Unreachable { .. })) => {
                self.unsure.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = staging.populate(&self.daemon, &id, &key.mounts).await {
            self.remove_or_note(&id).await;
            return Err(e);
        }
        Ok(Used { id, lease })
    }

    /// The workspace's environment containers; `None` (and a warning) when the daemon
    /// cannot list them.
    async fn own_containers(&self) -> Option<Vec<ContainerInfo>> {
        self.daemon
            .containers_with_label(labels::OWNER, &self.owner)
            .await
            // An abandoned daemon is said once, by the line of what may remain.
            .inspect_err(|e| {
                if !self.daemon.is_abandoned() {
                    tracing::warn!("{e}")
                }
            })
            .ok()
    }

    /// Removes, of `containers`, those a killed run left: not kept, and no run holds
    /// their lease; the others. (A kept one is adopted or replaced like any other.)
    async fn sweep(&self, containers: Vec<ContainerInfo>) -> Vec<ContainerInfo> {
        let mut left = Vec::with_capacity(containers.len());
        let mut containers = containers.into_iter();
        for container in containers.by_ref() {
            if container
                .labels
                .get(labels::KEPT)
                .is_some_and(|kept| kept == "true")
            {
                left.push(container);
                continue;
            }
            match self.remove_unused(&container).await {
                Ok(true) => tracing::info!(
                    "removed the environment container {} a killed run left",
                    short(&container.id)
                ),
                Ok(false) => left.push(container),
                // Each removal would wait as long: the rest are left for later.
                Err(e @ DockerError::NotAnswering { .. }) => {
                    tracing::warn!("{e}");
                    left.push(container);
                    break;
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    left.push(container);
                }
            }
        }
        left.extend(containers);
        left
    }

    /// Removes `container` unless another run holds its lease; whether it did.
    async fn remove_unused(&self, container: &ContainerInfo) -> Result<bool, DockerError> {
        remove_unused(&self.daemon, &self.leases, container).await
    }

    fn io(&self, source: std::io::Error) -> DockerError {
        DockerError::Io {
            path: self.leases.dir().display().to_string(),
            source,
        }
    }

    /// Gives up the container of `key` (a command in it could not be killed): removed
    /// unless another run still uses it; the next call for `key` starts a fresh one.
    pub async fn invalidate(&self, key: &EnvKey) {
        let cell = self.cells.lock().await.remove(&key.fingerprint());
        let Some(used) = cell.and_then(|c| Arc::into_inner(c)?.into_inner()) else {
            return;
        };
        let Used { id, lease } = used;
        let name = lease.name().to_owned();
        drop(lease);
        if let Ok(Some(removal)) = self.leases.exclusive(&name) {
            self.remove_or_note(&id).await;
            self.leases.forget(removal);
        }
    }

    /// Removes the container `id` this run gives up; one the daemon does not remove is
    /// noted, for the line [`Pool::shutdown`] leaves.
    async fn remove_or_note(&self, id: &str) {
        if self.daemon.remove_container(id).await.is_err() {
            self.note_unremoved([id.to_owned()]);
        }
    }

    fn note_unremoved(&self, ids: impl IntoIterator<Item = String>) {
        self.unremoved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ids);
    }

    /// Unless it keeps them, removes every container this pool used and, in the slots it
    /// used, those left by earlier `--keep-env` runs with other mounts or env. (A pool
    /// that keeps its containers leaves those too: a check whose results were all
    /// cached this time may want one next time.) What it could not remove — the daemon
    /// did not answer, or went away — it names in one line, with how to remove it.
    pub async fn shutdown(&self) {
        // Released first: a container no other run holds can then be removed.
        let used: HashSet<String> = self
            .cells
            .lock()
            .await
            .drain()
            .filter_map(|(_, cell)| Arc::into_inner(cell)?.into_inner().map(|u| u.id))
            .collect();
        if self.keep {
            return;
        }
        let slots: HashSet<String> = self.slots.lock().await.drain().collect();
        match self.own_containers().await {
            // Not even listed: every container this run used may remain.
            None => self.note_unremoved(used),
            Some(containers) => {
                let mut ours = containers.iter().filter(|c| {
                    used.contains(&c.id)
                        || c.labels
                            .get(labels::ENV_SLOT)
                            .is_some_and(|slot| slots.contains(slot))
                });
                while let Some(container) = ours.next() {
                    match self.remove_unused(container).await {
                        Ok(_) => {}
                        // Each removal would wait as long: the rest are left to `kiln clean`.
                        Err(e @ DockerError::NotAnswering { .. }) => {
                            if !self.daemon.is_abandoned() {
                                tracing::warn!("{e}");
                            }
                            self.note_unremoved(
                                std::iter::once(container)
                                    .chain(ours.by_ref())
                                    .map(|c| c.id.clone()),
                            );
                        }
                        Err(e) => {
                            tracing::warn!("{e}");
                            self.note_unremoved([container.id.clone()]);
                        }
                    }
                }
            }
        }
        self.say_what_may_remain();
    }

    /// One line naming the containers this run could not remove (and how many starts
    /// the daemon did not answer, each of which may have made one), with how to remove
    /// them; nothing when there are none.
    fn say_what_may_remain(&self) {
        let mut left: Vec<String> =
            std::mem::take(&mut *self.unremoved.lock().unwrap_or_else(|e| e.into_inner()));
        left.sort();
        left.dedup();
        let unsure = self.unsure.swap(0, Ordering::Relaxed);
        if left.is_empty() && unsure == 0 {
            return;
        }
        let ids: Vec<&str> = left.iter().map(|id| short(id)).collect();
        let mut named = ids.join(", ");
        if unsure > 0 {
            let starting = if unsure == 1 {
                "one being started".to_owned()
            } else {
                format!("{unsure} being started")
            };
            named = if named.is_empty() {
                starting
            } else {
                format!("{named} and {starting}")
            };
        }
        let by_hand = if unsure > 0 {
            format!(
                "docker rm -f $(docker ps -aq --filter label={}={})",
                labels::OWNER,
                self.owner
            )
        } else {
            format!("docker rm -f {}", ids.join(" "))
        };
        tracing::warn!(
            "environment containers of this run may remain on the daemon at {}: {named}; `kiln clean` removes them once the daemon answers (or `{by_hand}`)",
            self.daemon.address()
        );
    }

    /// Removes the environment containers of `owner` whose image belongs to one of
    /// `flavors` (all of them when `None`), before `kiln clean` removes those images;
    /// those a running kiln uses are left to it.
    pub async fn remove_of(
        daemon: &Daemon,
        owner: &str,
        flavors: Option<&[String]>,
        leases: &Leases,
    ) -> Result<usize, DockerError> {
        let containers = daemon.containers_with_label(labels::OWNER, owner).await?;
        let mut removed = 0;
        for container in &containers {
            let flavor = container.labels.get(labels::FLAVOR);
            if flavors.is_some_and(|f| !flavor.is_some_and(|name| f.contains(name))) {
                continue;
            }
            if remove_unused(daemon, leases, container).await? {
                removed += 1;
            } else {
                tracing::warn!(
                    "the environment container {} is in use by a running kiln; left to it",
                    short(&container.id)
                );
            }
        }
        Ok(removed)
    }
}

/// The lease name of `container`: its lease label, or (kiln before leases) its id.
fn lease_of(container: &ContainerInfo) -> &str {
    container
        .labels
        .get(labels::LEASE)
        .map_or(container.id.as_str(), String::as_str)
}

/// Removes `container` unless another run holds its lease; whether it did.
async fn remove_unused(
    daemon: &Daemon,
    leases: &Leases,
    container: &ContainerInfo,
) -> Result<bool, DockerError> {
    let removal = leases
        .exclusive(lease_of(container))
        .map_err(|source| DockerError::Io {
            path: leases.dir().display().to_string(),
            source,
        })?;
    let Some(removal) = removal else {
        return Ok(false);
    };
    daemon.remove_container(&container.id).await?;
    leases.forget(removal);
    Ok(true)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
