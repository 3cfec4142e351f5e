//! The EXASLCT-shaped example workspace (examples/exaslct-template) against the real
//! daemon: it validates, it builds cold again and again (its flavor_base_deps step has the
//! COPY pattern that trips Docker's empty-layer bug, which kiln retries), and
//! `kiln validate` finds a misspelt COPY source before anything is built.
//!
//! The daemon is shared: the test builds under its own repository name and removes only
//! the images its own builds created (never one that existed before a round, never one
//! somebody tagged), so it holds while other tests run and when the same content exists
//! under other names (a developer's build of the example, another run of this test).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use common::sandbox::{Kiln, text, with_result};

const FLAVOR: &str = "template-python";

/// The steps of EXASLCT's template flavor (flavor_base/build_steps.py).
const STEPS: [&str; 11] = [
    "udfclient_deps",
    "language_deps",
    "build_deps",
    "build_run",
    "base_test_deps",
    "base_test_build_run",
    "flavor_base_deps",
    "flavor_customization",
    "release",
    "security_scan",
    "flavor_test_build_run",
];

/// Every step: security_scan needs the release line, flavor_test_build_run the test line.
/// The classic builder spends about a second per instruction, most of it waiting rather
/// than computing: more steps at once than CPUs shorten a cold round by a fifth.
const ALL: &[&str] = &[
    "build",
    "--goal",
    "security_scan",
    "--goal",
    "flavor_test_build_run",
    "--jobs",
    "4",
];

const ROUNDS: usize = 10;

fn example() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/exaslct-template"
    ))
}

/// A copy of the example workspace whose kiln.kdl names a repository of its own.
fn workspace(test: &str) -> Kiln {
    let kiln = Kiln::new(test, &[], None);
    copy_example(example(), kiln.root());
    let settings = kiln.path("kiln.kdl");
    let kdl = std::fs::read_to_string(&settings).unwrap();
    let own = r#"repository "kiln-exaslct-example""#;
    assert!(
        kdl.contains(own),
        "the example names its own repository:\n{kdl}"
    );
    std::fs::write(
        &settings,
        kdl.replace(own, &format!("repository \"{}\"", kiln.repository)),
    )
    .unwrap();
    kiln
}

/// Copies the example, leaving out what a run of kiln in it left (`.kiln/`: job records,
/// caches). `std::fs::copy` keeps the executable bits, which are inputs of the hashes.
fn copy_example(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".kiln" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_example(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The docker CLI's stdout as text.
fn docker(args: &[&str]) -> String {
    String::from_utf8(common::sandbox::docker_cli(args)).unwrap()
}

/// The id of every image the daemon has, intermediate (untagged) ones included.
fn all_image_ids() -> BTreeSet<String> {
    docker(&["images", "--all", "--quiet", "--no-trunc"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `repository:tag` of every image tagged in `repository`.
fn tags(repository: &str) -> Vec<String> {
    docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", repository])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The ids of the images a build job's logs name: what the classic builder made or took
/// from its cache for each instruction (` ---> 0123456789ab`), its result
/// (`Successfully built …`) and the image kiln labelled from it (`sha256:…`).
fn images_in_logs(job: &Path) -> BTreeSet<String> {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(job.join("logs")).unwrap() {
        let log = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in log.lines() {
            let line = line.trim();
            let short = line
                .strip_prefix("---> ")
                .or_else(|| line.strip_prefix("Successfully built "));
            if let Some(id) = short.filter(|id| id.len() == 12 && is_hex(id)) {
                ids.insert(id.to_owned());
            }
            for (at, _) in line.match_indices("sha256:") {
                let full = &line[at..];
                let end = "sha256:".len() + 64;
                if full.len() >= end && is_hex(&full["sha256:".len()..end]) {
                    ids.insert(full[..end].to_owned());
                }
            }
        }
    }
    ids
}

/// Full id → parent id (empty when it has none) of each of `references` the daemon has.
fn inspect(references: &BTreeSet<String>) -> BTreeMap<String, String> {
    if references.is_empty() {
        return BTreeMap::new();
    }
    // Exit code 1 when one is missing; the others are printed all the same.
    let output = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}} {{.Parent}}"])
        .args(references)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?.to_owned();
            Some((id, fields.next().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// Removes `images` (id → parent id), children before their parents, each on its own:
/// `--no-prune`, so that nothing but the given ids goes, and never forced, so that the
/// daemon keeps an image a container or another image still uses. An image somebody
/// tagged in the meantime (the same content under another name) is left alone too:
/// removing an image by id would take its last tag with it. Returns what stayed, with
/// the daemon's reason.
fn remove_images(images: &BTreeMap<String, String>) -> Vec<String> {
    fn depth(id: &str, images: &BTreeMap<String, String>) -> usize {
        match images.get(id) {
            Some(parent) if images.contains_key(parent) => 1 + depth(parent, images),
            _ => 0,
        }
    }
    let mut order: Vec<(usize, &String)> =
        images.keys().map(|id| (depth(id, images), id)).collect();
    order.sort_by(|a, b| b.cmp(a));
    let mut stayed = Vec::new();
    for (_, id) in order {
        let inspect = std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{len .RepoTags}}", id])
            .output()
            .unwrap();
        if !inspect.status.success() {
            continue; // gone already
        }
        if String::from_utf8_lossy(&inspect.stdout).trim() != "0" {
            stayed.push(format!("{id}: tagged by somebody else"));
            continue;
        }
        let output = std::process::Command::new("docker")
            .args(["rmi", "--no-prune", id])
            .output()
            .unwrap();
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if !why.contains("No such image") {
                stayed.push(format!("{id}: {why}"));
            }
        }
    }
    stayed
}

#[test]
fn the_exaslct_template_validates_and_builds_cold_again_and_again() {
    let kiln = workspace("exaslct-cold");
    let valid = kiln.ok(&["validate"]);
    let out = String::from_utf8_lossy(&valid.stdout);
    assert!(out.contains("1 flavor (11 steps, 4 goals"), "{out}");

    let started = Instant::now();
    let mut retried = 0;
    let mut kept = Vec::new();
    for round in 1..=ROUNDS {
        let before = all_image_ids();
        let round_started = Instant::now();
        let results = kiln.build(ALL);
        let took = round_started.elapsed();

        // Every step built (nothing of this workspace is left from the round before) and
        // tagged in the workspace's repository.
        let mut expected: Vec<String> = STEPS.iter().map(|s| format!("{FLAVOR}/{s}")).collect();
        expected.sort();
        assert_eq!(
            with_result(&results, "built"),
            expected,
            "round {round}: {results:?}"
        );
        let tagged = tags(&kiln.repository);
        for step in STEPS {
            let prefix = format!("{}:{FLAVOR}-{step}_", kiln.repository);
            let image: Vec<&String> = tagged.iter().filter(|t| t.starts_with(&prefix)).collect();
            assert_eq!(
                image.len(),
                1,
                "round {round}: the image of {step} in {tagged:?}"
            );
            let label = docker(&[
                "image",
                "inspect",
                "--format",
                "{{index .Config.Labels \"io.kiln.step\"}}",
                image[0],
            ]);
            assert_eq!(label.trim(), step, "round {round}: {}", image[0]);
        }
        let job = kiln.jobs().pop().unwrap();
        let log = std::fs::read_to_string(job.join(format!("logs/{FLAVOR}-flavor_base_deps.log")))
            .unwrap();
        if log.contains("kiln: retried after the daemon lost a layer") {
            retried += 1;
        }
        let cache_hits: usize = std::fs::read_dir(job.join("logs"))
            .unwrap()
            .map(|log| {
                let log = std::fs::read_to_string(log.unwrap().path()).unwrap();
                log.matches("---> Using cache").count()
            })
            .sum();

        // What this round's build created: the step images and every image its logs name
        // (the layer cache of each instruction) that the daemon did not have before.
        let mut named = images_in_logs(&job);
        named.extend(tagged.iter().cloned());
        let made: BTreeMap<String, String> = inspect(&named)
            .into_iter()
            .filter(|(id, _)| !before.contains(id))
            .collect();

        // kiln clean removes the tags and keeps the layer cache (on purpose: another build
        // may be using it); the test then removes the cache its own builds made, so that the
        // next round starts cold.
        kiln.ok(&["clean", "--all"]);
        assert_eq!(
            tags(&kiln.repository),
            Vec::<String>::new(),
            "round {round}"
        );
        let stayed = remove_images(&made);
        for why in &stayed {
            // Only another build holding on to a layer keeps it: a child image of its own
            // or a container made from it.
            assert!(
                why.contains("conflict") || why.contains("tagged by somebody else"),
                "round {round}: {why}"
            );
        }
        eprintln!(
            "round {round}: built in {:.1}s ({cache_hits} instructions from the layer cache), {} images made, {} kept by others",
            took.as_secs_f64(),
            made.len(),
            stayed.len()
        );
        for why in stayed.iter().take(3) {
            eprintln!("  kept {why}");
        }
        kept.extend(stayed);
    }
    eprintln!(
        "{ROUNDS} cold rounds in {:.1}s; flavor_base_deps retried after a lost layer in {retried} of them; {} images kept because others use them",
        started.elapsed().as_secs_f64(),
        kept.len()
    );
}

#[test]
fn validate_finds_a_misspelt_copy_source_in_the_example() {
    let kiln = workspace("exaslct-validate");
    let relative = "flavors/template-python/flavor_base/flavor_base_deps/Dockerfile";
    let dockerfile = kiln.path(relative);
    let content = std::fs::read_to_string(&dockerfile).unwrap();
    let right = "COPY flavor_base_deps/packages ";
    let line = content
        .lines()
        .position(|l| l.starts_with(right))
        .expect("flavor_base_deps copies its packages")
        + 1;
    std::fs::write(
        &dockerfile,
        content.replace(right, "COPY flavor_base_deps/pakages "),
    )
    .unwrap();

    let output = kiln.command().arg("validate").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kiln::build::copy_source_missing"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{relative}:{line}:")),
        "names the Dockerfile and the line ({relative}:{line}):\n{stderr}"
    );
    assert!(stderr.contains("flavor_base_deps/pakages"), "{stderr}");
    assert!(
        stderr.contains("flavor_base_deps/packages"),
        "did you mean:\n{stderr}"
    );
    assert!(kiln.jobs().is_empty(), "nothing ran");
}
