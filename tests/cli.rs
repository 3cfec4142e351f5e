//! The command line against the repository's own example workspace.

mod common;

use assert_cmd::Command;
use common::{examples, workspace};
use predicates::prelude::*;

fn kiln() -> Command {
    let mut cmd = Command::cargo_bin("kiln").unwrap();
    cmd.current_dir(examples())
        .env_remove("RUST_LOG")
        .env_remove("KILN_WORKSPACE");
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The 14 edges of EXASLCT's standard flavor, dependency → dependent.
const SLC_EDGES: &[(&str, &str)] = &[
    ("udfclient_deps", "language_deps"),
    ("language_deps", "build_run"),
    ("language_deps", "flavor_base_deps"),
    ("build_deps", "build_run"),
    ("build_deps", "base_test_deps"),
    ("base_test_deps", "base_test_build_run"),
    ("language_deps", "base_test_build_run"),
    ("flavor_base_deps", "flavor_customization"),
    ("base_test_build_run", "flavor_test_build_run"),
    ("flavor_customization", "flavor_test_build_run"),
    ("flavor_customization", "release"),
    ("flavor_base_deps", "release"),
    ("build_run", "release"),
    ("release", "security_scan"),
];

#[test]
fn the_examples_validate() {
    kiln()
        .arg("validate")
        .assert()
        .success()
        .stdout(predicate::str::contains("is valid: 3 flavors"));
}

#[test]
fn graph_dot_of_the_exaslct_shaped_flavor_has_exactly_its_steps_and_edges() {
    let dot = stdout(kiln().args(["graph", "--flavor", "slc", "--all-steps", "--format", "dot"]));
    let mut nodes: Vec<String> = dot
        .lines()
        .filter(|l| l.contains("[label="))
        .map(|l| l.trim().split('"').nth(1).unwrap().to_string())
        .collect();
    nodes.sort();
    let mut expected_nodes: Vec<String> = SLC_EDGES
        .iter()
        .flat_map(|(a, b)| [a, b])
        .map(|s| format!("slc/{s}"))
        .collect();
    expected_nodes.sort();
    expected_nodes.dedup();
    assert_eq!(expected_nodes.len(), 11);
    assert_eq!(nodes, expected_nodes);

    let mut edges: Vec<String> = dot
        .lines()
        .filter(|l| l.contains(" -> "))
        .map(|l| l.trim().to_string())
        .collect();
    edges.sort();
    let mut expected: Vec<String> = SLC_EDGES
        .iter()
        .map(|(a, b)| format!("\"slc/{a}\" -> \"slc/{b}\";"))
        .collect();
    expected.sort();
    assert_eq!(edges, expected);
}

#[test]
fn default_goals_of_the_exaslct_shaped_flavor() {
    let json = stdout(kiln().args(["graph", "--flavor", "slc", "--format", "json"]));
    let graph: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        10,
        "release, base_test_build_run and flavor_test_build_run need all but security_scan"
    );
    assert!(!ids.contains(&"slc/security_scan"));
}

#[test]
fn graph_json_is_stable() {
    let first = stdout(kiln().args([
        "graph",
        "--flavor",
        "slc",
        "--all-steps",
        "--format",
        "json",
    ]));
    let second = stdout(kiln().args(["graph", "--format", "json", "--all-steps", "-f", "slc"]));
    assert_eq!(first, second);
    insta::assert_snapshot!("graph_json_slc", first);
}

#[test]
fn graph_mermaid_lists_every_edge() {
    let mermaid = stdout(kiln().args([
        "graph",
        "--flavor",
        "slc",
        "--all-steps",
        "--format",
        "mermaid",
    ]));
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert_eq!(mermaid.matches(" --> ").count(), SLC_EDGES.len());
}

#[test]
fn list_shows_every_kind_of_declaration() {
    let out = stdout(kiln().arg("list"));
    for needle in [
        "flavors:",
        "checkenv-debug",
        "extends checkenv",
        "steps:",
        "slc/udfclient_deps",
        "goals:",
        "slc/release",
        "(default)",
        "checks:",
        "checkenv/entities",
        "workflows:",
        "ci",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
    let flavors = stdout(kiln().args(["list", "flavors"]));
    assert_eq!(flavors.lines().count(), 3, "{flavors}");
}

#[test]
fn the_workspace_is_found_from_a_subfolder() {
    kiln()
        .current_dir(examples().join("flavors/slc/release"))
        .arg("validate")
        .assert()
        .success();
}

#[test]
fn no_workspace_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    kiln()
        .current_dir(empty.path())
        .args(["--color", "never", "validate"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no kiln workspace at or above"))
        .stderr(predicate::str::contains("--workspace DIR"));
}

#[test]
fn unknown_flavor_on_the_command_line_suggests_the_closest() {
    kiln()
        .args(["--color", "never", "graph", "--flavor", "checkenv-debgu"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no flavor matches `checkenv-debgu`",
        ))
        .stderr(predicate::str::contains("did you mean `checkenv-debug`?"));
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let dir = workspace(&[("flavors/a/flavor.kdl", "flavor \"a\" { stpe \"x\"; }\n")]);
    let colored = kiln()
        .args(["--color", "always", "validate", "--workspace"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&colored.stderr).contains('\u{1b}'),
        "--color always colours"
    );
    let plain = kiln()
        .env("NO_COLOR", "1")
        .args(["validate", "--workspace"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "NO_COLOR disables colour: {stderr}"
    );
    assert!(stderr.contains("did you mean `step`?"), "{stderr}");
}

/// A workspace whose check runs `run` on two entities, `heat` without a `grid` field.
fn field_workspace(run: &str) -> tempfile::TempDir {
    let flavor = format!(
        "flavor \"env\" {{\n    step \"base\"\n    check \"models\" {{\n        image \"base\"\n        entities \"data/*/metadata.yml\"\n        run \"sh\" \"-c\" \"{run}\"\n    }}\n}}\n"
    );
    workspace(&[
        ("flavors/env/flavor.kdl", &flavor),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
        ("data/lorenz/metadata.yml", "key: lorenz\ngrid: fine\n"),
        ("data/heat/metadata.yml", "key: heat\n"),
    ])
}

/// `{{ entity.dri }}` fails only when an entity runs; `kiln validate` and `kiln plan`
/// say so first, at the name, with the field meant.
#[test]
fn validate_and_plan_report_a_field_no_entity_has_at_its_name() {
    let dir = field_workspace("cd {{ entity.dri }} && ./run.sh");
    for command in ["validate", "plan"] {
        let output = kiln()
            .args(["--color", "never", command, "--workspace"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        for needle in [
            "kiln::check::undefined_field",
            "uses `entity.dri`, a field no entity has",
            "[flavors/env/flavor.kdl:6:37]",
            "none of the 2 entities has `dri`",
            "did you mean `entity.dir`?",
            "error: 1 problem in check templates; nothing was run",
        ] {
            assert!(
                stderr.contains(needle),
                "{command}: `{needle}` in:\n{stderr}"
            );
        }
        // The label's underline is under `dri`, and only there.
        let source = stderr.lines().find(|l| l.contains("run \"sh\"")).unwrap();
        let underline = stderr
            .lines()
            .skip_while(|l| !l.contains("run \"sh\""))
            .nth(1)
            .unwrap();
        let column = underline.chars().position(|c| c == '─').unwrap();
        let width = underline.chars().filter(|c| "─┬".contains(*c)).count();
        let underlined: String = source.chars().skip(column).take(width).collect();
        assert_eq!(underlined, "dri", "{stderr}");
    }
}

#[test]
fn a_field_some_entities_lack_is_a_warning_and_validate_passes() {
    let dir = field_workspace("./run.sh {{ entity.grid }}");
    let output = kiln()
        .args(["--color", "never", "validate", "--workspace"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("kiln::check::field_missing") && stderr.contains("`heat` would fail"),
        "{stderr}"
    );
    let quiet = kiln()
        .args(["-q", "validate", "--workspace"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        quiet.stderr.is_empty() && quiet.stdout.is_empty(),
        "{quiet:?}"
    );
}

#[test]
fn quiet_validate_prints_nothing() {
    kiln()
        .args(["-q", "validate"])
        .assert()
        .success()
        .stdout("");
}

/// A typo on the command line is a usage error (exit 2) with a suggestion, before
/// anything is built or run; it never does nothing and succeeds.
#[test]
fn mistyped_command_line_values_are_refused_before_anything_runs() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["check", "spring_mas"],
            &[
                "kiln::cli::unknown_entity",
                "no entity of the selected checks has the key `spring_mas`",
                "did you mean `spring_mass`?",
            ],
        ),
        (
            &["build", "--flavor", "slc", "--force-rebuild-from", "relase"],
            &[
                "kiln::plan::unknown_step",
                "no planned step is named `relase`",
                "did you mean `release`?",
            ],
        ),
        (
            &["plan", "--force-rebuild-from", "nope"],
            &[
                "kiln::plan::unknown_step",
                "expected one of the planned steps",
            ],
        ),
        (
            &["build", "-j", "0"],
            &["the job limit is between 1 and 1024"],
        ),
        (
            &["check", "--user", "nobody"],
            &["expected UID or UID:GID as numbers"],
        ),
        (
            &["push", "--flavor", "slc"],
            &["kiln::cli::no_registry", "`kiln push` needs a registry"],
        ),
        (
            &["export", "--output", "/proc/kiln-test/out"],
            &["kiln::cli::output_folder", "`/proc/kiln-test/out`"],
        ),
        (
            &["watch", "sc"],
            &["kiln::workflow::unknown", "no workflow named `sc`"],
        ),
    ];
    for (args, expected) in cases {
        let output = kiln()
            .args(["--color", "never"])
            .args(*args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "kiln {args:?}: {stderr}");
        for text in *expected {
            assert!(
                stderr.contains(text),
                "kiln {args:?} should say {text:?}: {stderr}"
            );
        }
    }
}

/// A job-dir that cannot be created is named in the error (it used to be a bare
/// "cannot write output: File exists").
#[test]
fn an_unusable_job_dir_is_named() {
    let dir = workspace(&[
        ("kiln.kdl", "job-dir \"jobs\"\n"),
        ("jobs", "a file where the folder should be"),
        (
            "flavors/f/flavor.kdl",
            "flavor \"f\" {\n    step \"s\"\n}\n",
        ),
        ("flavors/f/s/Dockerfile", "FROM scratch\n"),
    ]);
    let output = Command::cargo_bin("kiln")
        .unwrap()
        .arg("--workspace")
        .arg(dir.path())
        .args(["build"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kiln::cli::job_record") && stderr.contains("jobs"),
        "{stderr}"
    );
}

#[test]
fn completions_and_the_man_page_need_no_workspace() {
    let nowhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("kiln").unwrap();
        cmd.current_dir(nowhere.path())
            .env_remove("KILN_WORKSPACE")
            .args(args);
        stdout(&mut cmd)
    };
    for (shell, marker) in [
        ("bash", "complete -F _kiln"),
        ("zsh", "#compdef kiln"),
        ("fish", "complete -c kiln"),
    ] {
        let script = run(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["build", "validate", "shortcut", "force-rebuild-from"] {
            assert!(script.contains(word), "{shell} completes `{word}`");
        }
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH kiln 1"), "{man}");
    for command in ["validate", "build", "completions"] {
        assert!(man.contains(command), "the man page lists `{command}`");
    }
    // An unknown shell is a usage error naming the ones there are.
    kiln()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bash"));
}

#[test]
fn results_of_an_unknown_key_is_a_usage_error_with_a_did_you_mean() {
    kiln()
        .args(["results", "hell"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("kiln::cli::unknown_entity"))
        .stderr(predicate::str::contains("did you mean `hello`?"));
}

#[test]
fn an_unknown_check_name_is_a_usage_error_with_a_did_you_mean() {
    kiln()
        .args(["check", "--check", "entitis"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("kiln::cli::unknown_check"))
        .stderr(predicate::str::contains("did you mean `entities`?"));
}
