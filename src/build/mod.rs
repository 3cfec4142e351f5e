//! Building steps: analysis (hash, image name), Dockerfile rendering, the cache tiers and
//! the executor that runs one build node of the engine.

mod analysis;
pub mod clean;
pub mod dockerfile;
mod error;
mod executor;
pub mod export;
pub mod naming;
mod options;
mod source;
mod tiers;

pub use analysis::{Analysis, analyze};
pub use error::BuildError;
pub use executor::{BuildExecutor, BuildNode, BuildOutput, Obtain, Phase};
pub use options::BuildOptions;
pub use source::Source;
pub use tiers::{NodePaths, Tiers, Warnings};
