//! Building steps: Dockerfile rendering, image names, and (with the engine) the build
//! executor that walks the cache tiers.

pub mod dockerfile;
pub mod naming;
