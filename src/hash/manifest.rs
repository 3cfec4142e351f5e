//! The step hash (a step's cache key) and its manifest: every input with its digest,
//! kept in the job record so that `kiln explain` can say which input changed.
//!
//! The hash is sha256 over the manifest's entries, in this order: the hash-format
//! version; the image-changing args by name; the dependencies' hashes by dependency
//! name; the external base images (a `FROM` kiln does not build) by reference; the
//! context files by path; the raw Dockerfile. Each entry is written as
//!
//! ```text
//! tag:u8  u64be(len(name)) name  u64be(len(digest)) digest  [exec:u8, files only]
//! ```
//!
//! with tags `V` (version), `A` (arg), `N` (dependency), `B` (base), `F` (file), `D`
//! (Dockerfile);
//! `digest` is the ASCII text of [`ManifestEntry::digest`]. Every entry delimits itself,
//! so no two different manifests produce the same byte stream. docs/hashing.md has
//! the full layout.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::HASH_FORMAT_VERSION;
use super::context::Context;
use super::digest::sha256_hex;

/// Everything that goes into a step's hash.
#[derive(Debug, Clone)]
pub struct StepInputs<'a> {
    /// The raw Dockerfile template (before rendering: dependencies enter through
    /// their hashes instead of their image names).
    pub dockerfile: &'a [u8],
    /// Image-changing build args (name, value); transparent args must not be here.
    pub args: Vec<(String, String)>,
    /// (dependency step name, its step hash in hex).
    pub dependencies: Vec<(String, String)>,
    /// (a `FROM` reference kiln does not build, as written, its identity in hex: the
    /// digest of its repo digest, else of its image id). A step without any hashes as
    /// before bases were inputs.
    pub bases: Vec<(String, String)>,
    pub context: &'a Context,
}

/// Name of the [`EntryKind::Version`] entry.
pub const VERSION_ENTRY: &str = "hash-format";
/// Name of the [`EntryKind::Dockerfile`] entry.
pub const DOCKERFILE_ENTRY: &str = "Dockerfile";

/// Every input of a step hash and the hash itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`HASH_FORMAT_VERSION`] when it was made.
    pub version: u32,
    /// Sorted by kind (in the order of [`EntryKind`]), then name.
    pub entries: Vec<ManifestEntry>,
    /// sha256 of the entries, lowercase hex.
    pub hash: String,
}

/// One input of a step hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub kind: EntryKind,
    /// Arg name, dependency step name, file path inside the context,
    /// [`VERSION_ENTRY`] or [`DOCKERFILE_ENTRY`].
    pub name: String,
    /// Lowercase hex: sha256 of the file content, of the arg value (never the value
    /// itself), of the raw Dockerfile; the dependency's step hash; the base image's
    /// digest; for the version entry the version number in decimal.
    pub digest: String,
    /// Files only: the owner's execute bit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
}

/// The kinds of inputs, in the order they are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Version,
    Arg,
    Dependency,
    Base,
    File,
    Dockerfile,
}

impl EntryKind {
    /// The byte that starts this kind's entries in the hashed stream.
    pub fn tag(self) -> u8 {
        match self {
            EntryKind::Version => b'V',
            EntryKind::Arg => b'A',
            EntryKind::Dependency => b'N',
            EntryKind::Base => b'B',
            EntryKind::File => b'F',
            EntryKind::Dockerfile => b'D',
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::Version => "hash format",
            EntryKind::Arg => "arg",
            EntryKind::Dependency => "dependency",
            EntryKind::Base => "base image",
            EntryKind::File => "file",
            EntryKind::Dockerfile => "Dockerfile",
        })
    }
}

/// The step hash of `inputs`, with every input listed.
pub fn step_hash(inputs: &StepInputs) -> Manifest {
    let mut entries = Vec::with_capacity(
        2 + inputs.args.len() + inputs.dependencies.len() + inputs.context.files.len(),
    );
    entries.push(ManifestEntry {
        kind: EntryKind::Version,
        name: VERSION_ENTRY.to_owned(),
        digest: HASH_FORMAT_VERSION.to_string(),
        executable: None,
    });
    entries.extend(inputs.args.iter().map(|(name, value)| ManifestEntry {
        kind: EntryKind::Arg,
        name: name.clone(),
        digest: sha256_hex(value.as_bytes()),
        executable: None,
    }));
    entries.extend(
        inputs
            .dependencies
            .iter()
            .map(|(name, hash)| ManifestEntry {
                kind: EntryKind::Dependency,
                name: name.clone(),
                digest: hash.clone(),
                executable: None,
            }),
    );
    entries.extend(
        inputs
            .bases
            .iter()
            .map(|(reference, digest)| ManifestEntry {
                kind: EntryKind::Base,
                name: reference.clone(),
                digest: digest.clone(),
                executable: None,
            }),
    );
    entries.extend(inputs.context.files.iter().map(|file| ManifestEntry {
        kind: EntryKind::File,
        name: file.path.clone(),
        digest: hex::encode(file.digest),
        executable: Some(file.executable),
    }));
    entries.push(ManifestEntry {
        kind: EntryKind::Dockerfile,
        name: DOCKERFILE_ENTRY.to_owned(),
        digest: sha256_hex(inputs.dockerfile),
        executable: None,
    });
    Manifest::new(HASH_FORMAT_VERSION, entries)
}

impl Manifest {
    /// A manifest of `entries` (sorted here) with their hash.
    pub fn new(version: u32, mut entries: Vec<ManifestEntry>) -> Self {
        entries.sort();
        let hash = Self::compute_hash(&entries);
        Manifest {
            version,
            entries,
            hash,
        }
    }

    /// sha256 (hex) of `entries` in the layout documented in the module docs; the
    /// entries must already be in manifest order.
    pub fn compute_hash(entries: &[ManifestEntry]) -> String {
        let mut hasher = Sha256::new();
        for entry in entries {
            hasher.update([entry.kind.tag()]);
            hasher.update((entry.name.len() as u64).to_be_bytes());
            hasher.update(entry.name.as_bytes());
            hasher.update((entry.digest.len() as u64).to_be_bytes());
            hasher.update(entry.digest.as_bytes());
            if entry.kind == EntryKind::File {
                hasher.update([u8::from(entry.executable == Some(true))]);
            }
        }
        hex::encode(hasher.finalize())
    }

    /// Does `hash` match the entries (a manifest read back from disk)?
    pub fn verify(&self) -> bool {
        self.entries.is_sorted() && Self::compute_hash(&self.entries) == self.hash
    }
}

/// One difference between two manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Added {
        entry: ManifestEntry,
    },
    Removed {
        entry: ManifestEntry,
    },
    Changed {
        old: ManifestEntry,
        new: ManifestEntry,
    },
}

impl Change {
    pub fn kind(&self) -> EntryKind {
        self.entry().kind
    }

    pub fn name(&self) -> &str {
        &self.entry().name
    }

    fn entry(&self) -> &ManifestEntry {
        match self {
            Change::Added { entry } | Change::Removed { entry } => entry,
            Change::Changed { new, .. } => new,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { entry } => write!(f, "added {} `{}`", entry.kind, entry.name),
            Change::Removed { entry } => write!(f, "removed {} `{}`", entry.kind, entry.name),
            Change::Changed { old, new } => {
                let what = match new.kind {
                    EntryKind::Version => {
                        return write!(f, "hash format changed: {} → {}", old.digest, new.digest);
                    }
                    EntryKind::Dockerfile => return write!(f, "changed Dockerfile"),
                    EntryKind::Arg => "value",
                    EntryKind::Dependency => "hash",
                    EntryKind::Base => {
                        return write!(
                            f,
                            "base image `{}` changed: {} → {}",
                            new.name,
                            &old.digest[..old.digest.len().min(12)],
                            &new.digest[..new.digest.len().min(12)]
                        );
                    }
                    EntryKind::File => {
                        match (old.digest != new.digest, old.executable != new.executable) {
                            (true, true) => "content and executable bit",
                            (false, true) => "executable bit",
                            _ => "content",
                        }
                    }
                };
                write!(f, "changed {} `{}`: {what}", new.kind, new.name)
            }
        }
    }
}

/// What differs from `old` to `new`, matching entries by (kind, name); in manifest
/// order.
pub fn diff(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let index = |m: &Manifest| -> BTreeMap<(EntryKind, String), ManifestEntry> {
        m.entries
            .iter()
            .map(|e| ((e.kind, e.name.clone()), e.clone()))
            .collect()
    };
    let mut old = index(old);
    let mut changes = Vec::new();
    for (key, entry) in index(new) {
        match old.remove(&key) {
            None => changes.push(Change::Added { entry }),
            Some(before) => {
                if before.digest != entry.digest || before.executable != entry.executable {
                    changes.push(Change::Changed {
                        old: before,
                        new: entry,
                    });
                }
            }
        }
    }
    changes.extend(old.into_values().map(|entry| Change::Removed { entry }));
    changes.sort_by(|a, b| (a.kind(), a.name()).cmp(&(b.kind(), b.name())));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ContextFile;

    fn context(files: &[(&str, &[u8], bool)]) -> Context {
        Context {
            files: files
                .iter()
                .map(|(path, content, executable)| ContextFile {
                    path: path.to_string(),
                    source: path.into(),
                    executable: *executable,
                    size: content.len() as u64,
                    digest: crate::hash::sha256(content),
                })
                .collect(),
        }
    }

    fn inputs<'a>(ctx: &'a Context, args: &[(&str, &str)]) -> StepInputs<'a> {
        StepInputs {
            bases: Vec::new(),
            dockerfile: b"FROM scratch\n",
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dependencies: vec![],
            context: ctx,
        }
    }

    #[test]
    fn byte_layout_is_as_documented() {
        let ctx = context(&[("a", b"x", true)]);
        let m = step_hash(&inputs(&ctx, &[("K", "v")]));
        let mut stream = Vec::new();
        let mut entry = |tag: u8, name: &str, digest: &str, exec: Option<u8>| {
            stream.push(tag);
            stream.extend((name.len() as u64).to_be_bytes());
            stream.extend(name.as_bytes());
            stream.extend((digest.len() as u64).to_be_bytes());
            stream.extend(digest.as_bytes());
            stream.extend(exec);
        };
        entry(b'V', "hash-format", "1", None);
        entry(b'A', "K", &sha256_hex(b"v"), None);
        entry(b'F', "a", &sha256_hex(b"x"), Some(1));
        entry(b'D', "Dockerfile", &sha256_hex(b"FROM scratch\n"), None);
        assert_eq!(m.hash, sha256_hex(&stream));
        assert!(m.verify());
    }

    #[test]
    fn separators_make_fields_unambiguous() {
        let ctx = context(&[]);
        let a = step_hash(&inputs(&ctx, &[("AB", "c")]));
        let b = step_hash(&inputs(&ctx, &[("A", "Bc")]));
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let ctx = context(&[("a", b"x", false)]);
        let m = step_hash(&inputs(&ctx, &[]));
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""kind":"file""#), "{json}");
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert!(back.verify());
    }

    #[test]
    fn diff_lists_added_removed_changed() {
        let old_ctx = context(&[("a", b"1", false), ("b", b"2", false), ("c", b"3", false)]);
        let new_ctx = context(&[("a", b"1", true), ("b", b"2!", false), ("d", b"4", false)]);
        let old = step_hash(&inputs(&old_ctx, &[("X", "1")]));
        let new = step_hash(&inputs(&new_ctx, &[("X", "2")]));
        let shown: Vec<String> = diff(&old, &new).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "changed arg `X`: value",
                "changed file `a`: executable bit",
                "changed file `b`: content",
                "removed file `c`",
                "added file `d`",
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
