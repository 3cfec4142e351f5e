//! Signatures over what the shared cache tiers hold: ed25519 keys, the statements kiln
//! signs (an image: step hash and image id; a result: its key and the digests of what
//! travels with it), and the trust a run places in them.
//!
//! ed25519 rather than a shared HMAC secret: readers hold only public keys, so a runner
//! that may read the cache (a pull request's CI) cannot write entries others trust.

mod error;
mod key;
mod statement;
mod trust;

pub use error::SigningError;
pub use key::{KEY_VARIABLE, PublicKey, SecretKey};
pub use statement::Statement;
pub use trust::{Trust, Unverified};
