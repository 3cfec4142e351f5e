//! Two machines: the main daemon and a second dockerd of the test's own, sharing a
//! registry. Images and check results travel through the registry, so the second one
//! builds nothing and runs nothing the first one did; partitions run on the two merge
//! into the full run.

mod common;

use std::collections::BTreeMap;

use common::docker::Registry;
use common::sandbox::{Kiln, copy_dir, text};
use common::second_daemon::SecondDaemon;
use serde_json::Value;

/// The newest job record's `checkenv/entities` results by key: class, exit code,
/// output, artifacts and whether a cache gave it.
fn results(kiln: &Kiln) -> BTreeMap<String, (Value, bool)> {
    let job = kiln.jobs().pop().unwrap();
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(job.join("results/checkenv-entities/results.json")).unwrap(),
    )
    .unwrap();
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let same = serde_json::json!({
                "class": r["class"], "exit_code": r["exit_code"],
                "output_tail": r["output_tail"], "artifacts": r["artifacts"],
                "environment": r["environment"],
            });
            (
                r["key"].as_str().unwrap().to_owned(),
                (same, r["cached"] == true),
            )
        })
        .collect()
}

fn built(stdout: &[u8]) -> usize {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["result"]["type"] == "image" && e["result"]["tier"] == "built")
        .count()
}

#[test]
fn a_second_daemon_gets_every_image_and_result_through_the_registry() {
    let registry = Registry::start();
    let first = Kiln::new(
        "daemons-a",
        &["checkenv", "checkenv-debug"],
        Some(&registry.address),
    );
    first.add_example_data();
    first.ok(&["push"]);
    let _ = first
        .command()
        .args(["check", "--flavor", "checkenv"])
        .output()
        .unwrap();
    let produced = results(&first);
    assert_eq!(produced.len(), 8);

    // The same workspace copied to another path, run on the second daemon.
    let daemon = SecondDaemon::start();
    let second = Kiln::new("daemons-b", &[], None);
    for part in ["kiln.kdl", "flavors", "data"] {
        let from = first.path(part);
        if from.is_dir() {
            copy_dir(&from, &second.path(part));
        } else {
            std::fs::copy(&from, second.path(part)).unwrap();
        }
    }
    let output = second
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .args(["check", "--flavor", "checkenv", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        built(&output.stdout),
        0,
        "images from the registry: {}",
        text(&output)
    );
    let fetched = results(&second);
    for (key, (same, cached)) in &fetched {
        assert!(*cached, "{key} ran again: {}", text(&output));
        assert_eq!(same, &produced[key].0, "{key}");
    }
    assert_eq!(fetched.len(), produced.len());
    assert!(daemon.containers().is_empty(), "{:?}", daemon.containers());

    // Partitions on the two daemons, merged: the full run, entity by entity.
    let _ = first
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "--force",
            "--no-remote-results",
            "--partition",
            "1/2",
        ])
        .output()
        .unwrap();
    let _ = second
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .args([
            "check",
            "--flavor",
            "checkenv",
            "--force",
            "--no-remote-results",
            "--partition",
            "2/2",
        ])
        .output()
        .unwrap();
    let collected = first.path("collected");
    copy_dir(&first.jobs().pop().unwrap(), &collected.join("one"));
    copy_dir(&second.jobs().pop().unwrap(), &collected.join("two"));
    let merged = first
        .command()
        .args(["results", "merge"])
        .arg(&collected)
        .output()
        .unwrap();
    assert!(
        text(&merged).contains("merged 8 entities"),
        "{}",
        text(&merged)
    );
    let merged = results(&first);
    for (key, (same, _)) in &produced {
        assert_eq!(merged[key].0["class"], same["class"], "{key}");
    }
    assert!(daemon.containers().is_empty(), "{:?}", daemon.containers());
}

#[test]
fn checks_on_a_daemon_on_another_machine_copy_their_files_in_and_their_artifacts_out() {
    let daemon = SecondDaemon::start_elsewhere();
    let remote = Kiln::new("daemons-elsewhere", &["checkenv", "checkenv-debug"], None);
    remote.add_example_data();
    let local = Kiln::new("daemons-here", &["checkenv", "checkenv-debug"], None);
    local.add_example_data();
    let _ = local
        .command()
        .args(["check", "--flavor", "checkenv"])
        .output()
        .unwrap();
    let here = results(&local);

    let output = remote
        .command()
        .env("DOCKER_HOST", &daemon.host)
        .args(["-v", "check", "--flavor", "checkenv"])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(
        shown.contains("is not on this machine"),
        "says which mode: {shown}"
    );
    let there = results(&remote);
    assert_eq!(there.len(), here.len(), "{shown}");
    for (key, (same, _)) in &here {
        // The classes, outputs and artifacts of a local run (the debug environment
        // prints the folder listing, whose dates differ).
        assert_eq!(there[key].0["class"], same["class"], "{key}: {shown}");
        assert_eq!(
            there[key].0["artifacts"], same["artifacts"],
            "{key}: {shown}"
        );
    }
    let classes: std::collections::BTreeSet<&str> = there
        .values()
        .filter_map(|(same, _)| same["class"].as_str())
        .collect();
    assert_eq!(classes.len(), 4, "all four result classes: {classes:?}");
    let job = remote.jobs().pop().unwrap();
    assert!(
        job.join("artifacts/lorenz/_data/plot.svg").is_file(),
        "artifacts come back"
    );
    // Nothing was written into this machine's entity folders.
    assert!(!remote.path("data/entities/lorenz/_data").exists());
    assert!(daemon.containers().is_empty(), "{:?}", daemon.containers());
}
