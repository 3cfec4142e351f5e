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
    too_deep,
    dockerfile_mistakes,
    check_template_names,
    check_entity_fields,
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

#[test]
fn thousands_of_duplicate_settings_are_reported_in_seconds() {
    // Drawing each diagnostic reads the file up to its span: 20,000 duplicates of one
    // setting took 83 s (debug build) and 9 MB of them minutes; the first 100 are shown.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kiln.kdl"), "jobs 4\n".repeat(20_000)).unwrap();
    let output = Command::cargo_bin("kiln")
        .unwrap()
        .args(["--color", "never", "validate", "--workspace"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("19899 more configuration errors not shown"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 19999 configuration errors in the workspace"),
        "{stderr}"
    );
}

#[test]
fn graph_with_a_flavor_pattern_nested_too_deep_is_a_diagnostic_not_a_panic() {
    let mut glob = "a".to_owned();
    for _ in 0..160 {
        glob = format!("{{a,{glob}}}");
    }
    let output = Command::cargo_bin("kiln")
        .unwrap()
        .args([
            "--color",
            "never",
            "graph",
            "--flavor",
            &glob,
            "--workspace",
        ])
        .arg(fixtures().join("../../.."))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("kiln::plan::unknown_flavor"), "{stderr}");
    assert!(stderr.contains("nest 160 deep"), "{stderr}");
}

/// A mistake past column 65,535 of a Dockerfile (or any file a diagnostic quotes) made
/// miette's renderer panic (exit 101): such a diagnostic is drawn without its source,
/// naming the line and column.
#[test]
fn a_dockerfile_mistake_too_wide_to_draw_is_named_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flavors/f/s")).unwrap();
    std::fs::write(dir.path().join("kiln.kdl"), "repository \"kiln-wide\"\n").unwrap();
    std::fs::write(
        dir.path().join("flavors/f/flavor.kdl"),
        "flavor \"f\" {\n    step \"s\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flavors/f/s/Dockerfile"),
        format!("FROM scratch\nCOPY {}missing.txt /x\n", " ".repeat(70_000)),
    )
    .unwrap();
    // `validate` reports it as such; a build's preflight as a related diagnostic.
    for command in ["validate", "build"] {
        let output = Command::cargo_bin("kiln")
            .unwrap()
            .args(["--color", "never", command, "--workspace"])
            .arg(dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "{command}: {stderr}");
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        assert!(
            stderr.contains("kiln::build::copy_source_missing"),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("at line 2, column 70006: too wide to show"),
            "{command}: {stderr}"
        );
    }
}
