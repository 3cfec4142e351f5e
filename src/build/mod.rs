//! Building steps: analysis (hash, image name), Dockerfile rendering and its checks
//! before a build, the cache tiers, the builder that gets one step's image, and the
//! image tasks (save, push, export, clean).

mod analysis;
pub mod bases;
pub mod build_info;
mod builder;
mod clean;
pub mod dockerfile;
mod error;
mod export;
mod failure;
pub mod naming;
pub mod preflight;
mod secrets;
mod source;
mod tiers;

pub use analysis::{Analysis, analyze};
pub use bases::Bases;
pub use builder::{BuildPolicy, Builder, Image, Located, Obtain};
pub use clean::{Cleaned, NotRemoved, remove_images};
pub use dockerfile::TEMPLATE_FUEL;
pub use error::BuildError;
pub use export::{Exported, export};
pub use source::Source;
pub use tiers::{Build, NodeOutputs, Tiers, Warnings};
