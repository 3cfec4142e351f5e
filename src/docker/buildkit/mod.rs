//! Builds by BuildKit, the builder inside the daemon (Docker ≥ 18.09), reached through
//! the daemon's API as `docker build` with `DOCKER_BUILDKIT=1` reaches it: no buildx,
//! no BuildKit daemon of its own.

mod build;
mod endpoint;
mod error;
mod progress;
mod session;

pub use endpoint::Endpoint;
pub use error::TransportError;
pub use session::SecretValues;
