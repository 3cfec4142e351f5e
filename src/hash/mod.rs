//! Content hashing of build steps: what goes into a step's build context, the step
//! hash (its cache key) with a manifest of every input, and the context as a
//! deterministic tar stream.
//!
//! | file | holds |
//! | --- | --- |
//! | `context.rs` | [`ContextSpec`] → [`collect`] → [`Context`]: walking, symlinks, includes, parallel hashing |
//! | `ignore.rs` | step `ignore` globs and `.dockerignore` |
//! | `digest.rs` | sha256 of bytes and (buffered) of files |
//! | `manifest.rs` | [`StepInputs`] → [`step_hash`] → [`Manifest`]; [`diff`] |
//! | `tar.rs` | [`write_tar`] |
//! | `relpath.rs` | paths inside the context |
//! | `error.rs` | [`HashError`] |
//!
//! The rules and the exact byte layout of the hash are in docs/hashing.md.

mod context;
mod digest;
mod error;
mod ignore;
mod manifest;
mod relpath;
mod tar;

pub use context::{Context, ContextFile, ContextSpec, collect, collect_until, list};
pub(crate) use digest::hash_file;
pub use digest::{Digest, HashingWriter, sha256, sha256_hex};
pub use error::HashError;
pub use manifest::{
    Change, DOCKERFILE_ENTRY, EntryKind, Manifest, ManifestEntry, StepInputs, VERSION_ENTRY, diff,
    step_hash,
};
pub use tar::write_tar;

/// Version of the hash layout; bump it whenever what is hashed or how changes, so that
/// old cache entries are never mistaken for new ones.
pub const HASH_FORMAT_VERSION: u32 = 1;
