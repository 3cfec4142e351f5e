//! The typed model that configuration decodes into. Every user-written value keeps
//! its source location.

mod check;
mod flavor;
mod ids;
mod loc;
mod settings;
mod source;
mod step;
mod workflow;
mod workspace;

pub use check::{Check, EntitySource, EnvironmentCase, EnvironmentSelect, Filter, Mount, Outcome};
pub use flavor::{Flavor, Goal};
pub use ids::{CheckId, EntityId, StepId};
pub use loc::{Loc, SourceId, Spanned};
pub use settings::{
    BuilderChoice, DEFAULT_CACHE_DIR, DEFAULT_JOB_DIR, DEFAULT_REPOSITORY, Settings, Signing,
    resolved,
};
pub use source::{SourceFile, Sources, display_path};
pub use step::{ArgValue, BuildArg, Include, IncludeOrigin, Secret, SecretSource, Step};
pub use workflow::{Param, ReportOutputs, Task, TaskKind, Workflow};
pub use workspace::Workspace;
