//! The build context as a deterministic tar stream, as the Docker daemon receives it.
//!
//! Same [`Context`] and extras → same bytes: entries in byte order of their path, each
//! file preceded by those of its folders not written yet (mode 0755, name ending in
//! `/`); files mode 0644, or 0755 if executable; mtime 0, uid/gid 0, empty user and
//! group names. Headers are GNU headers; a path of 100 bytes or more is written as a
//! GNU long-name (`././@LongLink`, type `L`) entry before its header. No sparse
//! entries, no PAX records.
//!
//! Files are streamed from [`ContextFile::source`] and checked against what was hashed:
//! if the size or the content differs, writing fails with
//! [`HashError::Changed`](super::HashError::Changed) (wrapped in the `io::Error`)
//! *before* the file's last chunk is written, so the stream never carries content
//! other than what was hashed. After an error the output is incomplete and must be
//! discarded.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::context::{Context, ContextFile};
use super::digest::BUF_SIZE;
use super::error::HashError;
use super::relpath::{self, parents};

const BLOCK: usize = 512;
/// Size of a header's name field.
const NAME_LEN: usize = 100;

/// Writes `context` plus `extra` (path inside the context, content; e.g. the rendered
/// Dockerfile at `.kiln/Dockerfile`) as a tar stream to `out`.
pub fn write_tar<W: Write>(context: &Context, extra: &[(&str, &[u8])], out: W) -> io::Result<()> {
    enum Item<'a> {
        File(&'a ContextFile),
        Bytes(&'a [u8]),
    }
    let mut items: Vec<(&str, Item)> = Vec::with_capacity(context.files.len() + extra.len());
    for file in &context.files {
        items.push((file.path.as_str(), Item::File(file)));
    }
    for (path, bytes) in extra {
        items.push((path, Item::Bytes(bytes)));
    }
    items.sort_by(|a, b| a.0.cmp(b.0));
    for (path, _) in &items {
        check_path(path)?;
    }
    if let Some(w) = items.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(tar_path(w[0].0, "it is in the context twice"));
    }
    let files: HashSet<&str> = items.iter().map(|(path, _)| *path).collect();
    for (path, _) in &items {
        if let Some(file) = parents(path).find(|p| files.contains(p)) {
            return Err(tar_path(file, "it is a file and a folder"));
        }
    }

    let mut out = BufWriter::with_capacity(BUF_SIZE, out);
    let mut buf = vec![0u8; BUF_SIZE];
    let mut folders: HashSet<&str> = HashSet::new();
    for (path, item) in &items {
        for folder in parents(path) {
            if folders.contains(folder) {
                continue;
            }
            write_header(
                &mut out,
                &format!("{folder}/"),
                EntryType::Directory,
                0o755,
                0,
            )?;
            folders.insert(folder);
        }
        match item {
            Item::Bytes(bytes) => {
                write_header(
                    &mut out,
                    path,
                    EntryType::Regular,
                    0o644,
                    bytes.len() as u64,
                )?;
                out.write_all(bytes)?;
                pad(&mut out, bytes.len() as u64)?;
            }
            Item::File(file) => {
                let mode = if file.executable { 0o755 } else { 0o644 };
                write_header(&mut out, path, EntryType::Regular, mode, file.size)?;
                stream_file(&mut out, file, &mut buf)?;
                pad(&mut out, file.size)?;
            }
        }
    }
    out.write_all(&[0u8; 2 * BLOCK])?;
    out.flush()
}

fn tar_path(path: &str, reason: &'static str) -> io::Error {
    HashError::TarPath {
        path: path.to_owned(),
        reason,
    }
    .into_io()
}

fn check_path(path: &str) -> io::Result<()> {
    match relpath::normalize(path) {
        Ok(normal) if normal == path => Ok(()),
        Ok(_) => Err(tar_path(path, "it has an empty part or a trailing `/`")),
        Err(reason) => Err(tar_path(path, reason)),
    }
}

/// A GNU header (preceded by a long-name entry if `path` does not fit).
fn write_header(
    out: &mut impl Write,
    path: &str,
    kind: EntryType,
    mode: u32,
    size: u64,
) -> io::Result<()> {
    let name = path.as_bytes();
    let mut header = Header::new_gnu();
    if name.len() >= NAME_LEN {
        let mut long = Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        // The name and a terminating NUL, like GNU tar.
        long.set_size(name.len() as u64 + 1);
        long.set_entry_type(EntryType::GNULongName);
        long.set_cksum();
        out.write_all(long.as_bytes())?;
        out.write_all(name)?;
        out.write_all(&[0])?;
        pad(out, name.len() as u64 + 1)?;
        // The header keeps as much of the name as fits, as GNU tar does.
        header.as_old_mut().name.copy_from_slice(&name[..NAME_LEN]);
    } else {
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
    }
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    out.write_all(header.as_bytes())
}

/// Zeros up to the next block boundary after `len` bytes of data.
fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rest = (len % BLOCK as u64) as usize;
    if rest != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rest])?;
    }
    Ok(())
}

/// Copies `file.source` to `out`, checking its size and digest against `file`; the
/// last chunk is written only once the whole content proved to be what was hashed.
fn stream_file(out: &mut impl Write, file: &ContextFile, buf: &mut [u8]) -> io::Result<()> {
    let changed = || {
        HashError::Changed {
            path: file.path.clone(),
            source_path: file.source.clone(),
        }
        .into_io()
    };
    let read_error = |e: io::Error| HashError::read(&file.source, e).into_io();
    let mut source = File::open(&file.source).map_err(read_error)?;
    if source.metadata().map_err(read_error)?.len() != file.size {
        return Err(changed());
    }
    let mut hasher = Sha256::new();
    let mut remaining = file.size;
    loop {
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = if want == 0 {
            0
        } else {
            match source.read(&mut buf[..want]) {
                Ok(0) => return Err(changed()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            }
        };
        hasher.update(&buf[..n]);
        remaining -= n as u64;
        if remaining == 0 {
            let digest: [u8; 32] = hasher.finalize().into();
            let mut probe = [0u8; 1];
            let grown = loop {
                match source.read(&mut probe) {
                    Ok(n) => break n != 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_error(e)),
                }
            };
            if grown || digest != file.digest {
                return Err(changed());
            }
            return out.write_all(&buf[..n]);
        }
        out.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<(String, EntryType, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let kind = e.header().entry_type();
                let mode = e.header().mode().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, kind, mode, data)
            })
            .collect()
    }

    #[test]
    fn extras_only_archive() {
        let mut out = Vec::new();
        let ctx = Context::default();
        write_tar(&ctx, &[(".kiln/Dockerfile", b"FROM scratch\n")], &mut out).unwrap();
        assert_eq!(out.len() % BLOCK, 0);
        let entries = read_back(&out);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, ".kiln/");
        assert_eq!(entries[0].1, EntryType::Directory);
        assert_eq!(entries[0].2, 0o755);
        assert_eq!(entries[1].0, ".kiln/Dockerfile");
        assert_eq!(entries[1].3, b"FROM scratch\n");
    }

    #[test]
    fn path_of_exactly_100_and_99_bytes() {
        for len in [99usize, 100, 101, 300] {
            let path = "p".repeat(len);
            let mut out = Vec::new();
            write_tar(&Context::default(), &[(&path, b"x")], &mut out).unwrap();
            let entries = read_back(&out);
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].0, path);
        }
    }

    #[test]
    fn bad_and_duplicate_paths_are_rejected() {
        let ctx = Context::default();
        for bad in ["/abs", "a/../b", "a//b", "", "a/"] {
            let err = write_tar(&ctx, &[(bad, b"")], io::sink()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        let err = write_tar(&ctx, &[("a", b""), ("a", b"")], io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = write_tar(&ctx, &[("a", b""), ("a/b", b"")], io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
