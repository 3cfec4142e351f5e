//! Why checking failed (as opposed to a check that ran and failed: that is a result).

use miette::Diagnostic;
use thiserror::Error;

use crate::docker::DockerError;

#[derive(Debug, Error, Diagnostic)]
pub enum CheckError {
    #[error("cannot read entity metadata `{path}`: {reason}")]
    #[diagnostic(
        code(kiln::check::metadata),
        help(
            "metadata files are YAML (.yml, .yaml), JSON (.json) or KDL (.kdl) holding a map of fields"
        )
    )]
    Metadata { path: String, reason: String },

    #[error("entity metadata `{path}` has no `{field}` field")]
    #[diagnostic(
        code(kiln::check::missing_key),
        help("every entity needs a unique key in the field the check's `entities … key=` names")
    )]
    MissingKey { path: String, field: String },

    #[error("`{path}`: the entity key {key:?} cannot be used: {reason}")]
    #[diagnostic(
        code(kiln::check::bad_key),
        help(
            "keys name the entity's logs and artifacts in the job record; use a plain name such as `UXMFA` or `lorenz`"
        )
    )]
    BadKey {
        path: String,
        key: String,
        reason: &'static str,
    },

    #[error("two entities have the key `{key}`: `{first}` and `{second}`")]
    #[diagnostic(
        code(kiln::check::duplicate_key),
        help("entity keys must be unique; change one of them")
    )]
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },

    #[error("invalid entity glob `{glob}`: {reason}")]
    #[diagnostic(code(kiln::check::glob))]
    Glob { glob: String, reason: String },

    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(kiln::check::io))]
    Io { path: String, reason: String },

    #[error("check `{check}`: {reason}")]
    #[diagnostic(
        code(kiln::check::template),
        help(
            "placeholders are {{{{ entity.key }}}}, {{{{ entity.dir }}}}, {{{{ entity.host_dir }}}}, {{{{ entity.path }}}} and {{{{ entity.<metadata field> }}}}"
        )
    )]
    Template { check: String, reason: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}
