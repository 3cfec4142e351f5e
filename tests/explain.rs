//! `kiln explain` against the real daemon on the 11-step example flavor: a changed file
//! is named with the path of dependencies that carried it, each tier says hit or miss,
//! a `touch` changes nothing, and a copy of the workspace with no job records explains
//! from the manifest label of the images in the daemon.

mod common;

use common::sandbox::{Kiln, copy_dir, text};

const RELEASE: &[&str] = &["build", "-g", "release"];

fn explain(kiln: &Kiln, args: &[&str]) -> (String, serde_json::Value) {
    let output = kiln.command().arg("explain").args(args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8(output.stdout).unwrap();
    let json = kiln
        .command()
        .arg("explain")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", text(&json));
    let value = serde_json::from_slice(&json.stdout).unwrap();
    (shown, value)
}

#[test]
fn a_changed_file_is_named_with_the_dependencies_that_carried_it() {
    let kiln = Kiln::new("explain", &["slc"], None);
    kiln.build(RELEASE);

    // Built: from the daemon, nothing changed.
    let (shown, json) = explain(&kiln, &["slc/release"]);
    assert!(shown.starts_with("slc/release: from the daemon"), "{shown}");
    assert!(shown.contains("nothing changed"), "{shown}");
    assert_eq!(json["from"], "daemon", "{json}");

    // A touch changes no hash.
    let requirements = kiln.path("flavors/slc/flavor_customization/requirements.txt");
    let text_before = std::fs::read_to_string(&requirements).unwrap();
    std::fs::write(&requirements, &text_before).unwrap();
    let (shown, _) = explain(&kiln, &["slc/release"]);
    assert!(shown.contains("nothing changed"), "{shown}");

    // One changed file: release would be built because flavor_customization changed,
    // because requirements.txt did.
    std::fs::write(&requirements, format!("{text_before}extra==1.0\n")).unwrap();
    let (shown, json) = explain(&kiln, &["slc/release"]);
    assert!(shown.starts_with("slc/release: would be built"), "{shown}");
    assert!(shown.contains("miss daemon"), "{shown}");
    assert!(
        shown.contains("miss file cache") && shown.contains("miss registry"),
        "{shown}"
    );
    assert!(
        shown.contains("dependency `flavor_customization` changed"),
        "{shown}"
    );
    assert!(
        shown.contains("because `slc/flavor_customization` changed")
            && shown.contains("file `requirements.txt`: content")
            && shown.contains("flavors/slc/flavor_customization/requirements.txt"),
        "{shown}"
    );
    assert!(json["from"].is_null(), "{json}");
    let changed = &json["changes"]["changed"][0];
    assert_eq!(changed["new"]["name"], "flavor_customization", "{json}");
    assert_eq!(
        changed["because"]["changed"][0]["new"]["name"], "requirements.txt",
        "{json}"
    );
    assert_eq!(
        json["changes"]["compared_with"]["from"], "job_record",
        "{json}"
    );

    // A copy of the workspace at another path, without job records: the same tags, and
    // the earlier inputs come from the images' manifest labels.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&kiln.path("flavors"), &copy.path().join("flavors"));
    std::fs::copy(kiln.path("kiln.kdl"), copy.path().join("kiln.kdl")).unwrap();
    let output = assert_cmd::Command::cargo_bin("kiln")
        .unwrap()
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .args([
            "--workspace",
            copy.path().to_str().unwrap(),
            "explain",
            "slc/release",
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        shown.contains("changed since the labels of") && shown.contains("requirements.txt"),
        "{shown}"
    );
}

#[test]
fn an_unknown_node_is_named_with_a_did_you_mean() {
    let kiln = Kiln::new("explain-unknown", &["slc"], None);
    let output = kiln
        .command()
        .args(["explain", "slc/relase"])
        .output()
        .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("kiln::cli::unknown_node") && shown.contains("slc/release"),
        "{shown}"
    );
}

#[test]
fn an_entity_is_explained_by_its_files_its_environment_and_its_declaration() {
    let kiln = Kiln::new("explain-entity", &["checkenv", "checkenv-debug"], None);
    kiln.add_example_data();
    let check = |args: &[&str]| {
        let output = kiln
            .command()
            .args(["check", "--check", "entities"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.code().is_some_and(|c| c <= 1),
            "{}",
            text(&output)
        );
    };
    check(&["hello", "lorenz"]);

    // Just run: from the result cache, nothing changed.
    let (shown, json) = explain(&kiln, &["checkenv/entities/hello"]);
    assert!(
        shown.starts_with("checkenv/entities/hello: from the result cache (success"),
        "{shown}"
    );
    assert!(shown.contains("nothing changed"), "{shown}");
    assert_eq!(json["cached"]["class"], "success", "{json}");

    // A changed file of its folder.
    let script = kiln.path("data/entities/hello/run.sh");
    let before = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, format!("{before}# changed\n")).unwrap();
    let (shown, json) = explain(&kiln, &["checkenv/entities/hello"]);
    assert!(
        shown.starts_with("checkenv/entities/hello: would run"),
        "{shown}"
    );
    assert!(
        shown.contains("changed file `run.sh`: content (data/entities/hello/run.sh)"),
        "{shown}"
    );
    assert_eq!(
        json["changes"]["files"][0]["new"]["name"], "run.sh",
        "{json}"
    );
    std::fs::write(&script, &before).unwrap();

    // The environment step changed: named, and why, as the step is explained.
    let runner = kiln.path("flavors/checkenv/release/run_entity.sh");
    let runner_before = std::fs::read_to_string(&runner).unwrap();
    std::fs::write(&runner, format!("{runner_before}# changed\n")).unwrap();
    let (shown, json) = explain(&kiln, &["checkenv/entities/lorenz"]);
    assert!(shown.contains("would run"), "{shown}");
    assert!(shown.contains("is not in the daemon"), "{shown}");
    assert!(
        shown.contains("environment `checkenv/release` changed"),
        "{shown}"
    );
    assert!(shown.contains("changed file `run_entity.sh`"), "{shown}");
    assert!(
        json["changes"]["environment"]["hash"]["before"].is_string(),
        "{json}"
    );
    std::fs::write(&runner, &runner_before).unwrap();

    // The check's declaration: which fields.
    let flavor = kiln.path("flavors/checkenv/flavor.kdl");
    let declared = std::fs::read_to_string(&flavor).unwrap();
    std::fs::write(
        &flavor,
        declared.replace("timeout \"5s\"", "timeout \"6s\""),
    )
    .unwrap();
    let (shown, json) = explain(&kiln, &["checkenv/entities/lorenz"]);
    assert!(
        shown.contains("the check's declaration: timeout_ms"),
        "{shown}"
    );
    assert_eq!(
        json["changes"]["declaration"],
        serde_json::json!(["timeout_ms"])
    );
    std::fs::write(&flavor, &declared).unwrap();

    // Back as it was: cached again. An unknown entity is a usage error.
    let (shown, _) = explain(&kiln, &["checkenv/entities/lorenz"]);
    assert!(shown.contains("from the result cache"), "{shown}");
    let output = kiln
        .command()
        .args(["explain", "checkenv/entities/lorenx"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("did you mean `checkenv/entities/lorenz`?"),
        "{}",
        text(&output)
    );
}
