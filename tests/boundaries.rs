//! Paths that would reach past the workspace, and mounts of the daemon's socket, are
//! configuration errors unless kiln.kdl allows them.

mod common;

use common::{error_codes, workspace};

const FLAVOR: &str = "flavors/f/flavor.kdl";

fn check_with(entities: &str, mount: &str) -> String {
    format!(
        "flavor \"f\" {{\n    step \"a\"\n    check \"c\" {{\n        image \"a\"\n        entities \"{entities}\"\n        {mount}\n        run \"true\"\n    }}\n}}\n"
    )
}

#[test]
fn an_entities_glob_leaving_the_workspace_is_refused_unless_allowed() {
    let flavor = check_with("../../*/metadata.yml", "");
    let refused = workspace(&[
        (FLAVOR, &flavor),
        ("flavors/f/a/Dockerfile", "FROM scratch\n"),
    ]);
    assert_eq!(
        error_codes(refused.path()),
        ["kiln::config::path_escapes"],
        "entities read from outside the workspace"
    );
    let absolute = check_with("/etc/*/metadata.yml", "");
    let refused = workspace(&[
        (FLAVOR, &absolute),
        ("flavors/f/a/Dockerfile", "FROM scratch\n"),
    ]);
    assert_eq!(error_codes(refused.path()), ["kiln::config::path_escapes"]);
    let allowed = workspace(&[
        ("kiln.kdl", "allow-outside-workspace #true\n"),
        (FLAVOR, &flavor),
        ("flavors/f/a/Dockerfile", "FROM scratch\n"),
    ]);
    assert!(error_codes(allowed.path()).is_empty());
}

#[test]
fn report_and_export_paths_leaving_the_workspace_are_refused() {
    let flavor = check_with("data/*/metadata.yml", "");
    let files = |workflow: &'static str| {
        workspace(&[
            (FLAVOR, &flavor),
            ("flavors/f/a/Dockerfile", "FROM scratch\n"),
            ("workflows/ci.kdl", workflow),
        ])
    };
    let report = files("workflow \"ci\" {\n    report junit=\"../../x.xml\"\n}\n");
    assert_eq!(error_codes(report.path()), ["kiln::config::path_escapes"]);
    let export = files("workflow \"ci\" {\n    export dir=\"/tmp/kiln-exported\"\n}\n");
    assert_eq!(error_codes(export.path()), ["kiln::config::path_escapes"]);
    let inside = files("workflow \"ci\" {\n    report junit=\"out/junit.xml\"\n}\n");
    assert!(error_codes(inside.path()).is_empty());
}

#[test]
fn mounting_the_daemons_socket_is_refused_unless_allowed() {
    // `/var/run` holds the default socket (whatever DOCKER_HOST says, it is one of them).
    let flavor = check_with(
        "data/*/metadata.yml",
        "mount \"/var/run\" \"/host-run\" readonly=#true",
    );
    let refused = workspace(&[
        (FLAVOR, &flavor),
        ("flavors/f/a/Dockerfile", "FROM scratch\n"),
    ]);
    let codes = error_codes(refused.path());
    assert_eq!(codes, ["kiln::config::docker_socket"]);
    let allowed = workspace(&[
        ("kiln.kdl", "allow-docker-socket #true\n"),
        (FLAVOR, &flavor),
        ("flavors/f/a/Dockerfile", "FROM scratch\n"),
    ]);
    assert!(error_codes(allowed.path()).is_empty());
}
