//! Running a plan's graph: the one executor every command uses. It dispatches each
//! [`Node`](crate::plan::Node) to the part that does the work — the builder, the check
//! runner, the image tasks — and never decides what to run next (the engine does).

mod executor;

pub use executor::Executor;
