//! The file cache: images saved as `<dir>/<name>.tar` with a `<name>.tar.sha256`
//! checksum sidecar. Written to a temporary name and renamed, under a per-image lock, so
//! a reader never sees half a file; a tarball whose checksum does not match is moved
//! aside and reported, never loaded.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::docker::{Daemon, DockerError};
use crate::hash::HashingWriter;

/// The files of one cached image.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tarball: PathBuf,
    pub checksum: PathBuf,
    lock: PathBuf,
}

impl Entry {
    pub fn new(dir: &Path, image: &str) -> Self {
        let stem = file_stem(image);
        Self {
            tarball: dir.join(format!("{stem}.tar")),
            checksum: dir.join(format!("{stem}.tar.sha256")),
            lock: dir.join(format!("{stem}.lock")),
        }
    }

    /// Both files are there (not yet verified).
    pub fn present(&self) -> bool {
        self.tarball.is_file() && self.checksum.is_file()
    }

    /// Removes temporary files a killed writer left (`<file>.tmp-<pid>`). Called under
    /// the lock, so no live writer owns them.
    fn remove_stale_temps(&self) {
        let Some(dir) = self.tarball.parent() else {
            return;
        };
        let Ok(listing) = fs::read_dir(dir) else {
            return;
        };
        let prefixes = [&self.tarball, &self.checksum].map(|p| format!("{}.tmp-", file_name(p)));
        for item in listing.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            if prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()))
            {
                tracing::debug!("removing {} left by an interrupted save", name);
                let _ = fs::remove_file(item.path());
            }
        }
    }

    fn lock(&self) -> std::io::Result<File> {
        if let Some(dir) = self.lock.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        file.lock()?;
        Ok(file)
    }
}

/// What looking in the file cache found.
#[derive(Debug)]
pub enum Lookup {
    Loaded,
    Missing,
    /// The tarball did not match its checksum (or could not be read); it was moved to
    /// `moved_to` and the next tier should be asked.
    Corrupt {
        reason: String,
        moved_to: Option<PathBuf>,
    },
}

/// Removes a temporary file when dropped, unless it was kept (renamed into place).
pub(crate) struct TempFile(Option<PathBuf>);

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self(Some(path))
    }

    /// The file was renamed into place: nothing to remove.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Hex sha256 of a file's content.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn io_error(path: &Path, source: std::io::Error) -> DockerError {
    DockerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Saves `image` from the daemon into the cache. Returns the tarball's size.
pub async fn store(daemon: &Daemon, dir: &Path, image: &str) -> Result<u64, DockerError> {
    let entry = Entry::new(dir, image);
    let _lock = entry.lock().map_err(|e| io_error(&entry.lock, e))?;
    entry.remove_stale_temps();
    let temp_path = temp_name(&entry.tarball);
    let temp = TempFile::new(temp_path.clone());
    let file = File::create(&temp_path).map_err(|e| io_error(&temp_path, e))?;
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let size = daemon.export(image, &mut writer).await?;
    let (inner, digest) = writer.finish().map_err(|e| io_error(&temp_path, e))?;
    let file = inner
        .into_inner()
        .map_err(|e| io_error(&temp_path, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(&temp_path, e))?;
    let sidecar_path = temp_name(&entry.checksum);
    let sidecar = TempFile::new(sidecar_path.clone());
    fs::write(
        &sidecar_path,
        format!("{digest}  {}\n", file_name(&entry.tarball)),
    )
    .map_err(|e| io_error(&sidecar_path, e))?;
    // Tarball first: a tarball without its sidecar counts as absent, never as valid.
    let _ = fs::remove_file(&entry.checksum);
    fs::rename(&temp_path, &entry.tarball).map_err(|e| io_error(&entry.tarball, e))?;
    fs::rename(&sidecar_path, &entry.checksum).map_err(|e| io_error(&entry.checksum, e))?;
    temp.keep();
    sidecar.keep();
    Ok(size)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks the cached tarball of `image` against its checksum and loads it.
pub async fn load(daemon: &Daemon, dir: &Path, image: &str) -> Result<Lookup, DockerError> {
    let entry = Entry::new(dir, image);
    if !entry.tarball.is_file() {
        return Ok(Lookup::Missing);
    }
    let _lock = entry.lock().map_err(|e| io_error(&entry.lock, e))?;
    let expected = fs::read_to_string(&entry.checksum)
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned));
    let Some(expected) = expected else {
        // A tarball without a sidecar is an interrupted write: not trusted.
        return Ok(Lookup::Missing);
    };
    let tarball = entry.tarball.clone();
    let actual = tokio::task::spawn_blocking(move || file_sha256(&tarball))
        .await
        .map_err(|e| io_error(&entry.tarball, std::io::Error::other(e)))?;
    let reason = match actual {
        Ok(actual) if actual == expected => None,
        Ok(actual) => Some(format!("checksum {actual} does not match {expected}")),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = reason {
        let moved_to = move_aside(&entry);
        return Ok(Lookup::Corrupt { reason, moved_to });
    }
    let reason = match daemon.import(&entry.tarball).await {
        // The daemon could not be asked: the file may well be fine.
        Err(e @ DockerError::Unreachable { .. }) => return Err(e),
        Err(e) => e.to_string(),
        // It matched its checksum, so it is what was saved under this name; a daemon
        // that still lacks the image was given another image's file.
        Ok(()) => match daemon.inspect(image).await? {
            Some(_) => return Ok(Lookup::Loaded),
            None => format!("it loaded, but does not hold `{image}`"),
        },
    };
    let moved_to = move_aside(&entry);
    Ok(Lookup::Corrupt { reason, moved_to })
}

/// Renames a bad tarball to `<name>.tar.corrupt` (and its sidecar alongside) so that it
/// is kept for inspection but never loaded again.
fn move_aside(entry: &Entry) -> Option<PathBuf> {
    let target = entry.tarball.with_extension("tar.corrupt");
    fs::rename(&entry.tarball, &target).ok()?;
    let _ = fs::rename(
        &entry.checksum,
        entry.checksum.with_extension("sha256.corrupt"),
    );
    Some(target)
}

/// File-system-safe file name of an image in the file cache.
pub fn file_stem(local: &str) -> String {
    local
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_of_a_killed_save_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry::new(dir.path(), "kiln-test/x:flavor-step_0123");
        let stale_tar = format!("{}.tmp-4242", file_name(&entry.tarball));
        let stale_sum = format!("{}.tmp-4242", file_name(&entry.checksum));
        let other = Entry::new(dir.path(), "kiln-test/x:flavor-other_0123");
        let others = format!("{}.tmp-4242", file_name(&other.tarball));
        for name in [&stale_tar, &stale_sum, &others] {
            fs::write(dir.path().join(name), "half").unwrap();
        }
        fs::write(&entry.tarball, "kept").unwrap();
        fs::write(&entry.checksum, "kept").unwrap();
        entry.remove_stale_temps();
        assert!(!dir.path().join(&stale_tar).exists());
        assert!(!dir.path().join(&stale_sum).exists());
        assert!(
            dir.path().join(&others).exists(),
            "another image's write is not ours"
        );
        assert!(entry.present(), "the cached image itself stays");
    }
}
