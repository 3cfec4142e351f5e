//! The Docker daemon through bollard (never the docker CLI): connect, build, inspect,
//! tag, save/load, push/pull, list and remove by label, label a built image by a
//! config-only load.

mod archive;
mod backend;
mod build;
mod buildkit;
mod client;
pub mod container;
mod copy;
mod credentials;
mod error;
mod image;
pub mod labels;
mod reference;
mod registry;
mod relabel;
mod text;

pub use archive::{ArchiveContents, read_archive, short_reference};
pub use backend::{Backend, Resolved};
pub use build::{BuildRequest, ContextWriter, StatusSink};
pub use buildkit::{Endpoint, SecretValues, TransportError};
pub use client::{Daemon, answer_within_from_env};
pub use container::{ContainerInfo, ContainerSpec, ExecOutcome, ExecRequest, MountSpec};
pub use copy::MAX_COPY_OUT;
pub use credentials::{credentials, registry_host};
pub use error::{ConnectionLost, DockerError, RelabelError, RequestFailure};
pub use image::{ImageInfo, split_reference};
pub use reference::ImageRef;
pub use text::TAIL_LINES;
