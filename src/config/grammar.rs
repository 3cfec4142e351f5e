//! The names of every node the language knows, per place in a document. The decoders
//! reject anything else, and `tests/schema_drift.rs` checks that `schema/*.kdl` lists
//! exactly these names.

/// Top level of `kiln.kdl`.
pub const SETTINGS: &[&str] = &[
    "registry",
    "repository",
    "cache-dir",
    "job-dir",
    "jobs",
    "allow-outside-workspace",
    "allow-docker-socket",
    "builder",
    "gc",
    "signing",
];
/// Inside `signing` of `kiln.kdl`.
pub const SIGNING: &[&str] = &["trust", "key-file", "require-signed"];

/// Top level of `flavors/<name>/flavor.kdl`.
pub const FLAVOR_FILE: &[&str] = &["flavor"];
/// Inside `flavor`.
pub const FLAVOR: &[&str] = &[
    "description",
    "step-folders",
    "build-info",
    "step",
    "goal",
    "check",
];
/// Inside `step`.
pub const STEP: &[&str] = &[
    "description",
    "context",
    "dockerfile",
    "needs",
    "include",
    "arg",
    "ignore",
    "secret",
];
/// Inside `goal`.
pub const GOAL: &[&str] = &["description", "steps"];
/// Inside `check`.
pub const CHECK: &[&str] = &[
    "description",
    "image",
    "entities",
    "filter",
    "environment",
    "run",
    "env",
    "mount",
    "workdir",
    "timeout",
    "outcome",
    "artifacts",
    "exclude",
    "inputs",
];
/// Inside `check { environment }`.
pub const ENVIRONMENT: &[&str] = &["when"];

/// Top level of `workflows/<name>.kdl`.
pub const WORKFLOW_FILE: &[&str] = &["workflow"];
/// Inside `workflow`.
pub const WORKFLOW: &[&str] = &[
    "description",
    "param",
    "build",
    "check",
    "save",
    "push",
    "export",
    "clean",
    "report",
];

/// Every node path of the language, `/`-separated and prefixed with the file kind
/// (`settings`, `flavor-file`, `workflow-file`), e.g. `flavor-file/flavor/step/needs`.
pub fn node_paths() -> std::collections::BTreeSet<String> {
    let mut paths = std::collections::BTreeSet::new();
    let mut add = |prefix: &str, names: &[&str]| {
        for name in names {
            paths.insert(format!("{prefix}/{name}"));
        }
    };
    add("settings", SETTINGS);
    add("settings/signing", SIGNING);
    add("flavor-file", FLAVOR_FILE);
    add("flavor-file/flavor", FLAVOR);
    add("flavor-file/flavor/step", STEP);
    add("flavor-file/flavor/goal", GOAL);
    add("flavor-file/flavor/check", CHECK);
    add("flavor-file/flavor/check/environment", ENVIRONMENT);
    add("workflow-file", WORKFLOW_FILE);
    add("workflow-file/workflow", WORKFLOW);
    paths
}
