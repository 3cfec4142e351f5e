//! Cache tiers below the daemon: image tarballs in a folder, and a registry.

pub mod file;
mod result_source;

pub use result_source::ResultSource;
