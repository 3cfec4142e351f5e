//! kiln: a declarative workflow engine for Docker image flavors and entity checks.
//!
//! Data flows down this list, never up: [`config`] reads KDL into the [`model`];
//! [`plan`] turns the model into a dependency graph; [`cli`] wires commands to them.

pub mod build;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod docker;
pub mod engine;
pub mod hash;
pub mod model;
pub mod plan;
pub mod report;
pub mod watch;
pub mod work;
pub mod workflow;
