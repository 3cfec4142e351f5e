//! What travels with a result to a shared tier (`cache::result`), and comes back from
//! one: the end of its log ([`LOG_CAP`] bytes) and its artifacts as a tar (left out over
//! [`ARTIFACTS_CAP`]). What comes back is hostile: its artifacts are unpacked as a copy
//! out of a container is (`transfer.rs`): regular files with plain relative paths only,
//! bounded in count and size.

use std::path::Path;

use super::artifacts::{Copied, Limits};
use super::error::CheckError;

/// The most of a log that travels (its end).
pub const LOG_CAP: usize = 1024 * 1024;
/// Artifacts larger than this in all stay home (the result travels without them).
pub const ARTIFACTS_CAP: u64 = 16 * 1024 * 1024;
/// At most this many artifact files come back from the registry.
const MAX_ARTIFACTS: usize = 1000;

/// The last `cap` bytes of the file at `path`.
pub fn read_tail(path: &Path, cap: usize) -> Option<Vec<u8>> {
    let data = std::fs::read(path).ok()?;
    Some(data[data.len().saturating_sub(cap)..].to_vec())
}

/// A tar of `files` (relative paths under `dir`, regular files only); `None` over the cap.
pub fn pack(dir: &Path, files: &[String]) -> Option<Vec<u8>> {
    let mut total = 0u64;
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let path = dir.join(file);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        if total > ARTIFACTS_CAP {
            return None;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len());
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let data = std::fs::File::open(&path).ok()?;
        builder.append_data(&mut header, file, data).ok()?;
    }
    builder.into_inner().ok()
}

/// Unpacks a fetched artifacts tar into `target` as a copy out of a container is
/// ([`transfer::artifacts`](super::transfer::artifacts)): regular files only, no path
/// leaving it, at most [`MAX_ARTIFACTS`] files and [`ARTIFACTS_CAP`] bytes.
pub fn unpack(tar_data: &[u8], target: &Path) -> Result<Copied, CheckError> {
    let mut everything = globset::GlobSetBuilder::new();
    everything.add(globset::Glob::new("**").expect("the glob is valid"));
    let everything = everything.build().expect("the glob set is valid");
    let limits = Limits {
        files: MAX_ARTIFACTS,
        bytes: ARTIFACTS_CAP,
        ..Limits::default()
    };
    super::transfer::artifacts(tar_data, "", &everything, target, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_pack_and_unpack_and_a_hostile_tar_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("from/_data")).unwrap();
        std::fs::write(dir.path().join("from/_data/plot.svg"), "<svg/>").unwrap();
        let tar = pack(&dir.path().join("from"), &["_data/plot.svg".to_owned()]).unwrap();
        let unpacked = unpack(&tar, &dir.path().join("to")).unwrap().files;
        assert_eq!(unpacked, ["_data/plot.svg"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("to/_data/plot.svg")).unwrap(),
            "<svg/>"
        );

        // A tar naming a path outside, and a link: nothing lands outside `to`.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../escaped.tx");
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "link", "/etc/passwd")
            .unwrap();
        let hostile = builder.into_inner().unwrap();
        let unpacked = unpack(&hostile, &dir.path().join("to2")).unwrap().files;
        assert!(unpacked.is_empty(), "{unpacked:?}");
        assert!(!dir.path().join("escaped.tx").exists());
        assert!(!dir.path().join("to2/link").exists());
    }
}
