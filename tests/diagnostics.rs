//! Snapshot tests of the rendered diagnostics for broken configurations: each folder of
//! `tests/fixtures/broken/` is a workspace with one kind of error (or, for
//! `many_errors`, several), and `kiln validate` must report it with the right file,
//! line, column, label and help, and exit with code 2.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken")
}

/// Runs `kiln validate` on a fixture and returns its stderr.
fn validate(case: &str) -> String {
    let output = Command::cargo_bin("kiln")
        .unwrap()
        .args(["--color", "never", "validate", "--workspace"])
        .arg(fixtures().join(case))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{case}: configuration errors exit with 2; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "{case}: nothing on stdout");
    String::from_utf8(output.stderr).unwrap()
}

macro_rules! broken {
    ($($case:ident),* $(,)?) => {
        /// Every fixture folder has a test below.
        const CASES: &[&str] = &[$(stringify!($case)),*];
        $(
            #[test]
            fn $case() {
                let stderr = validate(stringify!($case));
                insta::assert_snapshot!(stringify!($case), stderr);
            }
        )*
    };
}

broken! {
    syntax_error,
    unknown_node,
    unknown_property,
    wrong_type,
    missing_value,
    unexpected_argument,
    duplicate_step,
    duplicate_arg,
    duplicate_goal,
    duplicate_flavor,
    duplicate_workflow,
    unknown_step,
    cycle,
    extends_unknown,
    extends_cycle,
    context_missing,
    dockerfile_missing,
    include_missing,
    path_escapes_dotdot,
    path_escapes_symlink,
    invalid_value,
    workflow_references,
    many_errors,
    check_missing_parts,
}

#[test]
fn every_fixture_has_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(dirs, cases);
}

#[test]
fn many_errors_are_reported_at_once_across_files() {
    let stderr = validate("many_errors");
    for file in ["kiln.kdl", "flavors/a/flavor.kdl", "workflows/ci.kdl"] {
        assert!(
            stderr.contains(&format!("[{file}:")),
            "{file} is reported:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("configuration errors in the workspace"),
        "{stderr}"
    );
}
