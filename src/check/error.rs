//! Why checking failed (as opposed to a check that ran and failed: that is a result).

use miette::Diagnostic;
use thiserror::Error;

use super::results::ResultsError;
use crate::docker::DockerError;
use crate::hash::HashError;

#[derive(Debug, Error, Diagnostic)]
pub enum CheckError {
    #[error("cannot read entity metadata `{path}`: {source}")]
    #[diagnostic(
        code(kiln::check::metadata),
        help(
            "metadata files are YAML (.yml, .yaml), JSON (.json) or KDL (.kdl) holding a map of fields"
        )
    )]
    Metadata {
        path: String,
        #[source]
        source: MetadataError,
    },

    #[error("entity metadata `{path}` has no `{field}` field")]
    #[diagnostic(
        code(kiln::check::missing_key),
        help("every entity needs a unique key in the field the check's `entities … key=` names")
    )]
    MissingKey { path: String, field: String },

    #[error("entity metadata `{path}` has an empty `{field}` field")]
    #[diagnostic(
        code(kiln::check::empty_key),
        help(
            "give the entity a key; if `{folder}` is no entity (a template, a draft), leave it out: exclude \"{folder}/**\" in the check"
        )
    )]
    EmptyKey {
        path: String,
        field: String,
        folder: String,
    },

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

    #[error("invalid glob `{glob}`")]
    #[diagnostic(code(kiln::check::glob))]
    Glob {
        glob: String,
        #[source]
        source: globset::Error,
    },

    #[error("check `{check}`: cannot use the entity glob `{glob}`")]
    #[diagnostic(code(kiln::check::entity_glob))]
    EntityGlob {
        check: String,
        glob: String,
        #[source]
        source: Box<crate::config::glob::GlobError>,
        #[help]
        help: String,
    },

    #[error("{entity}: cannot use the input glob `{glob}`")]
    #[diagnostic(code(kiln::check::input_glob))]
    InputGlob {
        entity: String,
        glob: String,
        #[source]
        source: Box<crate::config::glob::GlobError>,
        #[help]
        help: String,
    },

    #[error("{entity}: the input glob `{glob}` leaves the workspace")]
    #[diagnostic(
        code(kiln::check::input_outside),
        help(
            "an entity's `inputs` are files of the workspace: its metadata put an absolute path or `..` into the glob"
        )
    )]
    InputOutside { entity: String, glob: String },

    #[error(
        "{whose}: the {what} `{glob}` leads out of the workspace through the symlink `{link}` (to `{resolved}`)"
    )]
    #[diagnostic(
        code(kiln::check::link_outside),
        help(
            "kiln follows a symlink in a glob's folders only while it stays inside the workspace, as for a mount; copy the folder in, or let an entity glob name it by its own path (with `allow-outside-workspace #true` in kiln.kdl)"
        )
    )]
    LinkOutside {
        /// The check (entity glob) or entity (input glob) it is of.
        whose: String,
        what: &'static str,
        glob: String,
        link: String,
        resolved: String,
    },

    #[error("entity metadata `{path}` is beyond what kiln reads")]
    #[diagnostic(code(kiln::check::metadata_limit))]
    MetadataLimit {
        path: String,
        #[source]
        source: Box<crate::config::limits::LimitError>,
        #[help]
        help: String,
    },

    #[error("cannot read or write `{path}`")]
    #[diagnostic(code(kiln::check::io))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("no check `{check}` in the workspace")]
    #[diagnostic(code(kiln::check::unknown_check))]
    UnknownCheck { check: String },

    #[error("check `{check}`: cannot fill in `{template}`")]
    #[diagnostic(
        code(kiln::check::template),
        help(
            "placeholders are {{{{ entity.key }}}}, {{{{ entity.dir }}}}, {{{{ entity.host_dir }}}}, {{{{ entity.path }}}} and {{{{ entity.<metadata field> }}}}"
        )
    )]
    Template {
        check: String,
        template: String,
        #[source]
        source: minijinja::Error,
    },

    #[error("the environment image `{image}` is not in the daemon")]
    #[diagnostic(
        code(kiln::check::image_missing),
        help("something removed it while the run went on; run the check again")
    )]
    ImageMissing { image: String },

    #[error(
        "check `{check}` mounts `{source_path}`, which cannot be copied to the Docker daemon at `{address}` on another machine"
    )]
    #[diagnostic(
        code(kiln::check::mount_not_copyable),
        help(
            "with a daemon on another machine, kiln copies each mount's folder or file into the container; a socket, device or missing path cannot be copied: drop the mount, or run the checks against a daemon on this machine"
        )
    )]
    MountNotCopyable {
        check: String,
        source_path: String,
        address: String,
    },

    #[error("running entities needs a job record, and this run has none")]
    #[diagnostic(code(kiln::check::no_job_record))]
    NoJobRecord,

    #[error("{entity}: cancelled")]
    #[diagnostic(code(kiln::check::cancelled))]
    Cancelled { entity: String },

    #[error("{entity}: its environment container {container} went away while it ran")]
    #[diagnostic(
        code(kiln::check::environment_lost),
        help(
            "something removed or stopped the container (`docker rm`, `docker stop`, a daemon restart); what the entity did then says nothing about it, so no result was kept: run it again"
        )
    )]
    EnvironmentLost { entity: String, container: String },

    #[error("hashing the entity folder `{path}` failed")]
    #[diagnostic(code(kiln::check::entity_hash))]
    EntityHash {
        path: String,
        #[source]
        source: HashError,
    },

    #[error("a background task of `{entity}` did not finish")]
    #[diagnostic(code(kiln::check::task))]
    Task {
        entity: String,
        #[source]
        source: tokio::task::JoinError,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Results(#[from] ResultsError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    /// A shared result that fails verification, where kiln.kdl requires signatures.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] crate::cache::CacheError),
}

/// Why an entity's metadata file could not be read.
#[derive(Debug, Error)]
pub enum MetadataError {
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error(transparent)]
    Yaml(#[from] serde_yaml_ng::Error),

    #[error(transparent)]
    Json(#[from] serde_json::Error),

    #[error(transparent)]
    Kdl(#[from] kdl::KdlError),

    /// It parsed, but is not a map of fields.
    #[error("the document is not {0}")]
    NotAMap(&'static str),

    #[error("unknown metadata format `.{0}`")]
    UnknownFormat(String),
}

/// Why a fetched result's artifacts tar is not unpacked. kiln packs regular files with
/// plain relative names, each once, within caps ([`super::remote::pack`]); a tar holding
/// anything else was not made that way, and its result is not used (the entity runs).
#[derive(Debug, Error, Diagnostic)]
pub enum FetchedArtifactsError {
    #[error("the artifacts tar cannot be read")]
    #[diagnostic(code(kiln::check::fetched_tar))]
    Unreadable(#[source] std::io::Error),

    #[error("the artifacts tar names `{name}`, which is not a plain relative path")]
    #[diagnostic(code(kiln::check::fetched_path))]
    Path { name: String },

    #[error("the artifacts tar holds `{name}` as {kind}, not as a regular file")]
    #[diagnostic(code(kiln::check::fetched_entry))]
    NotAFile { name: String, kind: String },

    #[error(
        "the artifacts tar holds `{name}` after `{other}`, which no folder holds both of (one name twice, or a file where a folder is)"
    )]
    #[diagnostic(code(kiln::check::fetched_clash))]
    Clash { name: String, other: String },

    #[error("the artifacts tar holds more than {limit} entries")]
    #[diagnostic(code(kiln::check::fetched_limit))]
    TooMany { limit: usize },

    #[error("the artifacts tar holds more than {limit} bytes of files")]
    #[diagnostic(code(kiln::check::fetched_limit))]
    TooLarge { limit: u64 },

    #[error("the artifacts tar ends inside `{name}`")]
    #[diagnostic(code(kiln::check::fetched_tar))]
    Truncated { name: String },

    #[error("cannot write the fetched artifact `{path}`")]
    #[diagnostic(code(kiln::check::fetched_write))]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
