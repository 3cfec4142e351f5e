//! Runs that combine kinds of work in one graph: building the environment images and
//! checking entities in them (and, with workflows, more).

mod executor;
mod graph;
mod node;
mod plan;

pub use executor::WorkExecutor;
pub use graph::{WorkGraph, wanted_steps, work_graph};
pub use node::{WorkNode, WorkOutput};
pub use plan::WorkPlan;
