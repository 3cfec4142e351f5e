//! Both cache ladders, as turborepo's cache multiplexer: images (daemon → file cache →
//! registry) and entity results (this machine's cache → registry), each over one tier
//! interface, with the order and the outage breaker written once. Building an image or
//! running an entity is the callers' last resort, outside the ladders.

mod breaker;
mod error;
pub mod image;
mod oci;
pub mod result;
pub mod trust;

pub use breaker::{Breaker, Down};
pub use error::{CacheError, Refusal};
pub(crate) use image::file::TempFile;
pub use image::file::file_stem;
pub use image::{ImageLadder, ImageTier};
pub use result::{ResultLadder, ResultSource};
