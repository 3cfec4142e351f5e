//! `kiln run` against the real daemon: a workflow's tasks as one graph.

mod common;

use std::collections::BTreeMap;

use common::docker::Registry;
use common::sandbox::{Kiln, copy_dir, text};

fn workspace(test: &str, registry: Option<&str>) -> Kiln {
    let kiln = Kiln::new(test, &["slc", "checkenv", "checkenv-debug"], registry);
    copy_dir(&common::examples().join("data"), &kiln.path("data"));
    copy_dir(
        &common::examples().join("workflows"),
        &kiln.path("workflows"),
    );
    for entry in std::fs::read_dir(kiln.path("data/entities")).unwrap() {
        let _ = std::fs::remove_dir_all(entry.unwrap().path().join("_data"));
    }
    kiln
}

/// How many times each node started, from the job record's events.
fn started_nodes(job: &std::path::Path) -> BTreeMap<String, usize> {
    let events = std::fs::read_to_string(job.join("events.jsonl")).unwrap();
    let mut starts = BTreeMap::new();
    for line in events.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["kind"] == "started" {
            *starts
                .entry(event["id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    starts
}

#[test]
fn ci_builds_checks_and_reports_in_one_graph() {
    let kiln = workspace("run-ci", None);
    let output = kiln
        .command()
        .args(["run", "ci", "-j", "2"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "the example's failing entities fail the run: {}",
        text(&output)
    );
    let job = kiln.jobs().pop().unwrap();
    assert!(
        job.to_string_lossy().ends_with("-run-ci"),
        "{}",
        job.display()
    );
    let starts = started_nodes(&job);
    assert!(
        starts.values().all(|n| *n == 1),
        "no node ran twice: {starts:?}"
    );
    // checkenv/release is both a build target and the check's environment: one node.
    assert_eq!(starts.get("checkenv/release"), Some(&1), "{starts:?}");
    assert!(starts.contains_key("slc/release"), "{starts:?}");
    assert!(
        starts.contains_key("checkenv/entities:discover"),
        "{starts:?}"
    );
    assert_eq!(
        starts
            .keys()
            .filter(|k| k.starts_with("checkenv/entities/"))
            .count(),
        8,
        "{starts:?}"
    );
    // The report files are written by a listener of the run's events, not by a node.
    assert!(!starts.contains_key("report"), "{starts:?}");

    let junit = std::fs::read_to_string(kiln.path("reports/junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 8, "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 3, "{junit}");
    assert!(
        junit.contains("errors=\"0\"") && junit.contains("timestamp=\""),
        "{junit}"
    );
    assert_valid_junit(&kiln.path("reports/junit.xml"));
    // The HTML page, its text with the entities escaping turned back.
    let html = std::fs::read_to_string(kiln.path("reports/index.html"))
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        html.contains("slc/release") && html.contains("slow_solver"),
        "{html}"
    );
    // A timeline bar for each node that ran, coloured by its result; the checks table
    // with a row, a history mark and a log link per entity.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(job.join("summary.json")).unwrap()).unwrap();
    let ran = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["started_ms"].is_u64())
        .count();
    assert_eq!(html.matches("<rect class=\"bar ").count(), ran, "{html}");
    assert!(html.contains("<rect class=\"bar timeout\""), "{html}");
    assert_eq!(html.matches("<span class=\"mark ").count(), 8, "{html}");
    assert_eq!(html.matches(">log</a>").count(), 8, "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained: {html}"
    );

    // --set overrides a parameter's default.
    let output = kiln
        .command()
        .args(["run", "ci", "--set", "goal=base_test_build_run", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let starts = started_nodes(&kiln.jobs().pop().unwrap());
    assert!(starts.contains_key("slc/base_test_build_run"), "{starts:?}");
    // --json: node events, then one line per entity with its class.
    let classes: BTreeMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let r = v.get("result")?;
            Some((
                r["key"].as_str()?.to_owned(),
                r["class"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert_eq!(classes.len(), 8, "{classes:?}");
    assert_eq!(classes["slow_solver"], "timeout");
    assert!(!starts.contains_key("slc/release"), "{starts:?}");
}

#[test]
fn release_saves_pushes_and_exports() {
    let registry = Registry::start();
    let kiln = workspace("run-release", Some(&registry.address));
    let output = kiln.command().args(["run", "release"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("saved") && stderr.contains("pushed") && stderr.contains("exported"),
        "{stderr}"
    );
    let exports: Vec<String> = std::fs::read_dir(kiln.path("exports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("slc-release_") && e.ends_with(".tar.gz")),
        "{exports:?}"
    );
    // The pushed image is what a fresh daemon would pull: the plan says so once the
    // local copies are gone.
    std::fs::remove_dir_all(kiln.path(".kiln/cache")).unwrap();
    kiln.ok(&["clean", "--all"]);
    let output = kiln.ok(&["plan", "--flavor", "slc", "--goal", "release", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let release = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "slc/release")
        .unwrap();
    assert_eq!(release["source"], "registry", "{plan}");
}

#[test]
fn unknown_workflows_and_parameters_are_usage_errors() {
    let kiln = workspace("run-unknown", None);
    let output = kiln.command().args(["run", "releas"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kiln::workflow::unknown") && stderr.contains("did you mean `release`?"),
        "{stderr}"
    );
    let output = kiln
        .command()
        .args(["run", "ci", "--set", "gaol=x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("did you mean `goal`?"));
    let output = kiln
        .command()
        .args(["run", "ci", "--set", "goal=a", "--set", "goal=b"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("kiln::workflow::set_twice"));
    // A workflow that pushes, in a workspace without a registry.
    let output = kiln.command().args(["run", "release"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kiln::cli::no_registry")
            && stderr.contains("a `push` task needs a registry"),
        "{stderr}"
    );
    // A check task whose flavor comes from a parameter, set to a flavor without it.
    std::fs::write(
        kiln.path("workflows/probe.kdl"),
        "workflow \"probe\" {\n    param \"fl\"\n    check flavor=\"{{ fl }}\" name=\"entities\"\n}\n",
    )
    .unwrap();
    let output = kiln
        .command()
        .args(["run", "probe", "--set", "fl=slc"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kiln::workflow::no_check")
            && stderr.contains("matching `slc`")
            && stderr.contains("`entities`"),
        "{stderr}"
    );
    assert!(kiln.jobs().is_empty(), "nothing ran");
}

/// A failed build still gets its report, naming what was not done; the report of an
/// earlier run is replaced, never left to be mistaken for this one.
#[test]
fn a_failed_build_still_writes_the_report() {
    let kiln = Kiln::new("run-report-fail", &["checkenv", "checkenv-debug"], None);
    std::fs::create_dir_all(kiln.path("data")).unwrap();
    let dockerfile = kiln.path("flavors/checkenv-debug/release/Dockerfile");
    let original = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        format!("{original}RUN [\"/bin/busybox\", \"false\"]\n"),
    )
    .unwrap();
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/images.kdl"),
        "workflow \"images\" {\n    build flavor=\"checkenv*\"\n    report junit=\"reports/junit.xml\" json=\"reports/run.json\"\n}\n",
    )
    .unwrap();
    std::fs::create_dir_all(kiln.path("reports")).unwrap();
    std::fs::write(kiln.path("reports/junit.xml"), "an older run's report").unwrap();

    let output = kiln.command().args(["run", "images"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let junit = std::fs::read_to_string(kiln.path("reports/junit.xml")).unwrap();
    // The failed build is an error; what never ran after it is skipped, not failed.
    assert!(
        junit.contains("<testcase name=\"checkenv-debug/release")
            && junit.contains("<error message=\"failed: ")
            && junit.contains("type=\"not-done\""),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert_valid_junit(&kiln.path("reports/junit.xml"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kiln.path("reports/run.json")).unwrap())
            .unwrap();
    let not_done: Vec<&str> = json["not_done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert!(
        not_done
            .iter()
            .any(|n| n.starts_with("checkenv-debug/release")),
        "{not_done:?}"
    );
    assert!(
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "checkenv/release"),
        "what did succeed is reported too: {json}"
    );
}

/// The schema the reports are checked against refuses what Jenkins refuses: a
/// `skipped` count on `<testsuites>` (which quick-junit writes, and kiln takes out), a
/// suite without `tests`.
#[test]
fn the_junit_schema_refuses_what_jenkins_refuses() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        r#"<testsuites name="k" tests="1" skipped="0"><testsuite name="s" tests="1"><testcase name="c"/></testsuite></testsuites>"#,
        r#"<testsuites><testsuite name="s"><testcase name="c"/></testsuite></testsuites>"#,
    ] {
        let path = dir.path().join("bad.xml");
        std::fs::write(&path, bad).unwrap();
        let result = std::panic::catch_unwind(|| assert_valid_junit(&path));
        assert!(result.is_err(), "accepted: {bad}");
    }
    let good = dir.path().join("good.xml");
    std::fs::write(
        &good,
        r#"<testsuites name="k" tests="1" failures="0" errors="0"><testsuite name="s" tests="1" skipped="1" errors="0" failures="0" timestamp="2026-12-06T05:00:00.000+00:00"><testcase name="c"><skipped message="why"/></testcase></testsuite></testsuites>"#,
    )
    .unwrap();
    assert_valid_junit(&good);
}

/// Validates a JUnit file with xmllint (Debian's libxml2-utils) against
/// tests/fixtures/junit/jenkins-junit.xsd: what Jenkins' xUnit plugin accepts.
fn assert_valid_junit(path: &std::path::Path) {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/junit/jenkins-junit.xsd");
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs xmllint (apt-get install libxml2-utils); .ci/run installs it: {e}"
            )
        });
    assert!(
        output.status.success(),
        "{} is not valid JUnit for Jenkins: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}
