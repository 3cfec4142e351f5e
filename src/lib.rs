//! kiln: a declarative workflow engine for Docker image flavors and entity checks.
//!
//! The modules, lowest layer first. A module uses only modules listed above it (a test,
//! `tests/layering.rs`, reads the `crate::` paths of `src/` and enforces it;
//! docs/architecture.md draws the same list).

// Leaves: plain data and the hands that touch the outside world.
/// Signatures over what shared cache tiers hold: keys, signed statements, a run's trust.
pub mod signing;
/// The typed model: workspace, flavors, steps, checks, workflows, ids.
pub mod model;
/// Content hashes of build contexts and step inputs; deterministic tars.
pub mod hash;
/// Every Docker daemon call, through bollard.
pub mod docker;
/// The generic scheduler: run graph, executor trait, fork-join, events.
pub mod engine;
/// The job record: a run's folder of logs, manifests, events and summary.
pub mod job;
/// Both cache ladders: images (daemon, file cache, registry) and entity results (this
/// machine, registry), each over one tier interface.
pub mod cache;
// The language.
/// KDL files → the model, every error at once.
pub mod config;
// What the nodes do.
/// One step's image: analysis, tiers, builder; save, push, export, clean.
pub mod build;
/// Entity checks: discovery, templating, classification and recording, over a backend
/// (Docker: environment containers) where commands run.
pub mod check;
/// Why a step's image would be built, or an entity would run: its inputs now against
/// earlier ones.
pub mod explain;
/// What a workspace keeps within a budget: file cache, job records, history, images.
pub mod gc;
// One path for every command.
/// What a command asks for (`Plan`) → the one graph (`plan::build`).
pub mod plan;
/// Workflows by name → a `Plan`.
pub mod workflow;
/// The one executor of every run.
pub mod run;
/// Listeners of a run's events: summary, job record, JSON lines, report files.
pub mod report;
/// Watch mode's parts: what to watch, what a cycle compares.
pub mod watch;
/// The command line.
pub mod cli;
