//! `kiln watch` as a process, on a temporary workspace and the real daemon: what reruns
//! after a change, a touch, a broken configuration, and a change during a run.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::sandbox::Kiln;
use serde_json::Value;

/// A running `kiln watch … --json`; killed when dropped. Its JSON lines are the watch
/// events (`{"watch": …}`) and the events of each cycle's run.
struct Watch {
    child: Child,
    lines: Receiver<Value>,
}

impl Watch {
    fn start(kiln: &Kiln, workflow: &str) -> Watch {
        Self::start_with(kiln, workflow, &[])
    }

    fn start_with(kiln: &Kiln, workflow: &str, extra: &[&str]) -> Watch {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln"))
            .args([
                "--workspace",
                kiln.root().to_str().unwrap(),
                "watch",
                workflow,
                "--json",
                "--debounce",
                "200",
            ])
            .args(extra)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && sender.send(value).is_err()
                {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next line within `deadline`, or `None` when it passed.
    fn line_by(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).ok()
    }

    /// The next watch event, whatever it is (the run's events on the way skipped).
    fn next(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let line = self
                .line_by(deadline)
                .unwrap_or_else(|| panic!("no watch event within {within:?}"));
            if line.get("watch").is_some() {
                return line;
            }
        }
    }

    /// Waits for the event of the cycle's run that `wanted` accepts (`what` says what it
    /// is), failing on a watch event on the way or when `within` passes.
    fn run_event(&self, what: &str, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let Some(line) = self.line_by(deadline) else {
                panic!("no {what} within {within:?}; the run said: {seen:#?}")
            };
            assert!(
                line.get("watch").is_none(),
                "waiting for {what}, watch said: {line}"
            );
            if wanted(&line) {
                return line;
            }
            seen.push(line);
        }
    }

    /// Skips to the next watch event of `kind`, failing on a `config-error` on the way
    /// or when `within` passes.
    fn expect(&self, kind: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let Some(line) = self.line_by(deadline) else {
                panic!("no `{kind}` watch event within {within:?}")
            };
            if line["watch"] == kind {
                return line;
            }
            assert_ne!(line["watch"], "config-error", "unexpected: {line}");
        }
    }

    /// Sends SIGINT, expects the `stopped` event and returns the exit code.
    fn interrupt(&mut self) -> Option<i32> {
        // SAFETY: kill only sends a signal to the child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) },
            0
        );
        let stopped = self.expect("stopped", LONG);
        assert!(stopped["cycle"].is_u64(), "{stopped}");
        self.child.wait().unwrap().code()
    }

    /// Asserts that watch reports nothing for `quiet`.
    fn silent(&self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while let Some(line) = self.line_by(deadline) {
            assert!(line.get("watch").is_none(), "expected silence, got {line}");
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LONG: Duration = Duration::from_secs(120);

/// Node ids that built in the newest job record of the workspace.
fn built(kiln: &Kiln) -> Vec<String> {
    let job = kiln.jobs().pop().unwrap();
    let events = std::fs::read_to_string(job.join("events.jsonl")).unwrap();
    let mut built: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "succeeded")
        .filter_map(|e| {
            e["id"]
                .as_str()
                .and_then(|id| id.strip_suffix(":build"))
                .map(str::to_owned)
        })
        .collect();
    built.sort();
    built
}

#[test]
fn reruns_what_changed_and_survives_a_broken_config() {
    let kiln = Kiln::new("watch", &["slc"], None);
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/dev.kdl"),
        "workflow \"dev\" {\n    build flavor=\"slc\" goal=\"release\"\n}\n",
    )
    .unwrap();
    let watch = Watch::start(&kiln, "dev");
    assert_eq!(watch.expect("cycle-started", LONG)["cycle"], 1);
    assert_eq!(watch.expect("cycle-finished", LONG)["ok"], true);

    // A content change: that step and what depends on it.
    let file = kiln.path("flavors/slc/flavor_customization/requirements.txt");
    let content = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{content}extra\n")).unwrap();
    let started = watch.expect("cycle-started", LONG);
    assert_eq!(started["cycle"], 2);
    assert_eq!(
        started["trigger"],
        serde_json::json!(["flavors/slc/flavor_customization/requirements.txt"])
    );
    assert_eq!(
        started["changed"],
        serde_json::json!(["slc/flavor_customization", "slc/release"])
    );
    assert_eq!(watch.expect("cycle-finished", LONG)["ok"], true);
    assert_eq!(built(&kiln), ["slc/flavor_customization", "slc/release"]);

    // A save without a content change: nothing.
    std::fs::write(&file, format!("{content}extra\n")).unwrap();
    let nothing = watch.expect("nothing-changed", LONG);
    assert_eq!(
        nothing["trigger"],
        serde_json::json!(["flavors/slc/flavor_customization/requirements.txt"])
    );

    // Kiln's own folders are not watched.
    std::fs::write(kiln.path(".kiln/stray.txt"), "x").unwrap();
    watch.silent(Duration::from_secs(1));

    // A broken configuration: its errors, then waiting; the fix reruns nothing.
    let config = kiln.path("flavors/slc/flavor.kdl");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("needs \"release\"", "needs \"relase\""),
    )
    .unwrap();
    let error = watch.next(LONG);
    assert_eq!(error["watch"], "config-error", "{error}");
    assert!(error["errors"].to_string().contains("relase"), "{error}");
    std::fs::write(&config, &good).unwrap();
    assert_eq!(watch.next(LONG)["watch"], "nothing-changed");

    // And a change after the fix reruns again.
    std::fs::write(kiln.path("flavors/slc/release/release.txt"), "release 2\n").unwrap();
    let started = watch.expect("cycle-started", LONG);
    assert_eq!(started["changed"], serde_json::json!(["slc/release"]));
    assert_eq!(watch.expect("cycle-finished", LONG)["ok"], true);
}

/// A workspace with one flavor of one step (its Dockerfile and files given) and a
/// workflow `dev` that builds it; `flavor_kdl` is the flavor's declaration.
fn one_step(
    test: &str,
    flavor: &str,
    step: &str,
    files: &[(&str, &str)],
    flavor_kdl: &str,
) -> Kiln {
    let kiln = Kiln::new(test, &[], None);
    let dir = kiln.path(&format!("flavors/{flavor}/{step}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    std::fs::write(
        kiln.path(&format!("flavors/{flavor}/flavor.kdl")),
        flavor_kdl,
    )
    .unwrap();
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/dev.kdl"),
        format!("workflow \"dev\" {{\n    build flavor=\"{flavor}\"\n}}\n"),
    )
    .unwrap();
    kiln
}

#[test]
fn a_change_during_a_run_cancels_it() {
    let kiln = one_step(
        "watch-cancel",
        "w",
        "slow",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY busybox /bin/busybox\nCOPY input.txt /input.txt\nRUN [\"/bin/busybox\", \"sleep\", \"4\"]\n",
            ),
            ("input.txt", "v1\n"),
        ],
        "flavor \"w\" {\n    step \"slow\" { include \"/bin/busybox\" as=\"busybox\"; }\n}\n",
    );
    let watch = Watch::start(&kiln, "dev");
    watch.expect("cycle-finished", LONG);

    std::fs::write(kiln.path("flavors/w/slow/input.txt"), "v2\n").unwrap();
    assert_eq!(watch.expect("cycle-started", LONG)["cycle"], 2);
    // The next change comes while the build runs its 4 s RUN.
    watch.run_event("the build of w/slow at its RUN", LONG, |event| {
        event["kind"] == "status"
            && event["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("w/slow"))
            && event["message"].as_str().is_some_and(|m| m.contains("RUN"))
    });
    std::fs::write(kiln.path("flavors/w/slow/input.txt"), "v3\n").unwrap();
    let cancelled = watch.next(LONG);
    assert_eq!(cancelled["watch"], "cycle-cancelled", "{cancelled}");
    assert_eq!(cancelled["cycle"], 2);
    let started = watch.next(LONG);
    assert_eq!(started["watch"], "cycle-started", "{started}");
    assert_eq!(
        started["trigger"],
        serde_json::json!(["flavors/w/slow/input.txt"])
    );
    assert_eq!(watch.expect("cycle-finished", LONG)["ok"], true);
}

/// A check that writes into its own entity folder changes its inputs while it runs:
/// each change cancels the cycle and starts another, and those triggers count toward
/// a storm too, so watch pauses instead of looping for ever.
#[test]
fn a_check_writing_its_own_inputs_pauses_watch() {
    let kiln = Kiln::new("watch-self", &["checkenv", "checkenv-debug"], None);
    let check = r#"
    check "loop" {
        image "release"
        entities "data/*/metadata.yml" key="key"
        mount "data" "/data" readonly=#false
        run "sh" "-c" "cat /proc/uptime > /data/a/stamp.txt; sleep 2"
    }
"#;
    kiln.add_to_flavor("checkenv", check);
    std::fs::create_dir_all(kiln.path("data/a")).unwrap();
    std::fs::write(kiln.path("data/a/metadata.yml"), "key: a\n").unwrap();
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/dev.kdl"),
        "workflow \"dev\" {\n    check flavor=\"checkenv\" name=\"loop\"\n}\n",
    )
    .unwrap();
    let mut watch = Watch::start_with(&kiln, "dev", &["--storm", "2", "--storm-window", "30"]);
    let paused = watch.expect("paused", LONG);
    assert_eq!(paused["trigger"], serde_json::json!(["data/a/stamp.txt"]));
    // Stopped while paused: the event says so, and no container is left.
    assert_eq!(watch.interrupt(), Some(130));
    let owner = kiln::check::docker::pool::owner(&kiln.root().canonicalize().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let left = runtime.block_on(async {
        common::docker::daemon()
            .await
            .containers_with_label(kiln::docker::labels::OWNER, &owner)
            .await
            .unwrap()
    });
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_storm_of_changes_pauses_watch() {
    let kiln = one_step(
        "watch-storm",
        "s",
        "one",
        &[
            ("Dockerfile", "FROM scratch\nCOPY file.txt /file.txt\n"),
            ("file.txt", "same\n"),
        ],
        "flavor \"s\" {\n    step \"one\"\n}\n",
    );
    let watch = Watch::start_with(&kiln, "dev", &["--storm", "2", "--storm-window", "2"]);
    watch.expect("cycle-finished", LONG);
    // Saves without content changes, each seen before the next: the third is a storm.
    for _ in 0..2 {
        std::fs::write(kiln.path("flavors/s/one/file.txt"), "same\n").unwrap();
        watch.expect("nothing-changed", LONG);
    }
    std::fs::write(kiln.path("flavors/s/one/file.txt"), "same\n").unwrap();
    let paused = watch.expect("paused", LONG);
    assert_eq!(
        paused["trigger"],
        serde_json::json!(["flavors/s/one/file.txt"])
    );
    assert_eq!(watch.expect("resumed", LONG)["watch"], "resumed");
}

#[test]
fn a_config_broken_at_start_is_waited_on() {
    let good = "flavor \"b\" {\n    step \"one\"\n}\n";
    let kiln = one_step(
        "watch-broken-start",
        "b",
        "one",
        &[
            ("Dockerfile", "FROM scratch\nCOPY file.txt /file.txt\n"),
            ("file.txt", "one\n"),
        ],
        &good.replace("step \"one\"", "step \"one\" { needs \"zero\"; }"),
    );
    let mut watch = Watch::start(&kiln, "dev");
    let error = watch.next(LONG);
    assert_eq!(error["watch"], "config-error", "{error}");
    assert!(error["errors"].to_string().contains("zero"), "{error}");
    let diagnostic = &error["diagnostics"][0];
    assert_eq!(diagnostic["code"], "kiln::config::unknown_step", "{error}");
    assert!(
        diagnostic["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("flavors/b/flavor.kdl")),
        "{error}"
    );
    assert_eq!(diagnostic["line"], 2, "{error}");
    // Nothing loaded yet, so the fix itself must be seen.
    std::fs::write(kiln.path("flavors/b/flavor.kdl"), good).unwrap();
    let started = watch.next(LONG);
    assert_eq!(started["watch"], "cycle-started", "{started}");
    assert_eq!(started["cycle"], 1);
    assert_eq!(
        started["trigger"],
        serde_json::json!(["flavors/b/flavor.kdl"])
    );
    assert_eq!(watch.expect("cycle-finished", LONG)["ok"], true);
    // Stopped while waiting for changes: the event says so.
    assert_eq!(watch.interrupt(), Some(130));
}

#[test]
fn after_the_first_cycle_the_console_shows_only_what_a_cycle_did() {
    let kiln = Kiln::new("watch-brief", &["slc"], None);
    std::fs::create_dir_all(kiln.path("workflows")).unwrap();
    std::fs::write(
        kiln.path("workflows/dev.kdl"),
        "workflow \"dev\" {\n    build flavor=\"slc\" goal=\"release\"\n}\n",
    )
    .unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln"))
        .args(["--workspace", kiln.root().to_str().unwrap()])
        .args(["watch", "dev", "--debounce", "200"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    // The lines up to the one that ends cycle `n`.
    let cycle = |n: usize| {
        let mut seen = Vec::new();
        loop {
            let line = lines
                .recv_timeout(LONG)
                .unwrap_or_else(|_| panic!("cycle {n} did not end: {seen:#?}"));
            let done = line.starts_with(&format!("watch: cycle {n} done"));
            seen.push(line);
            if done {
                return seen;
            }
        }
    };
    let first = cycle(1);
    assert!(
        first.iter().any(|l| l.contains(" nodes: ")),
        "the first cycle shows everything: {first:#?}"
    );
    let file = kiln.path("flavors/slc/flavor_customization/requirements.txt");
    let content = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{content}brief\n")).unwrap();
    let second = cycle(2);
    let _ = child.kill();
    let _ = child.wait();
    let shown = second.join("\n");
    for step in ["flavor_customization", "release"] {
        assert!(
            second
                .iter()
                .any(|l| l.starts_with("done slc/") && l.contains(step) && l.contains("[built]")),
            "{step} was built and says so: {shown}"
        );
    }
    assert!(
        !second.iter().any(|l| l.contains("slc/base")),
        "an image the daemon had gets no line: {shown}"
    );
    assert!(!shown.contains(" nodes: "), "no table again: {shown}");
    assert!(
        second.iter().any(|l| l.starts_with("2 built, 0 loaded")),
        "one line of counts: {shown}"
    );
}
