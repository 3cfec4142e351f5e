//! Planning: what a command asks for ([`Plan`]) becomes the one [`Graph`] every run
//! uses, built by [`build`]; `kiln graph` draws it.

mod builder;
mod dot;
mod error;
mod json;
mod mermaid;
mod node;
mod select;
mod shape;
mod work;

pub use builder::{Graph, all_steps, build, wanted_steps};
pub use dot::to_dot;
pub use error::PlanError;
pub use json::{GRAPH_FORMAT_VERSION, to_json};
pub use mermaid::to_mermaid;
pub use node::{Node, Output};
pub use select::{Selection, flavors, goal_steps, step_targets, targets};
pub use shape::{edges, needs};
pub use work::{CleanScope, Force, Plan};
