//! Environment containers: one long-running container per (image id, mounts, env),
//! started on first use and shared by every entity that runs in it.
//!
//! Containers carry labels: kiln's, the owner (the workspace), the environment slot
//! (`flavor/step`), the image id and the fingerprint. Before a pool starts a container it
//! looks at the containers of the same owner and slot: a running one with the same
//! fingerprint (left by `--keep-env`) is adopted; one of an older image is removed, never
//! reused. One of the same image with other mounts or env may belong to another check of
//! this run (two checks can share an environment), so it is left alone; a pool that does
//! not keep its containers removes those of its slots when it shuts down.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, OnceCell};

use crate::docker::{ContainerSpec, Daemon, DockerError, MountSpec, labels};

/// Identifies the workspace in container labels, so two checkouts never share
/// containers: the first 16 hex digits of the sha256 of its root path.
pub fn owner(root: &std::path::Path) -> String {
    crate::hash::sha256_hex(root.as_os_str().as_encoded_bytes())[..16].to_owned()
}

/// What a container is started from.
#[derive(Debug, Clone)]
pub struct EnvKey {
    /// `flavor/step` of the environment.
    pub slot: String,
    pub image: String,
    pub image_id: String,
    pub mounts: Vec<MountSpec>,
    pub env: Vec<(String, String)>,
}

impl EnvKey {
    /// sha256 hex over the image id, the mounts and the env, each sorted.
    pub fn fingerprint(&self) -> String {
        let mut mounts = self.mounts.clone();
        mounts.sort();
        let mut env = self.env.clone();
        env.sort();
        let mut text = format!("kiln-env 1\0{}\0", self.image_id);
        for m in &mounts {
            text.push_str(&format!(
                "mount\0{}\0{}\0{}\0",
                m.host.display(),
                m.target,
                m.readonly
            ));
        }
        for (k, v) in &env {
            text.push_str(&format!("env\0{k}\0{v}\0"));
        }
        crate::hash::sha256_hex(text.as_bytes())
    }
}

/// The containers of one run.
pub struct Pool {
    daemon: Daemon,
    owner: String,
    keep: bool,
    cells: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    /// The environment slots containers were asked for.
    slots: Mutex<HashSet<String>>,
    started: AtomicUsize,
}

impl Pool {
    pub fn new(daemon: Daemon, owner: String, keep: bool) -> Self {
        Self {
            daemon,
            owner,
            keep,
            cells: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashSet::new()),
            started: AtomicUsize::new(0),
        }
    }

    /// The container for `key`, started (or adopted) once however many ask at once.
    pub async fn container(&self, key: &EnvKey) -> Result<String, DockerError> {
        let fingerprint = key.fingerprint();
        self.slots.lock().await.insert(key.slot.clone());
        let cell = Arc::clone(
            self.cells
                .lock()
                .await
                .entry(fingerprint.clone())
                .or_default(),
        );
        cell.get_or_try_init(|| self.start(key, &fingerprint))
            .await
            .cloned()
    }

    async fn start(&self, key: &EnvKey, fingerprint: &str) -> Result<String, DockerError> {
        let mut adopted = None;
        for container in self
            .daemon
            .containers_with_label(labels::OWNER, &self.owner)
            .await?
        {
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
                adopted = Some(container.id);
            } else if !same_image || theirs == fingerprint {
                tracing::info!(
                    "replacing the stale environment container {} of {}",
                    short(&container.id),
                    key.slot
                );
                self.daemon.remove_container(&container.id).await?;
            }
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = adopted {
            return Ok(id);
        }
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
            ]),
            mounts: key.mounts.clone(),
            env: key.env.clone(),
        };
        self.daemon.start_container(&spec).await
    }

    /// How many containers this pool started or adopted.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// Removes the container of `key` (a command in it could not be killed); the next
    /// call for `key` starts a fresh one.
    pub async fn invalidate(&self, key: &EnvKey) {
        let cell = self.cells.lock().await.remove(&key.fingerprint());
        if let Some(id) = cell.and_then(|c| c.get().cloned()) {
            let _ = self.daemon.remove_container(&id).await;
        }
    }

    /// Unless it keeps them, removes every container this pool used and, in the slots it
    /// used, those left by earlier `--keep-env` runs with other mounts or env. (A pool
    /// that keeps its containers leaves those too: a check whose results were all
    /// cached this time may want one next time.)
    pub async fn shutdown(&self) {
        if self.keep {
            return;
        }
        let used: HashSet<String> = self
            .cells
            .lock()
            .await
            .drain()
            .filter_map(|(_, cell)| cell.get().cloned())
            .collect();
        let slots: HashSet<String> = self.slots.lock().await.drain().collect();
        let mut remove: Vec<String> = used.iter().cloned().collect();
        if !slots.is_empty() {
            match self
                .daemon
                .containers_with_label(labels::OWNER, &self.owner)
                .await
            {
                Ok(containers) => remove.extend(
                    containers
                        .into_iter()
                        .filter(|c| {
                            c.labels
                                .get(labels::ENV_SLOT)
                                .is_some_and(|slot| slots.contains(slot))
                                && !used.contains(&c.id)
                        })
                        .map(|c| c.id),
                ),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        for id in remove {
            if let Err(e) = self.daemon.remove_container(&id).await {
                tracing::warn!("{e}");
            }
        }
    }

    /// Removes every environment container of `owner` (for `kiln clean`).
    pub async fn remove_all(daemon: &Daemon, owner: &str) -> Result<usize, DockerError> {
        Pool::remove_of(daemon, owner, None).await
    }

    /// Removes the environment containers of `owner` whose image belongs to one of
    /// `flavors` (all of them when `None`), before `kiln clean` removes those images.
    pub async fn remove_of(
        daemon: &Daemon,
        owner: &str,
        flavors: Option<&[String]>,
    ) -> Result<usize, DockerError> {
        let containers = daemon.containers_with_label(labels::OWNER, owner).await?;
        let mut removed = 0;
        for container in &containers {
            let flavor = container.labels.get(labels::FLAVOR);
            if flavors.is_some_and(|f| !flavor.is_some_and(|name| f.contains(name))) {
                continue;
            }
            daemon.remove_container(&container.id).await?;
            removed += 1;
        }
        Ok(removed)
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
