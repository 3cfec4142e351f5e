//! Leases on environment containers, so that two runs on one workspace (`kiln check`
//! twice, `kiln watch` beside `kiln check`) never remove a container the other is
//! running entities in.
//!
//! Every container kiln starts carries a lease label; a run holds a shared lock on
//! `<state>/containers/<lease>.lock` for as long as it uses the container, taken before
//! the container exists. Removing a container takes the exclusive lock without waiting;
//! when another run holds the lease the container is left to that run. The kernel drops
//! the locks of a run that was killed, so its containers become removable at once.
//! (Locks are flocks through std's `File::lock*`: a workspace lives on one machine.)
//!
//! Finding an environment's container and starting one when there is none is one step
//! across runs: a run does both holding [`Starting`], the lock of the environment's
//! fingerprint, so of two runs started at once one starts the container and the other
//! finds it and shares it.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The folder of a workspace's container leases.
#[derive(Debug, Clone)]
pub struct Leases {
    dir: PathBuf,
}

/// A held lease: shared while a run uses the container, exclusive while it is removed.
/// Dropping it releases the lock.
#[derive(Debug)]
pub struct Lease {
    name: String,
    _file: File,
}

impl Lease {
    /// The value of the container's lease label.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Leases {
    pub fn new(dir: PathBuf) -> Self {
        Leases { dir }
    }

    /// The leases of the workspace whose state folder (`.kiln`) is `state_dir`.
    pub fn of_workspace(state_dir: &Path) -> Self {
        Leases::new(state_dir.join("containers"))
    }

    /// A new lease for a container about to start, held shared.
    pub fn create(&self) -> io::Result<Lease> {
        let name = format!(
            "{}-{}",
            std::process::id(),
            crate::hash::sha256_hex(format!("{:?}", std::time::SystemTime::now()).as_bytes())[..12]
                .to_owned()
        );
        self.take(&name, false)?
            .ok_or_else(|| io::Error::other("a new lease is held already"))
    }

    /// Shares the lease `name` with the run that holds it; `None` while it is being
    /// removed.
    pub fn share(&self, name: &str) -> io::Result<Option<Lease>> {
        self.take(name, false)
    }

    /// The lease `name` alone, to remove its container; `None` while another run uses it.
    pub fn exclusive(&self, name: &str) -> io::Result<Option<Lease>> {
        self.take(name, true)
    }

    /// Forgets the lease file of a removed container (held exclusively).
    pub fn forget(&self, lease: Lease) {
        let _ = std::fs::remove_file(self.path(&lease.name));
    }

    fn take(&self, name: &str, exclusive: bool) -> io::Result<Option<Lease>> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is not a lease name"),
            ));
        }
        std::fs::create_dir_all(&self.dir)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path(name))?;
        let locked = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match locked {
            Ok(()) => Ok(Some(Lease {
                name: name.to_owned(),
                _file: file,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.lock"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Held while a run looks for the container of one environment (its fingerprint) and
/// starts one when there is none: the lock `<locks>/env-<fingerprint>.lock` (the
/// workspace's `.kiln/locks`), alone. Dropping it releases the lock.
#[derive(Debug)]
pub struct Starting {
    _file: File,
}

impl Starting {
    /// Waits while another run holds the lock of `fingerprint`, which it does only as
    /// long as it takes to find or start a container. (Dropping the future, as
    /// cancellation does, stops the wait.)
    pub async fn hold(locks: &Path, fingerprint: &str, slot: &str) -> io::Result<Starting> {
        if fingerprint.is_empty() || !fingerprint.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{fingerprint}` is not an environment fingerprint"),
            ));
        }
        std::fs::create_dir_all(locks)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locks.join(format!("env-{fingerprint}.lock")))?;
        let mut waited = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Starting { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if !waited {
                        tracing::info!(
                            "another kiln is starting the environment container of {slot}; waiting"
                        );
                    }
                    waited = true;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_lease_keeps_others_from_removing_and_a_removal_from_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path().join("containers"));
        let mine = leases.create().unwrap();
        let theirs = leases.share(mine.name()).unwrap().expect("shared");
        assert!(leases.exclusive(mine.name()).unwrap().is_none(), "in use");
        drop(theirs);
        assert!(
            leases.exclusive(mine.name()).unwrap().is_none(),
            "still mine"
        );
        let name = mine.name().to_owned();
        drop(mine);
        let removal = leases.exclusive(&name).unwrap().expect("nobody uses it");
        assert!(leases.share(&name).unwrap().is_none(), "being removed");
        leases.forget(removal);
        assert!(!leases.dir().join(format!("{name}.lock")).exists());
        assert!(leases.share("../x").is_err());
    }

    #[tokio::test]
    async fn one_run_at_a_time_finds_or_starts_an_environment() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        let first = Starting::hold(&locks, "ab12", "f/s").await.unwrap();
        let waiting = Starting::hold(&locks, "ab12", "f/s");
        tokio::pin!(waiting);
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(300), waiting.as_mut()).await;
        assert!(blocked.is_err(), "waits while the other holds it");
        let other = Starting::hold(&locks, "cd34", "f/t").await;
        assert!(other.is_ok(), "another environment does not wait");
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("taken once released")
            .unwrap();
        assert!(Starting::hold(&locks, "../x", "f/s").await.is_err());
    }
}
