//! Cache tiers below the daemon: image tarballs in a folder, and a registry.

pub mod file;
