//! `kiln check` against the real daemon, on a copy of the example data repository: result
//! classes, warm containers, the result cache, ownership of written files.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::sandbox::{Kiln, copy_dir, exit_within, text};
use serde_json::Value;

/// A workspace with the checkenv flavors and the example data repository.
fn workspace(test: &str) -> Kiln {
    let kiln = Kiln::new(test, &["checkenv", "checkenv-debug"], None);
    kiln.add_example_data();
    kiln
}

/// Runs `kiln check` with `args`; returns the exit code and the results by key.
fn check(kiln: &Kiln, args: &[&str]) -> (Option<i32>, BTreeMap<String, Value>) {
    let before = kiln.jobs();
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv"])
        .args(args)
        .output()
        .unwrap();
    let job = kiln
        .jobs()
        .into_iter()
        .find(|j| !before.contains(j))
        .unwrap_or_else(|| panic!("no job record: {}", text(&output)));
    let file = job.join("results/checkenv-entities/results.json");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), text(&output))),
    )
    .unwrap();
    let results = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    (output.status.code(), results)
}

fn class(results: &BTreeMap<String, Value>, key: &str) -> String {
    results[key]["class"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn cached(results: &BTreeMap<String, Value>) -> BTreeSet<String> {
    results
        .iter()
        .filter(|(_, r)| r["cached"].as_bool() == Some(true))
        .map(|(k, _)| k.clone())
        .collect()
}

fn containers(results: &BTreeMap<String, Value>, keys: &[&str]) -> BTreeSet<String> {
    keys.iter()
        .map(|k| {
            results[*k]["container"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn container_exists(id: &str) -> bool {
    let daemon = common::docker::daemon().await;
    common::docker::api(&daemon)
        .await
        .inspect_container(id, None)
        .await
        .is_ok()
}

const CHECKENV: &[&str] = &[
    "broken_model",
    "heat_equation",
    "hello",
    "lorenz",
    "missing_tool",
    "slow_solver",
    "spring_mass",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_containers_cache_and_replacement() {
    let kiln = workspace("check");

    let (code, first) = check(&kiln, &["--keep-env", "-j", "2"]);
    assert_eq!(code, Some(1), "script errors and a timeout fail the run");
    assert_eq!(
        first.len(),
        8,
        "8 system models; the documentation entity is filtered out: {first:?}"
    );
    for (key, expected) in [
        ("hello", "success"),
        ("lorenz", "success"),
        ("pendulum", "success"),
        ("spring_mass", "success"),
        ("heat_equation", "inaccurate"),
        ("broken_model", "script-error"),
        ("missing_tool", "script-error"),
        ("slow_solver", "timeout"),
    ] {
        assert_eq!(class(&first, key), expected, "{key}: {:?}", first[key]);
    }
    assert!(
        first["slow_solver"]["runtime_ms"].as_u64().unwrap() < 15_000,
        "killed at its 5 s timeout"
    );
    assert!(
        first["broken_model"]["output_tail"]
            .as_str()
            .unwrap()
            .contains("parameters.csv")
    );
    assert!(
        first["pendulum"]["environment"]
            .as_str()
            .unwrap()
            .contains("checkenv-debug-release_")
    );
    assert_eq!(
        first["lorenz"]["artifacts"],
        serde_json::json!(["_data/plot.svg"])
    );
    let job = kiln.jobs().pop().unwrap();
    assert!(job.join("artifacts/lorenz/_data/plot.svg").is_file());

    // One container per environment, shared by its entities.
    let warm = containers(&first, CHECKENV);
    assert_eq!(warm.len(), 1, "{warm:?}");
    let debug = containers(&first, &["pendulum"]);
    assert!(warm.is_disjoint(&debug));
    let old = warm.into_iter().next().unwrap();
    assert!(container_exists(&old).await, "--keep-env keeps it");
    // The timed-out command was killed, children included.
    let daemon = common::docker::daemon().await;
    let mut out = Vec::new();
    let ps = daemon
        .exec(
            &old,
            kiln::docker::ExecRequest {
                cmd: vec!["ps".to_owned()],
                ..Default::default()
            },
            &mut out,
            100,
            None,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(ps.exit_code, Some(0));
    assert!(ps.tail.contains("sleep 3600"), "ps works: {}", ps.tail);
    assert!(
        !ps.tail.contains("sleep 600") && !ps.tail.contains("run.sh"),
        "{}",
        ps.tail
    );

    // Nothing changed: every result comes from the cache.
    let (_, second) = check(&kiln, &[]);
    assert_eq!(cached(&second).len(), 8, "{second:?}");
    assert_eq!(class(&second, "slow_solver"), "timeout");
    // A cached failure is one line and its log, not its output tail again.
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv"])
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(
        shown.contains("broken_model") && shown.contains("cached; its log:"),
        "{shown}"
    );
    assert!(!shown.contains("parameters.csv"), "no old tail: {shown}");

    // --force runs what the cache holds.
    let (_, forced) = check(&kiln, &["--force", "hello", "heat_equation"]);
    assert_eq!(forced.len(), 2);
    assert!(cached(&forced).is_empty(), "{forced:?}");

    // Inaccurate fails the run only when asked to.
    let (code, _) = check(&kiln, &["heat_equation"]);
    assert_eq!(code, Some(0));
    let (code, _) = check(&kiln, &["--fail-on-inaccurate", "heat_equation"]);
    assert_eq!(code, Some(1));

    // The history: latest result and last passing run per entity.
    let output = kiln.ok(&["results", "broken_model"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("script-error") && shown.contains("never"),
        "{shown}"
    );
    assert!(shown.contains("parameters.csv"), "the output tail: {shown}");
    let output = kiln
        .command()
        .args(["results", "broken_modle"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown key is a usage error"
    );
    let shown = String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains("did you mean `broken_model`?"), "{shown}");
    let output = kiln.ok(&["results", "--json"]);
    let all: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 8);
    // Every recorded result of one entity, oldest first: the runs above checked
    // heat_equation five times, three of them from the result cache.
    let output = kiln.ok(&["results", "heat_equation", "--history", "--json"]);
    let past: Value = serde_json::from_slice(&output.stdout).unwrap();
    let past = past.as_array().unwrap();
    assert!(past.len() >= 3, "{past:?}");
    assert!(past.iter().all(|r| r["key"] == "heat_equation"), "{past:?}");
    let dates: Vec<&str> = past.iter().map(|r| r["date"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    let output = kiln.ok(&["results", "heat_equation", "--history"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(shown.lines().count(), past.len() + 1, "{shown}");
    assert!(shown.contains("inaccurate (cached)"), "{shown}");

    // One entity changed: only it runs again.
    std::fs::write(
        kiln.path("data/entities/hello/run.sh"),
        "echo hello again\n",
    )
    .unwrap();
    let (_, third) = check(&kiln, &[]);
    let ran: BTreeSet<String> = third
        .keys()
        .filter(|k| !cached(&third).contains(*k))
        .cloned()
        .collect();
    assert_eq!(ran, BTreeSet::from(["hello".to_owned()]));

    // The environment image changed: its container is replaced, its entities rerun.
    let runner = kiln.path("flavors/checkenv/release/run_entity.sh");
    let script = std::fs::read_to_string(&runner).unwrap();
    std::fs::write(&runner, format!("{script}# changed\n")).unwrap();
    let (_, fourth) = check(&kiln, &[]);
    let rerun: BTreeSet<String> = fourth
        .keys()
        .filter(|k| !cached(&fourth).contains(*k))
        .cloned()
        .collect();
    let expected: BTreeSet<String> = CHECKENV.iter().map(|k| k.to_string()).collect();
    assert_eq!(rerun, expected, "pendulum's environment did not change");
    let new = containers(&fourth, CHECKENV);
    assert_eq!(new.len(), 1);
    assert!(!new.contains(&old), "a new container for the new image");
    assert!(
        !container_exists(&old).await,
        "the stale container was removed"
    );
    assert!(
        !container_exists(new.iter().next().unwrap()).await,
        "containers are removed at the end"
    );
}

/// `git -C dir args…` with a fixed identity; its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Data Keeper",
            "-c",
            "user.email=keeper@example.invalid",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// results.yml is ACKREP's CI file: per entity `result`, `issues` (the output tail for a
/// script error and for an inaccurate entity, empty for a success), `runtime` and `date`
/// as `YYYY-MM-DD HH:MM:SS`; for the run `ci_logs` (with the CI build's URL) and
/// `commit_logs` with the data repository's commit.
#[test]
fn results_yml_is_ackreps_ci_file() {
    let kiln = workspace("check-ackrep");
    let data = kiln.path("data");
    git(&data, &["init", "-q", "-b", "data-main"]);
    git(&data, &["add", "."]);
    git(&data, &["commit", "-q", "-m", "the example entities"]);
    let sha = git(&data, &["rev-parse", "HEAD"]).trim().to_owned();

    let before = kiln.jobs();
    let output = kiln
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "hello",
            "heat_equation",
            "broken_model",
        ])
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "org/data")
        .env("GITHUB_RUN_ID", "4711")
        .env_remove("CI_JOB_URL")
        .env_remove("CIRCLE_BUILD_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let job = kiln
        .jobs()
        .into_iter()
        .find(|j| !before.contains(j))
        .unwrap();
    let file = job.join("results/checkenv-entities/results.yml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let results: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let is_date = |v: &Value| {
        v.as_str().is_some_and(|d| {
            d.len() == 19 && chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%d %H:%M:%S").is_ok()
        })
    };

    let hello = &results["hello"];
    assert_eq!(hello["result"], 0, "{yaml}");
    assert_eq!(hello["issues"], "", "{yaml}");
    assert_eq!(hello["class"], "success");
    assert_eq!(hello["check"], "checkenv/entities");
    assert!(hello["runtime"].as_f64().unwrap() >= 0.0, "{yaml}");
    assert!(is_date(&hello["date"]), "{yaml}");
    assert_eq!(results["heat_equation"]["result"], 2, "{yaml}");
    assert!(
        results["heat_equation"]["issues"]
            .as_str()
            .unwrap()
            .contains("max error 0.031 > tolerance 0.01"),
        "an inaccurate entity's discrepancy: {yaml}"
    );
    assert_eq!(results["broken_model"]["result"], 1, "{yaml}");
    assert!(
        results["broken_model"]["issues"]
            .as_str()
            .unwrap()
            .contains("parameters.csv"),
        "{yaml}"
    );
    assert!(results.get("lorenz").is_none(), "only the keys asked for");

    let ci = &results["ci_logs"];
    assert_eq!(
        ci["build_url"], "https://github.example/org/data/actions/runs/4711",
        "{yaml}"
    );
    assert_eq!(ci["kiln_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ci["job"], job.display().to_string());
    assert!(is_date(&ci["date"]), "{yaml}");
    let commit = &results["commit_logs"]["data"];
    assert_eq!(commit["sha"], sha.as_str(), "{yaml}");
    assert_eq!(commit["branch"], "data-main");
    assert_eq!(commit["path"], "data");
    assert_eq!(commit["message"], "the example entities");
    assert_eq!(commit["author"], "Data Keeper");
    assert!(is_date(&commit["date"]), "{yaml}");

    // Without a repository and outside CI, those parts are left out, not an error.
    std::fs::remove_dir_all(data.join(".git")).unwrap();
    let before = kiln.jobs();
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "hello"])
        .env_remove("GITHUB_SERVER_URL")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_RUN_ID")
        .env_remove("CI_JOB_URL")
        .env_remove("CIRCLE_BUILD_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let job = kiln
        .jobs()
        .into_iter()
        .find(|j| !before.contains(j))
        .unwrap();
    let yaml = std::fs::read_to_string(job.join("results/checkenv-entities/results.yml")).unwrap();
    let results: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let workspace_in_a_repository = std::process::Command::new("git")
        .arg("-C")
        .arg(kiln.root())
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !workspace_in_a_repository {
        assert_eq!(results["commit_logs"], serde_json::json!({}), "{yaml}");
    }
    assert!(results["ci_logs"].get("build_url").is_none(), "{yaml}");
    assert_eq!(results["hello"]["result"], 0, "a cached result too: {yaml}");
}

#[test]
fn files_written_by_a_check_belong_to_the_user_it_runs_as() {
    let kiln = workspace("check-owner");
    let data = kiln.path("data");
    chown_all(&data, 4321, 4321);
    let (code, results) = check(&kiln, &["--user", "4321:4321", "spring_mass"]);
    assert_eq!(code, Some(0));
    assert_eq!(results.keys().collect::<Vec<_>>(), ["spring_mass"]);
    assert_eq!(class(&results, "spring_mass"), "success", "{results:?}");
    let written =
        std::fs::metadata(kiln.path("data/entities/spring_mass/_data/result.txt")).unwrap();
    assert_eq!((written.uid(), written.gid()), (4321, 4321));

    // The image has no passwd entry for uid 4321, so Docker would give it HOME=/, which
    // it cannot write: kiln gives it a writable HOME (this image has no /tmp: /dev/shm).
    let home = kiln.path("data/entities/home_cache");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("metadata.yml"),
        "key: home_cache\ntype: system_model\ncompatible_environment: checkenv\n",
    )
    .unwrap();
    std::fs::write(
        home.join("run.sh"),
        "#!/bin/sh\nmkdir -p \"$HOME/.cache\" && echo settings > \"$HOME/.cache/tool\" && echo \"home=$HOME\"\n",
    )
    .unwrap();
    chown_all(&data, 4321, 4321);
    let (_, with_home) = check(&kiln, &["--user", "4321:4321", "home_cache"]);
    assert_eq!(class(&with_home, "home_cache"), "success", "{with_home:?}");
    assert!(
        with_home["home_cache"]["output_tail"]
            .as_str()
            .is_some_and(|t| t.contains("home=/dev/shm")),
        "{with_home:?}"
    );

    // Who runs the check is part of its result's key: the same user gets the cached
    // result, another user runs it again.
    let (_, same) = check(&kiln, &["--user", "4321:4321", "spring_mass"]);
    assert_eq!(cached(&same), BTreeSet::from(["spring_mass".to_owned()]));
    let (_, other) = check(&kiln, &["--user", "4322:4322", "spring_mass"]);
    assert_eq!(cached(&other), BTreeSet::new(), "{other:?}");

    // A container kept with --keep-env is removed by `kiln clean` of its flavor (not of
    // another) or `--all`.
    let kept_container = || {
        let (_, kept) = check(
            &kiln,
            &[
                "--user",
                "4321:4321",
                "--keep-env",
                "--force",
                "spring_mass",
            ],
        );
        kept["spring_mass"]["container"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let container = kept_container();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert!(runtime.block_on(container_exists(&container)));
    let output = kiln.ok(&["clean", "--flavor", "checkenv-debug"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(!shown.contains("container"), "{shown}");
    assert!(runtime.block_on(container_exists(&container)));
    let output = kiln.ok(&["clean", "--flavor", "checkenv"]);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("1 environment container removed"), "{shown}");
    assert!(
        shown.contains(&format!("removed {}:checkenv-release_", kiln.repository)),
        "{shown}"
    );
    assert!(!runtime.block_on(container_exists(&container)));
    let container = kept_container();
    let output = kiln.ok(&["clean", "--all"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 environment container removed"));
    assert!(!runtime.block_on(container_exists(&container)));
}

fn chown_all(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_all(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// SIGTERM (a `kill`, a CI runner cancelling a job) stops a run as Ctrl-C does: running
/// checks are cancelled, the environment containers removed, exit code 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_run_removes_its_containers() {
    let kiln = workspace("check-term");
    let mut child = kiln
        .process()
        .args(["check", "--flavor", "checkenv", "slow_solver"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The check has started once its log exists (its container is running).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !kiln.jobs().iter().any(|job| {
        job.join("logs/check-checkenv-entities-slow_solver.log")
            .exists()
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the check never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let daemon = common::docker::daemon().await;
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let running = daemon
        .containers_with_label(kiln::docker::labels::OWNER, &owner)
        .await
        .unwrap();
    assert_eq!(running.len(), 1, "one environment container while it runs");

    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let left = daemon
        .containers_with_label(kiln::docker::labels::OWNER, &owner)
        .await
        .unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// The classes of each (check, entity) in the newest job record, by `<check>/<key>`.
fn classes_by_check(kiln: &Kiln) -> BTreeMap<String, (String, bool)> {
    newest_results(kiln)
        .into_iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["check"].as_str().unwrap(),
                    r["key"].as_str().unwrap()
                ),
                (
                    r["class"].as_str().unwrap().to_owned(),
                    r["cached"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

/// Every entity result of every check in the newest job record.
fn newest_results(kiln: &Kiln) -> Vec<Value> {
    let job = kiln.jobs().pop().unwrap();
    let mut out = Vec::new();
    for dir in std::fs::read_dir(job.join("results")).unwrap() {
        let file = dir.unwrap().path().join("results.json");
        let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        out.extend(json["results"].as_array().unwrap().iter().cloned());
    }
    out
}

/// Two entities described in one folder, and a check a derived flavor inherits: each
/// (check, entity) keeps its own cached result (they once shared one, so a failing
/// entity could come back as another's success).
#[test]
fn each_check_and_entity_keeps_its_own_cached_result() {
    let kiln = workspace("check-own");
    let multi = r#"
    check "multi" {
        image "release"
        entities "data/multi/*.yml" key="key"
        run "sh" "-c" "test {{ entity.key }} = alpha"
    }
"#;
    kiln.add_to_flavor("checkenv", multi);
    std::fs::create_dir_all(kiln.path("data/multi")).unwrap();
    std::fs::write(kiln.path("data/multi/alpha.yml"), "key: alpha\n").unwrap();
    std::fs::write(kiln.path("data/multi/beta.yml"), "key: beta\n").unwrap();

    for round in ["first", "cached"] {
        let output = kiln
            .command()
            .args(["check", "--check", "multi", "-j", "2"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let results = classes_by_check(&kiln);
        let cached = round == "cached";
        let expected: BTreeMap<String, (String, bool)> = [
            ("checkenv/multi/alpha", "success"),
            ("checkenv/multi/beta", "script-error"),
            ("checkenv-debug/multi/alpha", "success"),
            ("checkenv-debug/multi/beta", "script-error"),
        ]
        .into_iter()
        .map(|(k, c)| (k.to_owned(), (c.to_owned(), cached)))
        .collect();
        assert_eq!(results, expected, "{round} run: {}", text(&output));
    }
}

/// Containers by check, from the newest job record: `<flavor>/<check>` → container ids.
fn containers_by_check(kiln: &Kiln) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in newest_results(kiln) {
        if let Some(id) = r["container"].as_str() {
            out.entry(r["check"].as_str().unwrap().to_owned())
                .or_default()
                .insert(id.to_owned());
        }
    }
    out
}

/// Two checks that share an environment with different mounts each keep their own
/// container with --keep-env, and the next run adopts both (one used to remove the
/// other's as stale, depending on which started first); a run without --keep-env
/// removes them all.
#[test]
fn checks_sharing_an_environment_keep_their_own_containers() {
    let kiln = workspace("check-share");
    let readonly = r#"
    check "readonly" {
        image "release"
        entities "data/entities/*/metadata.yml" key="key"
        filter "type" "system_model"
        mount "data" "/data" readonly=#true
        run "true"
    }
"#;
    kiln.add_to_flavor("checkenv", readonly);
    let run = |extra: &[&str]| {
        let output = kiln
            .command()
            .args(["check", "--flavor", "checkenv", "--force", "-j", "2"])
            .args(["hello", "lorenz"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        containers_by_check(&kiln)
    };
    let first = run(&["--keep-env"]);
    assert_eq!(first.len(), 2, "{first:?}");
    let rw = &first["checkenv/entities"];
    let ro = &first["checkenv/readonly"];
    assert_eq!((rw.len(), ro.len()), (1, 1), "{first:?}");
    assert_ne!(rw, ro, "other mounts, another container");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for id in rw.iter().chain(ro) {
        assert!(runtime.block_on(container_exists(id)), "{id} was kept");
    }
    let second = run(&["--keep-env"]);
    assert_eq!(second, first, "both kept containers were adopted");
    let third = run(&[]);
    assert_eq!(third, first);
    for id in rw.iter().chain(ro) {
        assert!(!runtime.block_on(container_exists(id)), "{id} was removed");
    }
}

/// `kiln check KEY` with a metadata file that cannot be read shows that file's error
/// before anything is built, not "no entity has the key".
#[test]
fn a_broken_metadata_file_is_reported_before_anything_runs() {
    let kiln = workspace("check-bad-meta");
    std::fs::write(
        kiln.path("data/entities/lorenz/metadata.yml"),
        "key: [unclosed\n",
    )
    .unwrap();
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "hello"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("kiln::check::metadata") && shown.contains("lorenz/metadata.yml"),
        "{shown}"
    );
    assert!(!shown.contains("no entity has the key"), "{shown}");
    assert!(kiln.jobs().is_empty(), "nothing ran");
}

/// An entity that cannot run (here: a placeholder its metadata lacks) fails its node;
/// the other entities' results are recorded all the same.
#[test]
fn the_results_of_the_entities_that_ran_are_recorded() {
    let kiln = workspace("check-partial");
    let partial = r#"
    check "partial" {
        image "release"
        entities "data/partial/*.yml" key="key"
        run "sh" "-c" "echo {{ entity.extra }}"
    }
"#;
    kiln.add_to_flavor("checkenv", partial);
    std::fs::create_dir_all(kiln.path("data/partial")).unwrap();
    std::fs::write(
        kiln.path("data/partial/alpha.yml"),
        "key: alpha\nextra: 1\n",
    )
    .unwrap();
    std::fs::write(kiln.path("data/partial/beta.yml"), "key: beta\n").unwrap();
    let output = kiln
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "--check",
            "partial",
            "--keep-going",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("kiln::check::template"),
        "{}",
        text(&output)
    );
    let results = classes_by_check(&kiln);
    assert_eq!(
        results,
        BTreeMap::from([(
            "checkenv/partial/alpha".to_owned(),
            ("success".to_owned(), false)
        )]),
        "{}",
        text(&output)
    );
    let history = kiln.ok(&["results", "alpha"]);
    assert!(String::from_utf8_lossy(&history.stdout).contains("success"));

    // A workflow's report lists the entity that could not run as not done.
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/partial.kdl"),
        "workflow \"partial\" {\n    check flavor=\"checkenv\" name=\"partial\"\n    report junit=\"reports/junit.xml\"\n}\n",
    )
    .unwrap();
    let output = kiln
        .command()
        .args(["run", "partial", "--keep-going"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let junit = std::fs::read_to_string(kiln.path("reports/junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"checkenv/partial/beta\"") && junit.contains("type=\"not-done\""),
        "{junit}"
    );
    assert!(junit.contains("name=\"alpha\""), "{junit}");
}

/// The host pids of the processes in this workspace's environment containers whose
/// command line holds `needle`.
fn container_processes(kiln: &Kiln, needle: &str) -> Vec<u32> {
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let ids = std::process::Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=io.kiln.owner={owner}"))
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ids.iter().any(|id| cgroup.contains(id.as_str()))
            && String::from_utf8_lossy(&cmdline).contains(needle)
        {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
}

/// The daemon reports an exec's pid in its own pid namespace. kiln in a pid namespace of
/// its own (as in a CI container with the docker socket mounted) must not signal
/// whatever process has that number on its side when a check times out: here a victim
/// placed at exactly that pid survives, and the timed-out command is still ended.
#[test]
fn a_timeout_never_signals_a_process_outside_the_container() {
    let kiln = workspace("pidns");
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let kiln_binary = assert_cmd::cargo::cargo_bin("kiln");
    let script = format!(
        "{} --workspace {} check --flavor checkenv slow_solver; echo $? > {}; sleep 60",
        kiln_binary.display(),
        kiln.root().display(),
        kiln.path("exit-code").display(),
    );
    let mut namespace = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &script])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The namespace's first process (pid 1 inside): the child of `unshare`.
    let started = std::time::Instant::now();
    let (init, exec_pid) = loop {
        assert!(started.elapsed().as_secs() < 60, "the check did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let init = std::fs::read_to_string(format!("/proc/{}/task/{0}/children", namespace.id()))
            .ok()
            .and_then(|c| c.split_whitespace().next().map(str::to_owned));
        let exec = container_processes(&kiln, "slow_solver").first().copied();
        if let (Some(init), Some(exec)) = (init, exec) {
            break (init, exec);
        }
    };
    // A victim in kiln's pid namespace, at the number the daemon gives the exec.
    let victim_file = kiln.path("victim");
    let victim_script = format!(
        "echo {} > /proc/sys/kernel/ns_last_pid; sleep 120 & echo $! > {}; wait $!; echo ended >> {1}",
        exec_pid - 1,
        victim_file.display()
    );
    let mut victim = std::process::Command::new("nsenter")
        .args([
            "--target",
            &init,
            "--pid",
            "--mount",
            "sh",
            "-c",
            &victim_script,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let placed = loop {
        if let Ok(text) = std::fs::read_to_string(&victim_file)
            && let Some(line) = text.lines().next()
        {
            break line.trim().to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let exit_file = kiln.path("exit-code");
    while !exit_file.exists() {
        assert!(started.elapsed().as_secs() < 90, "the check did not end");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let victim_text = std::fs::read_to_string(&victim_file).unwrap();
    // Ending the namespace's first process ends every process in it, the victim too.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &init])
        .status();
    let _ = namespace.kill();
    let _ = namespace.wait();
    let _ = victim.kill();
    let _ = victim.wait();
    assert_eq!(
        placed,
        exec_pid.to_string(),
        "the victim sits at the exec's pid (a thread of kiln took the number otherwise)"
    );
    assert!(
        !victim_text.contains("ended"),
        "the process at the exec's pid in kiln's namespace was not signalled: {victim_text}"
    );
    assert_eq!(
        std::fs::read_to_string(&exit_file).unwrap().trim(),
        "1",
        "the timeout fails the check"
    );
    assert!(
        container_processes(&kiln, "slow_solver").is_empty(),
        "the timed-out command no longer runs in its container"
    );
    let job = kiln.jobs().pop().unwrap();
    let results =
        std::fs::read_to_string(job.join("results/checkenv-entities/results.json")).unwrap();
    assert!(results.contains("\"timeout\""), "{results}");
}

/// Two runs on one workspace at once (`kiln check --force` twice, or `watch` beside
/// `check`) share an environment container; the first to finish must not remove it
/// under the other, whose entities would then fail (exit 137, "OCI runtime exec
/// failed") and have that cached as their result.
#[test]
fn two_runs_at_once_do_not_tear_down_each_others_environment() {
    let kiln = Kiln::new("two-runs", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "pair" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "sleep 2; echo fine"
    }
"#,
    );
    for key in ["e1", "e2", "e3", "e4"] {
        std::fs::create_dir_all(kiln.path(&format!("data/{key}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("data/{key}/metadata.yml")),
            format!("key: {key}\n"),
        )
        .unwrap();
    }
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let args = [
        "check", "--flavor", "checkenv", "--check", "pair", "--force", "-j", "2",
    ];
    let first = kiln
        .process()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The second starts while the first runs its entities, and ends after it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let second = kiln.command().args(args).output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    // Every result of both runs is a success, and so is what the cache now serves.
    let mut records: Vec<Value> = Vec::new();
    for job in kiln.jobs() {
        let file = job.join("results/checkenv-pair/results.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            records.push(serde_json::from_str(&text).unwrap());
        }
    }
    assert_eq!(records.len(), 2, "two check runs");
    for record in &records {
        for result in record["results"].as_array().unwrap() {
            assert_eq!(result["class"], "success", "{result}");
        }
    }
    let cached = kiln.ok(&["check", "--flavor", "checkenv", "--check", "pair"]);
    assert!(text(&cached).contains("4 success"), "{}", text(&cached));
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let left = tokio::runtime::Runtime::new().unwrap().block_on(async {
        common::docker::daemon()
            .await
            .containers_with_label(kiln::docker::labels::OWNER, &owner)
            .await
            .unwrap()
    });
    assert!(
        left.is_empty(),
        "the last run removed the container: {left:?}"
    );
}

/// Two `kiln check` runs of one workspace started at the same moment share one
/// environment container: finding it and starting it is one step across runs (two runs
/// started 0.3 s apart each started a container of their own).
#[test]
fn two_runs_started_at_once_share_one_environment_container() {
    let kiln = Kiln::new("two-at-once", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "twin" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "sleep 1; echo fine"
    }
"#,
    );
    std::fs::create_dir_all(kiln.path("data/e1")).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let args = [
        "check", "--flavor", "checkenv", "--check", "twin", "--force",
    ];
    let spawn = || {
        kiln.process()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let mut used = BTreeSet::new();
    let mut runs = 0;
    for job in kiln.jobs() {
        let Ok(record) = std::fs::read_to_string(job.join("results/checkenv-twin/results.json"))
        else {
            continue;
        };
        runs += 1;
        let record: Value = serde_json::from_str(&record).unwrap();
        for result in record["results"].as_array().unwrap() {
            assert_eq!(result["class"], "success", "{result}");
            assert_eq!(result["cached"], false, "both ran it: {result}");
            used.insert(result["container"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(runs, 2, "two check runs");
    assert_eq!(
        used.len(),
        1,
        "one environment container for both runs: {used:?}\n{}\n{}",
        text(&first),
        text(&second)
    );
}

/// An entity whose environment container is removed while it runs failed because of
/// the machine, not of itself: the run says so and nothing is cached, so the next run
/// runs it again.
#[test]
fn a_result_from_a_removed_environment_is_never_cached() {
    let kiln = Kiln::new("env-lost", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "lost" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "sleep 3; echo fine"
    }
"#,
    );
    std::fs::create_dir_all(kiln.path("data/e1")).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let args = ["check", "--flavor", "checkenv", "--check", "lost"];
    let run = kiln
        .process()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    runtime.block_on(async {
        let daemon = common::docker::daemon().await;
        loop {
            assert!(started.elapsed().as_secs() < 60, "no container started");
            let containers = daemon
                .containers_with_label(kiln::docker::labels::OWNER, &owner)
                .await
                .unwrap();
            if let Some(container) = containers.first() {
                // Inside the entity's 3 s sleep.
                tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
                daemon.remove_container(&container.id).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let output = run.wait_with_output().unwrap();
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("went away while it ran"),
        "{}",
        text(&output)
    );
    let again = kiln.ok(&args);
    assert!(
        text(&again).contains("1 success") && text(&again).contains("(0 cached)"),
        "run again, not served from the cache: {}",
        text(&again)
    );
}

/// Artifacts are copied as what they are inside the entity folder: a symlink out of it
/// (`_data/leak -> /etc/hostname`) is skipped and named, a link loop is a link, a FIFO
/// is not read (it would block for ever). Before, the leak copied a host file into the
/// job record and the loop hung kiln at 100 % CPU.
#[test]
fn artifacts_never_leave_the_entity_folder_nor_hang() {
    let kiln = Kiln::new("artifacts", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "art" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "true"
        artifacts "_data/**"
    }
"#,
    );
    let data = kiln.path("data/e1/_data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    std::fs::write(data.join("ok.txt"), "fine\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", data.join("leak")).unwrap();
    std::os::unix::fs::symlink(".", data.join("loop")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(data.join("pipe"))
        .status()
        .unwrap();
    assert!(fifo.success());
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let mut child = kiln
        .process()
        .args(["check", "--flavor", "checkenv", "--check", "art"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (code, _) = exit_within(&mut child, std::time::Duration::from_secs(60));
    assert!(code.is_some(), "kiln hung copying artifacts");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("_data/leak: a symlink to /etc/hostname leaves the entity folder"),
        "{}",
        text(&output)
    );
    let artifacts = kiln.jobs().pop().unwrap().join("artifacts/e1/_data");
    assert_eq!(
        std::fs::read_to_string(artifacts.join("ok.txt")).unwrap(),
        "fine\n"
    );
    assert!(
        std::fs::symlink_metadata(artifacts.join("leak")).is_err(),
        "no host file in the job record"
    );
    assert!(
        std::fs::symlink_metadata(artifacts.join("loop"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the loop is kept as the link it is"
    );
    assert!(std::fs::symlink_metadata(artifacts.join("pipe")).is_err());
}

/// With a daemon elsewhere, artifacts come back through the daemon's archive of the
/// entity folder, where the second name of a hard-linked file is a link entry naming
/// the first: both names come back, with the same content (only the first did). The
/// daemon is the real one, reached over TCP by a kiln running under another host name
/// (`unshare --uts`), so kiln copies as it does for a daemon on another machine.
#[test]
fn hard_linked_artifacts_come_back_from_a_daemon_elsewhere() {
    let kiln = Kiln::new("hardlinks", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "linked" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "cd {{ entity.dir }} && mkdir -p _data && echo linked-content > _data/a && ln _data/a _data/b"
        artifacts "_data/*"
    }
"#,
    );
    std::fs::create_dir_all(kiln.path("data/e1")).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let inner = kiln.process();
    let mut elsewhere = std::process::Command::new("unshare");
    elsewhere
        .args([
            "--uts",
            "sh",
            "-c",
            "hostname kiln-hardlinks && exec \"$@\"",
            "sh",
        ])
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(inner.get_current_dir().unwrap())
        .env("DOCKER_HOST", common::proxy::tcp_to_daemon());
    for (name, value) in inner.get_envs() {
        match value {
            Some(value) => elsewhere.env(name, value),
            None => elsewhere.env_remove(name),
        };
    }
    let output = elsewhere
        .args(["-v", "check", "--flavor", "checkenv", "--check", "linked"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("is not on this machine"),
        "copies, not bind mounts: {}",
        text(&output)
    );
    assert!(
        !kiln.path("data/e1/_data").exists(),
        "nothing written into the folder here"
    );
    let artifacts = kiln.jobs().pop().unwrap().join("artifacts/e1/_data");
    for name in ["a", "b"] {
        assert_eq!(
            std::fs::read_to_string(artifacts.join(name)).unwrap_or_default(),
            "linked-content\n",
            "{name}: {}",
            text(&output)
        );
    }
}

/// A command printing 30 MB leaves a log of at most 10 MiB: its head and tail with a
/// line saying what was cut. Keys that differ only in characters a file name cannot
/// hold (`big one`, `big_one`) keep a log each.
#[test]
fn logs_are_bounded_and_never_shared() {
    let kiln = Kiln::new("biglog", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "big" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "yes kiln-output-line | head -c 30000000; echo THE-END"
    }
"#,
    );
    for (folder, key) in [("one", "big one"), ("two", "big_one")] {
        std::fs::create_dir_all(kiln.path(&format!("data/{folder}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("data/{folder}/metadata.yml")),
            format!("key: \"{key}\"\n"),
        )
        .unwrap();
    }
    kiln.ok(&["build", "--flavor", "checkenv"]);
    kiln.ok(&["check", "--flavor", "checkenv", "--check", "big"]);
    let logs: Vec<std::path::PathBuf> = std::fs::read_dir(kiln.jobs().pop().unwrap().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("check-checkenv-big-")
        })
        .collect();
    assert_eq!(logs.len(), 2, "one log per key: {logs:?}");
    for log in &logs {
        let size = std::fs::metadata(log).unwrap().len();
        assert!(
            size <= 10 * 1024 * 1024 + 200,
            "{} is {size} bytes",
            log.display()
        );
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.starts_with("kiln-output-line\n"));
        assert!(
            text.contains("bytes of output cut here"),
            "says what was cut"
        );
        assert!(text.trim_end().ends_with("THE-END"), "keeps the tail");
    }
}

/// An entity is done when its output closes: a child the command leaves in the
/// background holding its stdout is waited for, and what it prints later is in the log
/// (the daemon stops reading an exec's output 2 s after its first process exits, so
/// `late` after 3 s was lost and the entity a success at once); one that never closes
/// it is ended by the timeout, classed `timeout`.
#[test]
fn a_background_child_holding_the_output_is_waited_for_until_the_timeout() {
    let kiln = Kiln::new("background", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "bg" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sh" "-c" "{{ entity.script }}"
        timeout "8s"
    }
"#,
    );
    for (key, script) in [
        ("late", "(sleep 3; echo late) & echo early"),
        ("held", "(sleep 60; echo never) & echo early"),
    ] {
        std::fs::create_dir_all(kiln.path(&format!("data/{key}"))).unwrap();
        std::fs::write(
            kiln.path(&format!("data/{key}/metadata.yml")),
            format!("key: {key}\nscript: \"{script}\"\n"),
        )
        .unwrap();
    }
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let started = std::time::Instant::now();
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "--check", "bg"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "the timeout ends the held entity: {:?}",
        started.elapsed()
    );
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "one timeout: {shown}");
    let job = kiln.jobs().pop().unwrap();
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(job.join("results/checkenv-bg/results.json")).unwrap(),
    )
    .unwrap();
    let results: BTreeMap<&str, &Value> = record["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap(), r))
        .collect();
    let classes: BTreeMap<&str, &str> = results
        .iter()
        .map(|(key, r)| (*key, r["class"].as_str().unwrap()))
        .collect();
    assert_eq!(
        classes,
        BTreeMap::from([("held", "timeout"), ("late", "success")]),
        "{shown}"
    );
    let log = |key: &str| std::fs::read_to_string(results[key]["log"].as_str().unwrap()).unwrap();
    let late = log("late");
    assert!(
        late.contains("early\n") && late.contains("late\n"),
        "the later output is in the log: {late:?}"
    );
    let held = log("held");
    assert!(held.contains("early\n"), "{held:?}");
    assert!(held.contains("timed out after 8s"), "{held:?}");
    assert!(!held.contains("never"), "{held:?}");
}

/// A tiny tmpfs mounted over a folder for as long as it lives.
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    /// Mounts 16 KiB at `dir` and fills it.
    fn at(dir: &Path) -> FullDisk {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            mounted.success(),
            "mounting a tmpfs (the tests run as root)"
        );
        let disk = FullDisk(dir.to_owned());
        let mut n = 0;
        while std::fs::write(dir.join(format!("fill{n}")), vec![0u8; 1024]).is_ok() {
            n += 1;
        }
        disk
    }

    /// Every file left below the mount but the filling.
    fn files(&self) -> Vec<String> {
        let mut files = Vec::new();
        let mut stack = vec![self.0.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if !entry.file_name().to_string_lossy().starts_with("fill") {
                    let size = std::fs::metadata(&path).unwrap().len();
                    files.push(format!("{} ({size} bytes)", path.display()));
                }
            }
        }
        files
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A full job folder: the run fails with `record_incomplete` (it exited 0 with an empty
/// summary.json), and no half-written or temporary file is left (a check left
/// results.json.tmp-* and said "no entity has the key").
#[test]
fn a_full_job_folder_fails_the_run_and_leaves_no_half_files() {
    let kiln = Kiln::new("fulldisk", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "quick" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "true"
    }
"#,
    );
    std::fs::create_dir_all(kiln.path("data/e1")).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    kiln.ok(&["build", "--flavor", "checkenv"]);
    let disk = FullDisk::at(&kiln.path(".kiln/jobs"));
    let build = kiln
        .command()
        .args(["build", "--flavor", "checkenv"])
        .output()
        .unwrap();
    assert_eq!(build.status.code(), Some(1), "{}", text(&build));
    assert!(
        text(&build).contains("kiln::cli::record_incomplete"),
        "{}",
        text(&build)
    );
    let check = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "--check", "quick", "e1"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        !text(&check).contains("no entity has the key"),
        "{}",
        text(&check)
    );
    // Whole files (summary, results) are whole or absent; streams (events, logs) may
    // stop short, which the run said.
    let files = disk.files();
    assert!(
        files
            .iter()
            .all(|f| !(f.contains(".tmp-") || f.contains(".json (") && f.ends_with("(0 bytes)"))),
        "no temporary file, no empty summary or results: {files:?}"
    );
}

/// A check killed with SIGKILL cannot remove its environment container; the next run on
/// the workspace finds it (not kept, no run holds its lease) and removes it.
#[test]
fn the_containers_of_a_killed_run_are_removed_by_the_next_run() {
    let kiln = Kiln::new("killed", &["checkenv", "checkenv-debug"], None);
    kiln.add_to_flavor(
        "checkenv",
        r#"
    check "slow" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data"
        run "sleep" "60"
    }
"#,
    );
    // Another environment (slot): a run of it does not touch checkenv's containers for
    // any other reason.
    kiln.add_to_flavor(
        "checkenv-debug",
        r#"
    check "quick" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        run "true"
    }
"#,
    );
    std::fs::create_dir_all(kiln.path("data/e1")).unwrap();
    std::fs::write(kiln.path("data/e1/metadata.yml"), "key: e1\n").unwrap();
    kiln.ok(&["build"]);
    let mut slow = kiln
        .process()
        .args(["check", "--flavor", "checkenv", "--check", "slow"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = runtime.block_on(common::docker::daemon());
    let containers = || {
        runtime
            .block_on(daemon.containers_with_label(kiln::docker::labels::OWNER, &owner))
            .unwrap()
    };
    let started = std::time::Instant::now();
    let orphan = loop {
        assert!(started.elapsed().as_secs() < 60, "no container started");
        if let Some(container) = containers().into_iter().next() {
            break container.id;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    slow.kill().unwrap();
    slow.wait().unwrap();
    assert!(
        containers().iter().any(|c| c.id == orphan),
        "a killed run leaves its container"
    );
    kiln.ok(&[
        "check",
        "--flavor",
        "checkenv-debug",
        "--check",
        "quick",
        "--force",
    ]);
    let left = containers();
    assert!(
        left.iter().all(|c| c.id != orphan),
        "the next run removed the orphan: {left:?}"
    );
}

/// A Unix socket in front of the Docker daemon that passes everything through until
/// [`HungDaemon::hang`], then stops answering as a hung daemon does: it takes new
/// connections and never answers them, and forwards nothing more on the open ones,
/// which it never closes.
struct HungDaemon {
    dir: tempfile::TempDir,
    hung: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HungDaemon {
    fn start() -> HungDaemon {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let listener =
            std::os::unix::net::UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let hung = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (hung_, stop_) = (Arc::clone(&hung), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop_.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                if hung_.load(Ordering::Relaxed) {
                    held.push(client);
                    continue;
                }
                let daemon =
                    std::os::unix::net::UnixStream::connect("/var/run/docker.sock").unwrap();
                for (from, to) in [
                    (client.try_clone().unwrap(), daemon.try_clone().unwrap()),
                    (daemon, client),
                ] {
                    let (hung, stop) = (Arc::clone(&hung_), Arc::clone(&stop_));
                    std::thread::spawn(move || pump(from, to, &hung, &stop));
                }
            }
        });
        HungDaemon { dir, hung, stop }
    }

    /// DOCKER_HOST for it.
    fn address(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn hang(&self) {
        self.hung.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for HungDaemon {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until the daemon hangs, then swallows what comes; holds both
/// open until `stop`.
fn pump(
    mut from: std::os::unix::net::UnixStream,
    mut to: std::os::unix::net::UnixStream,
    hung: &std::sync::atomic::AtomicBool,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    from.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut open = true;
    while !stop.load(Ordering::Relaxed) {
        if !open {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => open = false,
            Ok(n) if !hung.load(Ordering::Relaxed) => {
                if to.write_all(&buffer[..n]).is_err() {
                    open = false;
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => open = false,
        }
    }
}

/// A workspace with its images built, and a check `hang` of one entity whose command
/// prints `started` and sleeps; `timeout` is the check's timeout line, if any.
fn hang_workspace(test: &str, timeout: &str) -> Kiln {
    let kiln = workspace(test);
    kiln.add_to_flavor(
        "checkenv",
        &format!(
            r#"
    check "hang" {{
        image "release"
        entities "data/entities/hel*/metadata.yml" key="key"
        run "sh" "-c" "echo started; sleep 600"
        {timeout}
    }}
"#
        ),
    );
    kiln.ok(&["build", "--flavor", "checkenv"]);
    kiln
}

/// `kiln check --check hang` through `daemon`, with `env`; returns once its command
/// printed `started`, with the files its stdout and stderr go to.
fn start_hang_check(
    kiln: &Kiln,
    daemon: &HungDaemon,
    env: &[(&str, &str)],
) -> (std::process::Child, std::path::PathBuf) {
    let stderr = kiln.path("stderr.txt");
    let mut command = kiln.process();
    command
        .args(["check", "--flavor", "checkenv", "--check", "hang"])
        .env_remove("KILN_DOCKER_TIMEOUT")
        .env("DOCKER_HOST", daemon.address())
        .envs(env.iter().copied())
        .stdout(std::fs::File::create(kiln.path("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = command.spawn().unwrap();
    let started = std::time::Instant::now();
    loop {
        let printed = kiln.jobs().iter().any(|job| {
            std::fs::read_dir(job.join("logs"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|log| std::fs::read_to_string(log.path()).is_ok_and(|t| t.contains("started")))
        });
        if printed {
            return (child, stderr);
        }
        if started.elapsed().as_secs() > 60 || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the command never started: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A daemon that hangs while a command runs: the command's 3 s timeout is kiln's clock,
/// and killing it waits for the daemon at most the grace (5 s), so the run ends in
/// seconds, naming the daemon that did not answer. (It took 8 minutes: every call after
/// the timeout — the kill, the final inspect, the pool's shutdown — waited out bollard's
/// 2 minutes.)
#[test]
fn a_timeout_holds_when_the_daemon_hangs_mid_command() {
    let kiln = hang_workspace("hang-timeout", r#"timeout "3s""#);
    // 3 s timeout + 5 s grace for the kill + 5 s for the pool to list its containers.
    hang_ends_the_run(
        &kiln,
        &[("KILN_DOCKER_TIMEOUT", "10")],
        "timed out after 3s",
    );
}

/// A command without output on a daemon that stops answering: each silence of
/// KILN_DOCKER_TIMEOUT the daemon is pinged, and one that does not answer ends the run.
/// (It waited for the command's output forever.)
#[test]
fn a_daemon_that_hangs_under_a_silent_command_is_reported() {
    let kiln = hang_workspace("hang-silent", "");
    // 3 s of silence + 3 s for the ping + 3 s for the pool to list its containers.
    hang_ends_the_run(
        &kiln,
        &[("KILN_DOCKER_TIMEOUT", "3")],
        "did not answer within 3 s (running a command",
    );
}

/// Starts the `hang` check with `env`, makes the daemon hang, and expects the run to
/// end within 20 s with exit 1, naming the daemon that did not answer and `says`.
fn hang_ends_the_run(kiln: &Kiln, env: &[(&str, &str)], says: &str) {
    let daemon = HungDaemon::start();
    let (mut child, stderr) = start_hang_check(kiln, &daemon, env);
    daemon.hang();
    let (code, took) = exit_within(&mut child, std::time::Duration::from_secs(60));
    let shown = std::fs::read_to_string(stderr).unwrap();
    assert!(
        code.is_some(),
        "still running {took:?} after the daemon hung:\n{shown}"
    );
    assert!(took.as_secs() < 20, "took {took:?}:\n{shown}");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("kiln::docker::not_answering")
            && shown.contains(&daemon.address())
            && shown.contains(says),
        "{shown}"
    );
}

/// A daemon that dies as a command starts in its environment (the exec's start
/// answered with nothing): the check fails as `kiln::docker::unreachable` naming the
/// daemon, and so does the clean-up's listing — never raw hyper text (it was
/// `request_failed … connection closed before message completed`).
#[test]
fn a_daemon_lost_mid_check_is_named() {
    let kiln = hang_workspace("lost-check", "");
    let starting = |request: &str| request.contains("/exec/") && request.contains("/start");
    let proxy = common::proxy::dying_daemon(starting, 0);
    let mut child = kiln
        .process()
        .args(["check", "--flavor", "checkenv", "--check", "hang"])
        .env("DOCKER_HOST", proxy.docker_host())
        .stdout(std::fs::File::create(kiln.path("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(kiln.path("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let (code, took) = exit_within(&mut child, std::time::Duration::from_secs(60));
    let shown = std::fs::read_to_string(kiln.path("stderr.txt")).unwrap();
    assert_eq!(code, Some(1), "after {took:?}: {shown}");
    let address = proxy.docker_host();
    assert!(
        shown.contains("kiln::docker::unreachable")
            && shown.contains(&format!("cannot reach the Docker daemon at {address}"))
            && shown.contains("running a command in"),
        "{shown}"
    );
    for raw in [
        "hyper",
        "client error",
        "request_failed",
        "connection closed before message",
    ] {
        assert!(!shown.contains(raw), "`{raw}` shown: {shown}");
    }
}

/// Ctrl-C 5 s into a command on a daemon that hung, with the default timeouts: the run
/// ends within a second of the interrupt, exit 130, leaving one line that names the
/// environment container that may remain and how to remove it. (It ended 8 minutes
/// later, then 30 s later.)
#[test]
fn an_interrupt_ends_a_run_whose_daemon_hangs() {
    let kiln = hang_workspace("hang-interrupt", "");
    let daemon = HungDaemon::start();
    let (mut child, stderr) = start_hang_check(&kiln, &daemon, &[]);
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let containers = runtime.block_on(async {
        common::docker::daemon()
            .await
            .containers_with_label(kiln::docker::labels::OWNER, &owner)
            .await
            .unwrap()
    });
    assert_eq!(containers.len(), 1, "{containers:?}");
    daemon.hang();
    std::thread::sleep(std::time::Duration::from_secs(5));
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let (code, took) = exit_within(&mut child, std::time::Duration::from_secs(60));
    let shown = std::fs::read_to_string(stderr).unwrap();
    eprintln!("exit {code:?} {took:?} after the interrupt");
    assert!(
        code.is_some(),
        "still running {took:?} after the interrupt:\n{shown}"
    );
    assert_eq!(code, Some(130), "{shown}");
    // A second is the promise; the slack is for a loaded machine.
    assert!(took.as_millis() < 1500, "took {took:?}:\n{shown}");
    let id = &containers[0].id[..12];
    let remain: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("environment containers of this run may remain"))
        .collect();
    assert_eq!(remain.len(), 1, "one line: {shown}");
    assert!(
        remain[0].contains(&daemon.address())
            && remain[0].contains(id)
            && remain[0].contains("kiln clean")
            && remain[0].contains(&format!("docker rm -f {id}")),
        "{shown}"
    );
}

#[test]
fn result_keys_hold_content_only_so_another_checkout_on_another_builder_reuses_them() {
    let first = workspace("keys-a");
    let (_, results) = check(&first, &["hello", "lorenz"]);
    assert_eq!(cached(&results), BTreeSet::new());
    // Another checkout, at another path with another repository, whose environment
    // images the classic builder makes anew (other image ids, the same content), and
    // the first checkout's result cache.
    let second = workspace("keys-b");
    copy_dir(&first.path(".kiln/results"), &second.path(".kiln/results"));
    let output = second
        .command()
        .args([
            "--builder",
            "classic",
            "check",
            "--check",
            "entities",
            "--json",
            "hello",
            "lorenz",
        ])
        .output()
        .unwrap();
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let built = events
        .iter()
        .filter(|e| e["kind"] == "succeeded" && e["result"]["tier"] == "built")
        .count();
    assert!(
        built > 0,
        "the second checkout built its own environment: {}",
        text(&output)
    );
    let cached: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["result"]["type"] == "entity" && e["result"]["cached"] == true)
        .filter_map(|e| e["result"]["key"].as_str())
        .collect();
    assert_eq!(
        cached,
        BTreeSet::from(["hello", "lorenz"]),
        "{}",
        text(&output)
    );
}

#[test]
fn partitions_merged_equal_the_full_run_and_a_missing_one_is_refused() {
    let kiln = workspace("partitions");
    let (_, full) = check(&kiln, &[]);
    let classes = |results: &BTreeMap<String, Value>| -> BTreeMap<String, String> {
        results
            .keys()
            .map(|k| (k.clone(), class(results, k)))
            .collect()
    };
    // Two CI jobs: the second names its partition through CircleCI's variables.
    let (_, first) = check(&kiln, &["--force", "--partition", "1/2"]);
    let before = kiln.jobs();
    let second = kiln
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "--force",
            "--partition",
            "auto",
        ])
        .env("CIRCLE_NODE_INDEX", "1")
        .env("CIRCLE_NODE_TOTAL", "2")
        .output()
        .unwrap();
    let second_job = kiln
        .jobs()
        .into_iter()
        .find(|j| !before.contains(j))
        .unwrap();
    let second_results: Value = serde_json::from_str(
        &std::fs::read_to_string(second_job.join("results/checkenv-entities/results.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(second_results["partition"]["index"], 2, "{}", text(&second));
    let first_keys: BTreeSet<&String> = first.keys().collect();
    let second_keys: BTreeSet<String> = second_results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(!first_keys.is_empty() && !second_keys.is_empty());
    assert!(
        first_keys.iter().all(|k| !second_keys.contains(*k)),
        "disjoint"
    );
    assert_eq!(
        first_keys.len() + second_keys.len(),
        full.len(),
        "together, all"
    );

    let jobs = kiln.jobs();
    let (first_job, second_job) = (&jobs[jobs.len() - 2], &jobs[jobs.len() - 1]);
    let html = kiln.path("merged/index.html");
    let output = kiln
        .command()
        .args(["results", "merge"])
        .args([first_job, second_job])
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "failing entities fail the merge's exit: {}",
        text(&output)
    );
    assert!(
        text(&output).contains("merged 8 entities"),
        "{}",
        text(&output)
    );
    assert!(html.exists());
    let merged_job = kiln.jobs().pop().unwrap();
    let merged: Value = serde_json::from_str(
        &std::fs::read_to_string(merged_job.join("results/checkenv-entities/results.json"))
            .unwrap(),
    )
    .unwrap();
    let merged: BTreeMap<String, Value> = merged["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    assert_eq!(classes(&merged), classes(&full), "entity by entity");
    assert!(
        merged_job
            .join("results/checkenv-entities/results.yml")
            .exists()
    );

    // One partition only: the others' entities are missing; the same one twice: duplicates.
    for (dirs, code) in [
        (vec![first_job], "kiln::results::merge_missing"),
        (
            vec![first_job, first_job, second_job],
            "kiln::results::merge_duplicate",
        ),
    ] {
        let mut copies = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let copy = kiln.path(&format!("copies/{i}"));
            copy_dir(dir, &copy);
            copies.push(copy);
        }
        let output = kiln
            .command()
            .args(["results", "merge"])
            .args(&copies)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(text(&output).contains(code), "{}", text(&output));
        std::fs::remove_dir_all(kiln.path("copies")).unwrap();
    }

    // A ninth entity the check does not have, added to the second partition's results:
    // refused (it was merged silently: 9 for a check of 8), naming the file.
    let (first_copy, second_copy) = (kiln.path("copies/0"), kiln.path("copies/1"));
    copy_dir(first_job, &first_copy);
    copy_dir(second_job, &second_copy);
    let file = second_copy.join("results/checkenv-entities/results.json");
    let mut forged: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let results = forged["results"].as_array_mut().unwrap();
    let mut ninth = results[0].clone();
    ninth["key"] = Value::from("not-an-entity");
    results.push(ninth);
    std::fs::write(&file, serde_json::to_string(&forged).unwrap()).unwrap();
    let jobs_before = kiln.jobs();
    let output = kiln
        .command()
        .args(["results", "merge"])
        .args([&first_copy, &second_copy])
        .output()
        .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("kiln::results::merge_unknown") && shown.contains("not-an-entity"),
        "{shown}"
    );
    assert!(
        shown.contains(&file.display().to_string()),
        "names the partition's file: {shown}"
    );
    assert_eq!(kiln.jobs(), jobs_before, "nothing is written");
}

#[test]
fn with_recorded_durations_the_longest_entity_starts_first() {
    let kiln = workspace("longest-first");
    check(&kiln, &[]);
    let output = kiln
        .command()
        .args([
            "check", "--flavor", "checkenv", "--force", "--json", "-j", "1",
        ])
        .output()
        .unwrap();
    let started: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "started")
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .filter(|id| id.starts_with("checkenv/entities/"))
        .collect();
    // slow_solver runs into its 5 s timeout: the longest by far.
    assert_eq!(
        started.first().map(String::as_str),
        Some("checkenv/entities/slow_solver"),
        "{started:?}"
    );
}

/// The entities' classes and whether each came from a cache, of the newest job record's
/// `checkenv/entities` results.
fn newest_check_results(kiln: &Kiln) -> BTreeMap<String, (String, bool, Vec<String>)> {
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
            let artifacts = r["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            (
                r["key"].as_str().unwrap().to_owned(),
                (
                    r["class"].as_str().unwrap().to_owned(),
                    r["cached"] == true,
                    artifacts,
                ),
            )
        })
        .collect()
}

#[test]
fn results_travel_through_the_registry_to_another_checkout() {
    let registry = common::docker::Registry::start();
    let first = Kiln::new(
        "travel-a",
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
    let produced = newest_check_results(&first);
    assert!(
        produced.values().all(|(_, cached, _)| !cached),
        "{produced:?}"
    );

    // Another checkout at another path, with its own local repository and an empty
    // .kiln, on the same registry repository: every image pulled, every result fetched.
    let second = Kiln::new("travel-b", &["checkenv", "checkenv-debug"], None);
    copy_dir(&first.path("data"), &second.path("data"));
    let settings = std::fs::read_to_string(first.path("kiln.kdl")).unwrap();
    let registry_line = settings
        .lines()
        .find(|l| l.starts_with("registry"))
        .unwrap();
    std::fs::write(
        second.path("kiln.kdl"),
        format!("repository \"{}\"\n{registry_line}\n", second.repository),
    )
    .unwrap();
    // The plan says so before anything runs: every entity from the registry.
    let planned_sources = |kiln: &Kiln| -> BTreeMap<String, String> {
        let plan = kiln.ok(&["plan", "--checks", "--flavor", "checkenv", "--json"]);
        let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
        plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| {
                let node = n["node"].as_str()?;
                node.starts_with("checkenv/entities/")
                    .then(|| (node.to_owned(), n["source"].as_str().unwrap().to_owned()))
            })
            .collect()
    };
    let sources = planned_sources(&second);
    assert_eq!(sources.len(), 8, "{sources:?}");
    assert!(sources.values().all(|s| s == "registry"), "{sources:?}");
    let output = second
        .command()
        .args(["check", "--flavor", "checkenv", "--json"])
        .output()
        .unwrap();
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["result"]["type"] == "image" && e["result"]["tier"] == "built")
        .count();
    assert_eq!(built, 0, "images come from the registry: {}", text(&output));
    let fetched = newest_check_results(&second);
    assert_eq!(fetched.len(), produced.len());
    for (key, (class, cached, artifacts)) in &fetched {
        assert!(*cached, "{key} was not run again: {}", text(&output));
        assert_eq!(class, &produced[key].0, "{key}");
        assert_eq!(
            artifacts, &produced[key].2,
            "{key}: its artifacts came along"
        );
    }
    let job = second.jobs().pop().unwrap();
    assert!(job.join("artifacts/lorenz/_data/plot.svg").is_file());
    // Now in this machine's result cache.
    assert!(planned_sources(&second).values().all(|s| s == "cache"));
    assert_eq!(
        second.jobs().len(),
        1,
        "plans write no job record, the check one: {:?}",
        second.jobs()
    );
    let log = std::fs::read_to_string(job.join("logs/check-checkenv-entities-hello.log")).unwrap();
    assert!(log.contains("hello from"), "{log}");

    // Turned off: the entities run.
    let _ = second
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "--no-remote-results",
            "--force",
            "hello",
        ])
        .output()
        .unwrap();
    assert!(!newest_check_results(&second)["hello"].1);
}

#[test]
fn a_dead_results_registry_is_warned_about_once_and_the_run_goes_on() {
    let kiln = workspace("dead-results-registry");
    // Nothing listens on port 9 of the loopback.
    std::fs::write(
        kiln.path("kiln.kdl"),
        format!(
            "repository \"{}\"\nregistry \"127.0.0.1:9/kiln\"\n",
            kiln.repository
        ),
    )
    .unwrap();
    let output = kiln
        .command()
        .args([
            "check",
            "--flavor",
            "checkenv",
            "hello",
            "lorenz",
            "spring_mass",
        ])
        .output()
        .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert_eq!(shown.matches("results registry").count(), 1, "{shown}");
    let results = newest_check_results(&kiln);
    assert_eq!(results.len(), 3);
    assert!(
        results
            .values()
            .all(|(class, cached, _)| class == "success" && !cached)
    );
}

#[test]
fn declared_inputs_outside_the_folder_are_part_of_the_key_and_stay_inside_the_workspace() {
    let kiln = workspace("extra-inputs");
    let flavor = kiln.path("flavors/checkenv/flavor.kdl");
    let declared = std::fs::read_to_string(&flavor).unwrap();
    std::fs::write(
        &flavor,
        declared.replace(
            "artifacts \"_data/*\"",
            "artifacts \"_data/*\"\n        inputs \"problems/{{ entity.problem }}/**\"",
        ),
    )
    .unwrap();
    let metadata = kiln.path("data/entities/hello/metadata.yml");
    let original = std::fs::read_to_string(&metadata).unwrap();
    std::fs::write(&metadata, format!("{original}problem: p1\n")).unwrap();
    std::fs::create_dir_all(kiln.path("problems/p1")).unwrap();
    std::fs::write(kiln.path("problems/p1/spec.txt"), "x = 1\n").unwrap();

    let (_, first) = check(&kiln, &["hello"]);
    assert!(!first["hello"]["cached"].as_bool().unwrap());
    let (_, again) = check(&kiln, &["hello"]);
    assert!(
        again["hello"]["cached"].as_bool().unwrap(),
        "nothing changed"
    );

    // The problem it solves changed: the entity runs again, and explain says why.
    std::fs::write(kiln.path("problems/p1/spec.txt"), "x = 2\n").unwrap();
    let output = kiln.ok(&["explain", "checkenv/entities/hello"]);
    let shown = text(&output);
    assert!(shown.contains("would run"), "{shown}");
    assert!(
        shown.contains("input: changed file `problems/p1/spec.txt`"),
        "{shown}"
    );
    let (_, changed) = check(&kiln, &["hello"]);
    assert!(
        !changed["hello"]["cached"].as_bool().unwrap(),
        "an input changed"
    );

    // Metadata that points the glob out of the workspace is refused for that entity.
    std::fs::write(&metadata, format!("{original}problem: ../../etc\n")).unwrap();
    let output = kiln
        .command()
        .args(["check", "--flavor", "checkenv", "hello"])
        .output()
        .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("kiln::check::input_outside"), "{shown}");
}
