//! Why a workflow cannot run as asked.

use miette::Diagnostic;
use thiserror::Error;

use crate::plan::PlanError;

#[derive(Debug, Error, Diagnostic)]
pub enum WorkflowError {
    #[error("no workflow named `{name}`")]
    #[diagnostic(code(kiln::workflow::unknown))]
    Unknown {
        name: String,
        #[help]
        help: String,
    },

    #[error("workflow `{workflow}` has no parameter `{name}`")]
    #[diagnostic(code(kiln::workflow::unknown_parameter))]
    UnknownParameter {
        workflow: String,
        name: String,
        #[help]
        help: String,
    },

    #[error("parameter `{name}` of workflow `{workflow}` has no default and was not set")]
    #[diagnostic(
        code(kiln::workflow::missing_parameter),
        help("set it: kiln run {workflow} --set {name}=VALUE")
    )]
    MissingParameter { workflow: String, name: String },

    #[error("parameter `{name}` is set twice: `{first}` and `{second}`")]
    #[diagnostic(
        code(kiln::workflow::set_twice),
        help("give each --set NAME=VALUE once")
    )]
    SetTwice {
        name: String,
        first: String,
        second: String,
    },

    #[error("`--set {given}` is not of the form NAME=VALUE")]
    #[diagnostic(code(kiln::workflow::bad_set), help("write --set goal=release"))]
    BadSet { given: String },

    #[error("the check task of workflow `{workflow}` selects no check: {what}")]
    #[diagnostic(code(kiln::workflow::no_check))]
    NoCheck {
        workflow: String,
        what: String,
        #[help]
        help: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
}
