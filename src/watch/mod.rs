//! Watch mode's parts, as its loop uses them: collect what changed ([`Changes`]),
//! decide what to do ([`decide`], [`Storm`]), with what a cycle compares ([`State`])
//! and what is watched ([`Inputs`]). Applying the decisions — running a cycle and
//! saying what happened — is `kiln watch` (src/cli/watch.rs).

pub mod changes;
pub mod decide;
pub mod inputs;
pub mod state;
pub mod storm;

pub use changes::Changes;
pub use decide::{Decision, decide, supersedes};
pub use inputs::{Inputs, is_config};
pub use state::{State, changed, state};
pub use storm::Storm;
