//! Entity checks: discover the entities of a data repository, run each in its
//! environment container, classify and keep the results.

pub mod ackrep;
pub mod artifacts;
pub mod backend;
pub mod cache;
pub mod docker;
pub mod entity;
pub mod error;
pub mod fields;
pub mod inputs;
pub mod merge;
pub mod outcome;
pub mod partition;
pub mod remote;
pub mod results;
pub mod runner;
pub mod template;
pub mod transfer;

pub use backend::Backend;
pub use entity::{Entity, discover};
pub use error::CheckError;
pub use runner::{
    CheckOptions, CheckRunner, EntityTask, PlannedEntity, Recorded, environment_of, environments,
};
