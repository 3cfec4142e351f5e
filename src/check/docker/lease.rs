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
}
