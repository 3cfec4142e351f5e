//! Errors choosing what to plan from the command line.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum PlanError {
    #[error("no flavor matches `{pattern}`")]
    #[diagnostic(code(kiln::plan::unknown_flavor))]
    UnknownFlavor {
        pattern: String,
        #[help]
        help: String,
    },

    #[error("invalid flavor pattern `{pattern}`: {}", source.kind())]
    #[diagnostic(
        code(kiln::plan::invalid_pattern),
        help("name a flavor, or match several with a glob such as \"*\" or \"sci-*\"")
    )]
    InvalidPattern {
        pattern: String,
        #[source]
        source: globset::Error,
    },

    #[error("no selected flavor has a goal or step `{goal}`")]
    #[diagnostic(code(kiln::plan::unknown_goal))]
    UnknownGoal {
        goal: String,
        #[help]
        help: String,
    },

    #[error("flavor `{flavor}` has no goal or step `{goal}`")]
    #[diagnostic(code(kiln::plan::missing_goal))]
    MissingGoal {
        flavor: String,
        goal: String,
        #[help]
        help: String,
    },

    #[error("no planned step is named `{step}`")]
    #[diagnostic(code(kiln::plan::unknown_step))]
    UnknownStep {
        step: String,
        #[help]
        help: String,
    },
}
