//! The file cache: images saved as `<dir>/<name>.tar` with a `<name>.tar.sha256`
//! checksum sidecar. Written to a temporary name and renamed, under a per-image lock, so
//! a reader never sees half a file. A tarball is loaded only when it matches its
//! checksum, holds one image tagged with exactly the expected name (loading it moves no
//! other tag) and that image's `io.kiln.hash` label is the step's hash; any other is
//! moved aside and reported, never loaded again. Beside each tarball, the record of the
//! image kiln saved (`<name>.tar.record.json`, `record.rs`): the image in the tarball
//! must be the one recorded, and with trusted keys the record must be signed by one.
//! The cache folder may be shared: a tarball is checked and loaded from a private copy.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use miette::Diagnostic;
use thiserror::Error;

use super::record::{RECORD_LIMIT, Record, unrecorded};
use super::tier::{Fetched, ImageTier, Probe, Tier, Want};
use crate::cache::{CacheError, Refusal};
use crate::docker::{
    ArchiveContents, Daemon, DockerError, StatusSink, labels, read_archive, short_reference,
};
use crate::hash::HashingWriter;
use crate::signing::Trust;

/// The tier: tarballs in `dir`.
pub struct FileTier {
    pub daemon: Daemon,
    pub dir: PathBuf,
    /// Where private copies of tarballs are checked and loaded from (`.kiln/scratch`).
    pub scratch: PathBuf,
    pub trust: Trust,
}

#[async_trait]
impl Tier for FileTier {
    fn tier(&self) -> ImageTier {
        ImageTier::File
    }

    async fn probe(&self, want: &Want<'_>) -> Result<Probe, CacheError> {
        let entry = Entry::new(&self.dir, want.image);
        Ok(if entry.present() {
            match entry.vouched(want.image, want.hash, &self.trust) {
                Ok(_) => Probe::Hit {
                    detail: format!("has {}", entry.tarball.display()),
                    image_id: None,
                },
                Err(why) => Probe::Refused(why),
            }
        } else if entry.tarball.is_file() {
            Probe::Miss(format!(
                "{} has no checksum beside it: not trusted",
                entry.tarball.display()
            ))
        } else {
            Probe::Miss("no tarball".to_owned())
        })
    }

    async fn fetch(&self, want: &Want<'_>, status: &StatusSink) -> Fetched {
        status.tell("loading from the file cache");
        let mut fetched = Fetched::default();
        let loaded = load(
            &self.daemon,
            &self.dir,
            &self.scratch,
            want.image,
            want.hash,
            &self.trust,
        );
        match loaded.await {
            Ok(Lookup::Loaded) => fetched.got = true,
            Ok(Lookup::Missing) => {}
            Ok(Lookup::Refused(why)) => {
                fetched.warnings.push(self.tier().refused(want.image, &why));
                fetched.refused = Some(why);
            }
            Ok(Lookup::Corrupt {
                problem,
                moved_to,
                untag_failed,
            }) => {
                if let BadTarball::Record(why) = problem.as_ref() {
                    fetched.refused = Some(why.clone());
                }
                fetched.warnings.push(format!(
                    "file cache: the tarball of {} is {} ({problem}); moved to {}",
                    want.image,
                    if problem.is_corrupt() {
                        "corrupt"
                    } else {
                        "not used"
                    },
                    moved_to
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "nowhere (could not move it)".to_owned())
                ));
                if let Some(e) = untag_failed {
                    fetched.warnings.push(format!(
                        "file cache: the tag {} the load gave another image stays: {e}",
                        want.image
                    ));
                }
            }
            Err(e) => fetched.warnings.push(self.tier().skipped(&e)),
        }
        fetched
    }

    /// Saves the image unless the cache has it, with a record that vouches for it.
    async fn store(&self, want: &Want<'_>) -> Result<bool, CacheError> {
        let entry = Entry::new(&self.dir, want.image);
        if entry.present()
            && matches!(
                entry.vouched(want.image, want.hash, &self.trust),
                Ok(Some(_))
            )
        {
            return Ok(false);
        }
        if !self.trust.may_write() {
            return Err(CacheError::CannotSign { tier: "file cache" });
        }
        store(&self.daemon, &self.dir, want.image, want.hash, &self.trust).await?;
        Ok(true)
    }
}

/// The files of one cached image.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tarball: PathBuf,
    pub checksum: PathBuf,
    /// The record of the image kiln saved.
    pub record: PathBuf,
    lock: PathBuf,
}

impl Entry {
    pub fn new(dir: &Path, image: &str) -> Self {
        let stem = file_stem(image);
        Self {
            tarball: dir.join(format!("{stem}.tar")),
            checksum: dir.join(format!("{stem}.tar.sha256")),
            record: dir.join(format!("{stem}.tar.record.json")),
            lock: dir.join(format!("{stem}.lock")),
        }
    }

    /// The tarball is there with a checksum sidecar that holds a digest (neither
    /// verified yet). A sidecar that is empty or holds something else is a miss, which
    /// the next save writes again.
    pub fn present(&self) -> bool {
        self.tarball.is_file() && self.digest().is_some()
    }

    /// The digest the sidecar holds (`<64 hex>  <file name>`), if it holds one.
    pub fn digest(&self) -> Option<String> {
        let text = fs::read_to_string(&self.checksum).ok()?;
        let digest = text.split_whitespace().next()?;
        (digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| digest.to_ascii_lowercase())
    }

    /// The record beside the tarball, if there is one (a bad one is a refusal).
    pub fn record(&self) -> Result<Option<Record>, Refusal> {
        let file = match File::open(&self.record) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(Refusal::BadRecord),
        };
        let mut bytes = Vec::new();
        use std::io::Read;
        file.take(RECORD_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| Refusal::BadRecord)?;
        Record::from_json(&bytes).map(Some)
    }

    /// The record, if it vouches for an image tagged `image` of the step hashed
    /// `hash`; `Ok(None)` for an entry saved before records where no key is trusted
    /// (used on its label).
    pub fn vouched(
        &self,
        image: &str,
        hash: &str,
        trust: &Trust,
    ) -> Result<Option<Record>, Refusal> {
        match self.record()? {
            Some(record) => record.vouches(image, hash, trust).map(|()| Some(record)),
            None => unrecorded(trust).map(|()| None),
        }
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
        let prefixes =
            [&self.tarball, &self.checksum, &self.record].map(|p| format!("{}.tmp-", file_name(p)));
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
    /// A tarball whose record does not vouch for it (unsigned where keys are trusted,
    /// of another step): not loaded, left as it is for the next save to replace.
    Refused(Refusal),
    /// No tarball, or one without a sidecar holding a digest (an interrupted write).
    Missing,
    /// The tarball is corrupt or holds another image; it was moved to `moved_to` and
    /// the next tier should be asked.
    Corrupt {
        problem: Box<BadTarball>,
        moved_to: Option<PathBuf>,
        /// Removing the tag a load gave the wrong image failed (the tag stays).
        untag_failed: Option<Box<DockerError>>,
    },
}

/// Why a cached tarball is not used.
#[derive(Debug, Error, Diagnostic)]
pub enum BadTarball {
    #[error("checksum {actual} does not match {expected}")]
    #[diagnostic(code(kiln::cache::checksum))]
    Checksum { actual: String, expected: String },

    #[error("cannot read it: {source}")]
    #[diagnostic(code(kiln::cache::unreadable))]
    Unreadable {
        #[source]
        source: std::io::Error,
    },

    /// Not a `docker save` tarball kiln can read.
    #[error("{source}")]
    #[diagnostic(code(kiln::cache::not_an_image))]
    NotAnImage {
        #[source]
        source: DockerError,
    },

    /// The daemon read it and refused it ("invalid tar header").
    #[error("the daemon refused it: {source}")]
    #[diagnostic(code(kiln::cache::refused))]
    Refused {
        #[source]
        source: DockerError,
    },

    #[error("it holds {count} images, not one")]
    #[diagnostic(code(kiln::cache::images))]
    Images { count: usize },

    #[error("it does not hold `{expected}`: it is tagged {}", listed(found))]
    #[diagnostic(code(kiln::cache::wrong_tag))]
    NotTagged {
        expected: String,
        found: Vec<String>,
    },

    /// Loading it would move tags of other images.
    #[error("loading it would also tag {}", listed(others))]
    #[diagnostic(code(kiln::cache::other_tags))]
    OtherTags { others: Vec<String> },

    #[error("it holds another image: its {} label is {}, not the step's hash `{expected}`", labels::HASH, found.as_ref().map(|f| format!("`{f}`")).unwrap_or_else(|| "missing".to_owned()))]
    #[diagnostic(code(kiln::cache::wrong_image))]
    WrongHash {
        expected: String,
        found: Option<String>,
    },

    #[error("it loaded, but does not hold `{image}`")]
    #[diagnostic(code(kiln::cache::not_loaded))]
    NotLoaded { image: String },

    /// Not the image the record beside it names.
    #[error("{0}")]
    #[diagnostic(code(kiln::cache::not_recorded))]
    Record(Refusal),

    /// The load tagged more than the tarball's one tag (what it tagged is named).
    #[error("{source}")]
    #[diagnostic(code(kiln::cache::swapped))]
    Swapped {
        #[source]
        source: DockerError,
    },
}

impl BadTarball {
    /// Damaged, as opposed to holding another image than its name says.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            BadTarball::Checksum { .. }
                | BadTarball::Unreadable { .. }
                | BadTarball::NotAnImage { .. }
                | BadTarball::Refused { .. }
                | BadTarball::Swapped { .. }
        )
    }
}

/// `` `a`, `b` `` (or `no tag`).
fn listed(tags: &[String]) -> String {
    if tags.is_empty() {
        return "with no tag".to_owned();
    }
    tags.iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
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
    let mut buffer = vec![0u8; 1 << 20];
    let (digest, _) = crate::hash::hash_file(path, &mut buffer, &|| false)?;
    Ok(hex::encode(digest))
}

fn io_error(path: &Path, source: std::io::Error) -> DockerError {
    DockerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Saves `image`, the image of the step hashed `hash`, from the daemon into the cache,
/// with its record (signed when `trust` has a key). Returns the tarball's size.
pub async fn store(
    daemon: &Daemon,
    dir: &Path,
    image: &str,
    hash: &str,
    trust: &Trust,
) -> Result<u64, CacheError> {
    let entry = Entry::new(dir, image);
    let _lock = entry.lock().map_err(|e| io_error(&entry.lock, e))?;
    entry.remove_stale_temps();
    let temp_path = temp_name(&entry.tarball);
    let temp = TempFile::new(temp_path.clone());
    let file = create_new(&temp_path).map_err(|e| io_error(&temp_path, e))?;
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let size = daemon.export(image, &mut writer).await?;
    let (inner, digest) = writer.finish().map_err(|e| io_error(&temp_path, e))?;
    let file = inner
        .into_inner()
        .map_err(|e| io_error(&temp_path, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(&temp_path, e))?;
    // The record names the image the tarball holds, read from the tarball itself.
    let saved = temp_path.clone();
    let contents = tokio::task::spawn_blocking(move || read_archive(&saved))
        .await
        .map_err(|e| io_error(&temp_path, std::io::Error::other(e)))??;
    let found = contents.images.first().and_then(|l| l.get(labels::HASH));
    let (Some(image_id), true) = (
        contents.ids.first().filter(|_| contents.ids.len() == 1),
        found.map(String::as_str) == Some(hash),
    ) else {
        return Err(CacheError::WrongImage {
            image: image.to_owned(),
            expected: hash.to_owned(),
            found: found.cloned(),
        });
    };
    let record_path = temp_name(&entry.record);
    let record = TempFile::new(record_path.clone());
    write_new(
        &record_path,
        &Record::new(image, hash, image_id, trust).to_json(),
    )
    .map_err(|e| io_error(&record_path, e))?;
    let sidecar_path = temp_name(&entry.checksum);
    let sidecar = TempFile::new(sidecar_path.clone());
    write_new(
        &sidecar_path,
        format!("{digest}  {}\n", file_name(&entry.tarball)).as_bytes(),
    )
    .map_err(|e| io_error(&sidecar_path, e))?;
    // The sidecar last: until it is there the entry counts as absent, never as valid,
    // and by then its record is in place.
    let _ = fs::remove_file(&entry.checksum);
    fs::rename(&record_path, &entry.record).map_err(|e| io_error(&entry.record, e))?;
    fs::rename(&temp_path, &entry.tarball).map_err(|e| io_error(&entry.tarball, e))?;
    fs::rename(&sidecar_path, &entry.checksum).map_err(|e| io_error(&entry.checksum, e))?;
    temp.keep();
    sidecar.keep();
    record.keep();
    Ok(size)
}

/// A new file at `path`, never one that is there (a symlink someone left in a shared
/// cache folder is not followed): stale temporary files were removed under the lock.
fn create_new(path: &Path) -> std::io::Result<File> {
    File::options().write(true).create_new(true).open(path)
}

/// [`create_new`] holding `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::io::Write::write_all(&mut create_new(path)?, bytes)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads the cached tarball of `image`, the image of the step whose hash is `hash`, if
/// it can be trusted: its record vouches for it (`Entry::vouched`), it matches its
/// checksum, holds one image, tagged `image` and nothing else (so that loading it moves
/// no other tag), whose `io.kiln.hash` label is `hash` and whose id is the recorded
/// one. The cache folder may be shared, so what is checked and loaded is a private
/// copy in `scratch`, hashed as it is written: a tarball swapped or rewritten in place
/// after (or while) it is read is never loaded. Checked again in the daemon after the
/// load; when anything fails after the load, the tag the load gave is removed. A
/// tarball that fails is moved aside. An error only when the daemon could not be asked
/// (or the copy not made): the file may well be fine, and stays.
pub async fn load(
    daemon: &Daemon,
    dir: &Path,
    scratch: &Path,
    image: &str,
    hash: &str,
    trust: &Trust,
) -> Result<Lookup, DockerError> {
    let entry = Entry::new(dir, image);
    if !entry.tarball.is_file() {
        return Ok(Lookup::Missing);
    }
    let _lock = entry.lock().map_err(|e| io_error(&entry.lock, e))?;
    let Some(expected) = entry.digest() else {
        // A tarball without a sidecar is an interrupted write: not trusted.
        return Ok(Lookup::Missing);
    };
    let record = match entry.vouched(image, hash, trust) {
        Ok(record) => record,
        Err(why) => return Ok(Lookup::Refused(why)),
    };
    let (tarball, private) = (entry.tarball.clone(), scratch.to_owned());
    let (wanted, step_hash, recorded) = (image.to_owned(), hash.to_owned(), record.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let (copy, actual) = private_copy(&tarball, &private)?;
        if actual != expected {
            return Ok(Err(BadTarball::Checksum { actual, expected }));
        }
        let checked = read_archive(copy.path())
            .map_err(|source| BadTarball::NotAnImage { source })
            .and_then(|contents| {
                trusted(&contents, &wanted, &step_hash)?;
                match &recorded {
                    Some(record) => record.matches(&contents.ids[0]).map_err(BadTarball::Record),
                    None => Ok(()),
                }
            });
        Ok(checked.map(|()| copy))
    })
    .await
    .map_err(|e| io_error(&entry.tarball, std::io::Error::other(e)))?;
    let copy = match checked {
        Ok(Ok(copy)) => copy,
        Ok(Err(problem)) => return Ok(corrupt(&entry, problem, None)),
        Err(CopyFailed::Read(source)) => {
            return Ok(corrupt(&entry, BadTarball::Unreadable { source }, None));
        }
        Err(CopyFailed::Write(source)) => return Err(io_error(scratch, source)),
    };
    let problem = match daemon.import(copy.path()).await {
        Ok(tags) => {
            let ours = short_reference(image);
            let others: Vec<String> = tags
                .into_iter()
                .filter(|t| short_reference(t) != ours)
                .collect();
            if others.is_empty() {
                loaded_problem(daemon, image, hash, record.as_ref()).await?
            } else {
                Some(BadTarball::Swapped {
                    source: DockerError::ArchiveMovedTags {
                        path: entry.tarball.clone(),
                        expected: image.to_owned(),
                        tags: others,
                    },
                })
            }
        }
        // The daemon was not asked, or gave up (Ctrl-C): the tarball may well be fine.
        Err(
            e @ (DockerError::Unreachable { .. }
            | DockerError::NotAnswering { .. }
            | DockerError::Io { .. }),
        ) => return Err(e),
        Err(source) => Some(BadTarball::Refused { source }),
    };
    let Some(problem) = problem else {
        return Ok(Lookup::Loaded);
    };
    // Only the tag the load applied: the image stays if another tag or a container
    // uses it.
    let untag_failed = match daemon.inspect(image).await {
        Ok(Some(_)) => daemon.remove(image, false).await.err(),
        Ok(None) => None,
        Err(e) => Some(e),
    };
    Ok(corrupt(&entry, problem, untag_failed))
}

/// What is wrong with the image the load tagged `image`, if anything.
async fn loaded_problem(
    daemon: &Daemon,
    image: &str,
    hash: &str,
    record: Option<&Record>,
) -> Result<Option<BadTarball>, DockerError> {
    let Some(info) = daemon.inspect(image).await? else {
        return Ok(Some(BadTarball::NotLoaded {
            image: image.to_owned(),
        }));
    };
    let found = info.labels.get(labels::HASH);
    Ok(if found.map(String::as_str) != Some(hash) {
        Some(BadTarball::WrongHash {
            expected: hash.to_owned(),
            found: found.cloned(),
        })
    } else {
        record
            .and_then(|r| r.matches(&info.id).err())
            .map(BadTarball::Record)
    })
}

/// Why a private copy was not made: the cached file could not be read, or the copy
/// not written.
enum CopyFailed {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// A copy of `tarball` in `scratch` that only this user may read or write (removed
/// when dropped), and the hex sha256 of what was copied. Called under the entry's lock:
/// a copy of the same tarball left there is one a killed run left, and goes.
fn private_copy(
    tarball: &Path,
    scratch: &Path,
) -> Result<(tempfile::NamedTempFile, String), CopyFailed> {
    let mut source = File::open(tarball).map_err(CopyFailed::Read)?;
    fs::create_dir_all(scratch).map_err(CopyFailed::Write)?;
    let prefix = format!("load-{}-", file_name(tarball));
    if let Ok(listing) = fs::read_dir(scratch) {
        for stale in listing.flatten() {
            let name = stale.file_name().to_string_lossy().into_owned();
            // `tempfile`'s names: the prefix and six random letters or digits.
            let left = name.strip_prefix(&prefix).is_some_and(|rest| {
                rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if left {
                tracing::debug!(
                    "removing {} left by an interrupted load",
                    stale.path().display()
                );
                let _ = fs::remove_file(stale.path());
            }
        }
    }
    let copy = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(scratch)
        .map_err(CopyFailed::Write)?;
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, copy.as_file()));
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        use std::io::{Read, Write};
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyFailed::Read(e)),
        };
        writer.write_all(&buffer[..n]).map_err(CopyFailed::Write)?;
    }
    let (inner, digest) = writer.finish().map_err(CopyFailed::Write)?;
    inner
        .into_inner()
        .map_err(|e| CopyFailed::Write(e.into_error()))?;
    Ok((copy, digest))
}

/// Whether a tarball holding `contents` may be loaded for `image` of step hash `hash`.
fn trusted(contents: &ArchiveContents, image: &str, hash: &str) -> Result<(), BadTarball> {
    if contents.images.len() != 1 {
        return Err(BadTarball::Images {
            count: contents.images.len(),
        });
    }
    let expected = short_reference(image);
    if !contents.tags.contains(&expected) {
        return Err(BadTarball::NotTagged {
            expected: image.to_owned(),
            found: contents.tags.iter().cloned().collect(),
        });
    }
    let others: Vec<String> = contents
        .tags
        .iter()
        .filter(|t| **t != expected)
        .cloned()
        .collect();
    if !others.is_empty() {
        return Err(BadTarball::OtherTags { others });
    }
    let found = contents.images[0].get(labels::HASH);
    if found.map(String::as_str) != Some(hash) {
        return Err(BadTarball::WrongHash {
            expected: hash.to_owned(),
            found: found.cloned(),
        });
    }
    Ok(())
}

/// Moves the tarball aside and says why.
fn corrupt(entry: &Entry, problem: BadTarball, untag_failed: Option<DockerError>) -> Lookup {
    Lookup::Corrupt {
        problem: Box::new(problem),
        moved_to: move_aside(entry),
        untag_failed: untag_failed.map(Box::new),
    }
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
    let _ = fs::rename(&entry.record, entry.record.with_extension("json.corrupt"));
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
        fs::write(
            &entry.checksum,
            format!("{}  {}\n", "0".repeat(64), file_name(&entry.tarball)),
        )
        .unwrap();
        entry.remove_stale_temps();
        assert!(!dir.path().join(&stale_tar).exists());
        assert!(!dir.path().join(&stale_sum).exists());
        assert!(
            dir.path().join(&others).exists(),
            "another image's write is not ours"
        );
        assert!(entry.present(), "the cached image itself stays");
    }

    #[test]
    fn a_private_copy_hashes_what_it_copies_and_replaces_one_a_killed_run_left() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("kiln_x.tar");
        fs::write(&tarball, b"content").unwrap();
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).unwrap();
        let stale = scratch.join("load-kiln_x.tar-AbC123");
        let other = scratch.join("load-kiln_x.tar-b.tar-AbC123");
        fs::write(&stale, b"left").unwrap();
        fs::write(&other, b"another image's").unwrap();
        let (copy, digest) = match private_copy(&tarball, &scratch) {
            Ok(made) => made,
            Err(_) => panic!("the copy is made"),
        };
        assert_eq!(fs::read(copy.path()).unwrap(), b"content");
        assert_eq!(digest, crate::hash::sha256_hex(b"content"));
        assert!(!stale.exists(), "a copy a killed run left is removed");
        assert!(other.exists(), "another image's copy stays");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(copy.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only its owner may read the copy");
        let path = copy.path().to_owned();
        drop(copy);
        assert!(!path.exists(), "removed when dropped");
    }

    #[test]
    fn a_sidecar_without_a_digest_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry::new(dir.path(), "kiln-test/x:flavor-step_0123");
        fs::write(&entry.tarball, "tar").unwrap();
        for sidecar in ["", "\n", "not-a-digest  x.tar\n", &"g".repeat(64)] {
            fs::write(&entry.checksum, sidecar).unwrap();
            assert!(!entry.present(), "{sidecar:?}");
        }
        let digest = "0a".repeat(32);
        fs::write(&entry.checksum, format!("{digest}  x.tar\n")).unwrap();
        assert!(entry.present());
        assert_eq!(entry.digest(), Some(digest));
    }

    fn contents(tags: &[&str], hashes: &[&str]) -> ArchiveContents {
        ArchiveContents {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            images: hashes
                .iter()
                .map(|h| [(labels::HASH.to_owned(), h.to_string())].into())
                .collect(),
            ids: hashes.iter().map(|h| format!("sha256:{h}")).collect(),
        }
    }

    #[test]
    fn only_one_image_tagged_with_the_name_alone_and_carrying_the_hash_is_trusted() {
        let image = "kiln:f-release_0123";
        assert!(trusted(&contents(&[image], &["h"]), image, "h").is_ok());
        // docker.io's long form is the same name.
        assert!(
            trusted(
                &contents(&[image], &["h"]),
                "docker.io/library/kiln:f-release_0123",
                "h"
            )
            .is_ok()
        );
        let problem = |tags: &[&str], hashes: &[&str]| {
            trusted(&contents(tags, hashes), image, "h").unwrap_err()
        };
        assert!(matches!(
            problem(&[image], &["h", "h"]),
            BadTarball::Images { count: 2 }
        ));
        assert!(matches!(
            problem(&[image], &[]),
            BadTarball::Images { count: 0 }
        ));
        assert!(matches!(
            problem(&["kiln:f-base_0123"], &["h"]),
            BadTarball::NotTagged { .. }
        ));
        assert!(matches!(problem(&[], &["h"]), BadTarball::NotTagged { .. }));
        match problem(&[image, "myapp:latest"], &["h"]) {
            BadTarball::OtherTags { others } => assert_eq!(others, ["myapp:latest"]),
            other => panic!("{other:?}"),
        }
        match problem(&[image], &["other"]) {
            BadTarball::WrongHash { found, expected } => {
                assert_eq!((found.as_deref(), expected.as_str()), (Some("other"), "h"))
            }
            other => panic!("{other:?}"),
        }
        let unlabelled = ArchiveContents {
            tags: [image.to_owned()].into(),
            images: vec![Default::default()],
            ids: vec!["sha256:0".to_owned()],
        };
        let error = trusted(&unlabelled, image, "h").unwrap_err();
        assert!(
            error.to_string().contains("io.kiln.hash label is missing"),
            "{error}"
        );
    }
}
