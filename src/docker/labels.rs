//! Labels kiln puts on what it creates, so it can find and remove them.

/// Present on every image kiln builds.
pub const MANAGED: &str = "io.kiln.managed";
pub const FLAVOR: &str = "io.kiln.flavor";
pub const STEP: &str = "io.kiln.step";
/// The full step hash (the tag holds only a prefix).
pub const HASH: &str = "io.kiln.hash";

pub const OCI_TITLE: &str = "org.opencontainers.image.title";
pub const OCI_DESCRIPTION: &str = "org.opencontainers.image.description";
pub const OCI_VERSION: &str = "org.opencontainers.image.version";
pub const OCI_VENDOR: &str = "org.opencontainers.image.vendor";
