//! What kiln did not make itself, taken as hostile: results a stranger pushed to the
//! registry (forged with oci-client, as an attacker would), a partition's results file,
//! an entity's output. A bad fetched result falls back to a run; nothing of such text
//! reaches the terminal raw; the JUnit and HTML reports stay valid.

mod common;

use std::collections::BTreeMap;

use common::docker::Registry;
use common::sandbox::{Kiln, text};
use serde_json::{Value, json};

/// A workspace with the checkenv flavors and the example data repository.
fn workspace(test: &str, registry: Option<&str>) -> Kiln {
    let kiln = Kiln::new(test, &["checkenv", "checkenv-debug"], registry);
    kiln.add_example_data();
    kiln
}

/// The entities of the example check, all of which a merged run must have.
const ENTITIES: &[&str] = &[
    "broken_model",
    "heat_equation",
    "hello",
    "lorenz",
    "missing_tool",
    "pendulum",
    "slow_solver",
    "spring_mass",
];

/// An output tail an entity (or whoever forged its result) chose: a window title, a
/// screen clear, a hidden link, a bell, NUL and a C1 control.
const HOSTILE_TAIL: &str = "before \u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]8;;https://evil.example\u{1b}\\link\u{1b}]8;;\u{1b}\\ nul\0 bell\u{7} c1\u{9b}31m after\n";

/// The control characters none of kiln's console output may hold (it runs with
/// NO_COLOR: kiln's own colours are off).
fn assert_no_controls(what: &str, shown: &str) {
    let raw: Vec<char> = shown
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        .collect();
    assert!(raw.is_empty(), "{what} printed {raw:?} raw:\n{shown:?}");
}

/// One entity's result as a partition's results.json holds it.
fn result(key: &str, class: &str, tail: &str, runtime_ms: u64) -> Value {
    json!({
        "key": key,
        "check": "checkenv/entities",
        "class": class,
        "exit_code": if class == "success" { 0 } else { 1 },
        "runtime_ms": runtime_ms,
        "date": "2026-01-01T00:00:00Z\u{1b}[31m",
        "environment": "kiln:checkenv-release\u{7}",
        "image_id": "sha256:0",
        "container": null,
        "cached": false,
        "output_tail": tail,
        "log": "/tmp/\u{1b}[2Jhello.log",
        "artifacts": [],
    })
}

#[test]
fn escapes_in_a_partitions_results_reach_no_terminal_and_the_reports_stay_valid() {
    let kiln = workspace("untrusted-merge", None);
    // A partition's results file says what it likes: escapes in the tail, the date, the
    // environment and the log path, and runtimes no run takes (their sum overflows).
    let results: Vec<Value> = ENTITIES
        .iter()
        .map(|key| match *key {
            "hello" => result(key, "script-error", HOSTILE_TAIL, u64::MAX),
            "lorenz" => result(key, "success", "", u64::MAX),
            _ => result(key, "success", "", 10),
        })
        .collect();
    let partition = kiln.path("partition/results.json");
    std::fs::create_dir_all(partition.parent().unwrap()).unwrap();
    std::fs::write(
        &partition,
        serde_json::to_string_pretty(&json!({
            "format": 1,
            "started": "2026-01-01T00:00:00Z",
            "job": null,
            "results": results,
        }))
        .unwrap(),
    )
    .unwrap();

    let junit = kiln.path("reports/junit.xml");
    let html = kiln.path("reports/index.html");
    let merged = kiln
        .command()
        .args(["results", "merge"])
        .arg(&partition)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let shown = text(&merged);
    assert_eq!(
        merged.status.code(),
        Some(1),
        "a script error fails: {shown}"
    );
    assert!(shown.contains("merged 8 entities"), "{shown}");
    assert_no_controls("kiln results merge", &shown);
    for kept in ["before", "link", "nul", "after", ">99h"] {
        assert!(
            shown.contains(kept),
            "the text around them stays: {kept}: {shown}"
        );
    }
    assert!(!shown.contains("307445734561825m"), "{shown}");

    for args in [
        &["results", "hello"][..],
        &["results", "hello", "--history"],
        &["results"],
    ] {
        let output = kiln.command().args(args).output().unwrap();
        let shown = text(&output);
        assert!(output.status.success(), "kiln {args:?}: {shown}");
        assert_no_controls(&format!("kiln {args:?}"), &shown);
        assert!(
            shown.contains("2026-01-01T00:00:00Z"),
            "kiln {args:?}: {shown}"
        );
    }
    let output = kiln.command().args(["results", "hello"]).output().unwrap();
    assert!(text(&output).contains("│ before"), "{}", text(&output));

    // The reports escape what they show: JUnit that xmllint accepts, HTML without a raw
    // control character, the text around them kept.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let lint = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg(&junit)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs xmllint (apt-get install libxml2-utils); .ci/run installs it: {e}"
            )
        });
    assert!(
        lint.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert_no_controls("the JUnit report", &xml);
    assert!(xml.contains("before") && xml.contains("after"), "{xml}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_no_controls("the HTML report", &page);
    assert!(page.contains("before") && page.contains("after"));
    assert!(
        !page.contains("<a href=\"https://evil"),
        "no link made of it"
    );
}

/// The registry's result artifacts of `registry_repository`, pulled and pushed back
/// changed, as someone with push rights would.
struct Forger {
    client: oci_client::Client,
    repository: String,
}

const RESULT_TYPE: &str = "application/vnd.kiln.result.v1+json";
const LOG_TYPE: &str = "application/vnd.kiln.result.log.v1";
const ARTIFACTS_TYPE: &str = "application/vnd.kiln.result.artifacts.v1.tar";

impl Forger {
    fn new(repository: String) -> Forger {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        Forger { client, repository }
    }

    /// Replaces, in the result under `key`, the layer of `media_type` (adding it if
    /// there is none) by what `change` makes of it.
    async fn forge(&self, key: &str, media_type: &str, change: impl FnOnce(&[u8]) -> Vec<u8>) {
        let reference: oci_client::Reference =
            format!("{}:result-{key}", self.repository).parse().unwrap();
        let auth = oci_client::secrets::RegistryAuth::Anonymous;
        let image = self
            .client
            .pull(
                &reference,
                &auth,
                vec![RESULT_TYPE, LOG_TYPE, ARTIFACTS_TYPE],
            )
            .await
            .unwrap();
        let mut layers = image.layers;
        let old = layers
            .iter()
            .position(|l| l.media_type == media_type)
            .map(|i| layers.remove(i).data.to_vec())
            .unwrap_or_default();
        layers.push(oci_client::client::ImageLayer::new(
            change(&old),
            media_type.to_owned(),
            None,
        ));
        self.client
            .push(&reference, &layers, image.config, &auth, None)
            .await
            .unwrap();
    }
}

/// A tar of regular files named as given (a file, then a path through it).
fn tar_of(names: &[&str]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for name in names {
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, &b"forged"[..])
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// The cache key of each entity result this machine's result cache holds.
fn cached_keys(kiln: &Kiln) -> BTreeMap<String, String> {
    std::fs::read_dir(kiln.path(".kiln/results/cache"))
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let key = name.strip_suffix(".json")?;
            if key.ends_with(".inputs") {
                return None;
            }
            let result: Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).ok()?).ok()?;
            Some((result["key"].as_str()?.to_owned(), key.to_owned()))
        })
        .collect()
}

/// Runs `kiln check` on `entities`; its output and the results by key.
fn check(kiln: &Kiln, entities: &[&str]) -> (std::process::Output, BTreeMap<String, Value>) {
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv"])
        .args(entities)
        .output()
        .unwrap();
    let job = kiln.jobs().pop().unwrap();
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(job.join("results/checkenv-entities/results.json"))
            .unwrap_or_else(|e| panic!("{e}: {}", text(&output))),
    )
    .unwrap();
    let results = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    (output, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_results_in_the_registry_fall_back_to_a_run_and_print_nothing_raw() {
    let registry = Registry::start();
    let kiln = workspace("untrusted-registry", Some(&registry.address));
    let entities = ["hello", "lorenz", "spring_mass"];
    let (output, first) = check(&kiln, &entities);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(first["lorenz"]["artifacts"], json!(["_data/plot.svg"]));
    let keys = cached_keys(&kiln);
    assert_eq!(keys.len(), 3, "{keys:?}");

    let forger = Forger::new(format!("{}/{}", registry.address, kiln.repository));
    // lorenz: an artifacts tar with a file, then a path through it ("File exists").
    forger
        .forge(&keys["lorenz"], ARTIFACTS_TYPE, |_| {
            tar_of(&["_data/plot.svg", "_data/a", "_data/a/b"])
        })
        .await;
    // hello: a runtime no run of a 5 s timeout takes.
    forger
        .forge(&keys["hello"], RESULT_TYPE, |json| {
            let mut result: Value = serde_json::from_slice(json).unwrap();
            result["runtime_ms"] = json!(u64::MAX);
            serde_json::to_vec(&result).unwrap()
        })
        .await;
    // spring_mass: a plausible failure whose tail and log are full of escapes.
    forger
        .forge(&keys["spring_mass"], RESULT_TYPE, |json| {
            let mut result: Value = serde_json::from_slice(json).unwrap();
            result["class"] = json!("script-error");
            result["exit_code"] = json!(1);
            result["output_tail"] = json!(HOSTILE_TAIL);
            serde_json::to_vec(&result).unwrap()
        })
        .await;
    forger
        .forge(&keys["spring_mass"], LOG_TYPE, |_| {
            HOSTILE_TAIL.as_bytes().to_vec()
        })
        .await;
    // Only the registry has them now.
    std::fs::remove_dir_all(kiln.path(".kiln/results/cache")).unwrap();

    let (output, second) = check(&kiln, &entities);
    let shown = text(&output);
    // The forged artifacts and the impossible runtime: not used, the entities run.
    assert_eq!(second["lorenz"]["class"], "success", "{shown}");
    assert_eq!(second["lorenz"]["cached"], false, "lorenz ran: {shown}");
    assert_eq!(second["lorenz"]["artifacts"], json!(["_data/plot.svg"]));
    assert_eq!(second["hello"]["cached"], false, "hello ran: {shown}");
    assert!(second["hello"]["runtime_ms"].as_u64().unwrap() < 60_000);
    let job = kiln.jobs().pop().unwrap();
    assert!(
        !job.join("artifacts/lorenz/_data/a").exists(),
        "nothing forged kept"
    );
    assert_eq!(
        std::fs::read_to_string(job.join("artifacts/lorenz/_data/plot.svg")).unwrap(),
        std::fs::read_to_string(kiln.path("data/entities/lorenz/_data/plot.svg")).unwrap(),
        "the run's own plot"
    );
    let registry_name = format!(
        "results registry `{}/{}`",
        registry.address, kiln.repository
    );
    for entity in ["lorenz", "hello"] {
        let warnings: Vec<&str> = shown
            .lines()
            .filter(|l| {
                l.contains(&format!("checkenv/entities/{entity}: ")) && l.contains(&registry_name)
            })
            .collect();
        assert_eq!(
            warnings.len(),
            1,
            "one warning naming the registry: {shown}"
        );
    }
    assert!(!shown.contains("307445734561825m"), "{shown}");
    // spring_mass's forged failure is a result like any other (without a signing key
    // nothing tells it from a real one), shown without a raw control character: as a
    // cached failure, with -v its log.
    assert_eq!(second["spring_mass"]["class"], "script-error", "{shown}");
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert_no_controls("kiln check", &shown);
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "-v", "spring_mass"])
        .output()
        .unwrap();
    assert!(text(&output).contains("│ before"), "{}", text(&output));
    assert_no_controls("kiln check -v", &text(&output));
    let output = kiln
        .command()
        .args(["results", "spring_mass"])
        .output()
        .unwrap();
    assert!(text(&output).contains("│ before"), "{}", text(&output));
    assert_no_controls("kiln results spring_mass", &text(&output));

    // What ran was pushed in place of the forgeries: a third checkout's run takes it.
    std::fs::remove_dir_all(kiln.path(".kiln/results/cache")).unwrap();
    let (output, third) = check(&kiln, &["hello", "lorenz"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(third.values().all(|r| r["cached"] == true), "{third:?}");
}

#[test]
fn a_diagnostic_quoting_a_contributed_file_name_prints_no_escape() {
    let kiln = workspace("untrusted-diagnostic", None);
    // A contributed folder whose name sets the window title and clears the screen,
    // holding metadata kiln cannot read.
    let folder = kiln.path("data/entities/x\u{1b}]0;pwned\u{7}\u{1b}[2Jy");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("metadata.yml"), "key: [unclosed\n").unwrap();
    let output = kiln
        .command()
        .args(["plan", "--checks", "--flavor", "checkenv"])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("kiln::check::metadata"), "{shown}");
    assert!(shown.contains("xy/metadata.yml"), "{shown}");
    assert_no_controls("the diagnostic", &shown);
}
