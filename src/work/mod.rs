//! Runs that combine kinds of work in one graph: building the environment images and
//! checking entities in them (and, with workflows, more).

mod executor;
mod node;

pub use executor::WorkExecutor;
pub use node::{WorkNode, WorkOutput};
