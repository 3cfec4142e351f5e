//! Watch mode's parts: what to watch, what a cycle compares, and storm detection. The
//! loop itself is `kiln watch` (src/cli/watch.rs).

pub mod inputs;
pub mod state;
pub mod storm;

pub use inputs::{Inputs, is_config};
pub use state::{State, changed, state};
pub use storm::Storm;
