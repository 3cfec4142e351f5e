//! A temporary kiln workspace driven through the `kiln` binary, with its own image
//! repository (and registry repository) so tests run in parallel, and cleanup of every
//! image it made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

use super::docker::{ImageCleanup, unique_repository};

pub struct Kiln {
    pub dir: TempDir,
    pub repository: String,
    _cleanup: ImageCleanup,
}

impl Kiln {
    /// A workspace with `kiln.kdl` naming a unique repository (and `registry`, given as
    /// `host:port`), plus a copy of each example flavor named in `flavors`.
    pub fn new(test: &str, flavors: &[&str], registry: Option<&str>) -> Kiln {
        let dir = tempfile::tempdir().unwrap();
        let repository = unique_repository(test);
        let mut settings = format!("repository \"{repository}\"\n");
        let mut repositories = vec![repository.clone()];
        if let Some(address) = registry {
            let remote = format!("{address}/{repository}");
            settings.push_str(&format!("registry \"{remote}\"\n"));
            repositories.push(remote);
        }
        std::fs::write(dir.path().join("kiln.kdl"), settings).unwrap();
        for flavor in flavors {
            copy_dir(
                &super::examples().join("flavors").join(flavor),
                &dir.path().join("flavors").join(flavor),
            );
        }
        let owner = kiln::check::docker::pool::owner(&dir.path().canonicalize().unwrap());
        Kiln {
            dir,
            repository,
            _cleanup: ImageCleanup {
                repositories,
                owners: vec![owner],
            },
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn command(&self) -> Command {
        Command::from_std(self.process())
    }

    /// [`Kiln::command`] as a plain process, for a test that spawns kiln to signal it,
    /// or to run it beside another.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"));
        cmd.current_dir(self.root())
            .env_remove("RUST_LOG")
            .env_remove("KILN_WORKSPACE")
            .env_remove("HTTP_PROXY")
            .env("NO_COLOR", "1")
            .arg("--workspace")
            .arg(self.root());
        cmd
    }

    /// Runs kiln with `args`; panics with its output if it fails.
    pub fn ok(&self, args: &[&str]) -> Output {
        let output = self.command().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "kiln {args:?} failed:\n{}",
            text(&output)
        );
        output
    }

    /// Runs a build command and returns what happened to each node (from the job
    /// record's summary.json): node → result.
    pub fn build(&self, args: &[&str]) -> BTreeMap<String, String> {
        self.build_with(args, |_| {})
    }

    pub fn build_with(
        &self,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> BTreeMap<String, String> {
        let before = self.jobs();
        let mut cmd = self.command();
        cmd.args(args);
        setup(&mut cmd);
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "kiln {args:?} failed:\n{}",
            text(&output)
        );
        let new: Vec<PathBuf> = self
            .jobs()
            .into_iter()
            .filter(|j| !before.contains(j))
            .collect();
        assert_eq!(new.len(), 1, "one job record per run: {new:?}");
        summary(&new[0])
    }

    /// Writes flavor `flavor` of two steps: `base`, the host's static busybox with its
    /// applets installed (so `RUN` lines have a shell), and `top`, built on it from
    /// `dockerfile` (which names it `{{ base }}`).
    #[allow(dead_code, reason = "not every test binary uses it")]
    pub fn busybox_flavor(&self, flavor: &str, top: &str, dockerfile: &str) {
        for step in ["base", top] {
            std::fs::create_dir_all(self.path(&format!("flavors/{flavor}/{step}"))).unwrap();
        }
        std::fs::write(
            self.path(&format!("flavors/{flavor}/flavor.kdl")),
            format!(
                "flavor \"{flavor}\" {{\n    step \"base\" {{ include \"/bin/busybox\" as=\"busybox\"; }}\n    step \"{top}\" {{ needs \"base\"; }}\n}}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            self.path(&format!("flavors/{flavor}/base/Dockerfile")),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
        )
        .unwrap();
        std::fs::write(
            self.path(&format!("flavors/{flavor}/{top}/Dockerfile")),
            dockerfile,
        )
        .unwrap();
    }

    /// Copies the example data repository (`data/`) in, without the artifacts an earlier
    /// run of the examples left there (they are no inputs).
    pub fn add_example_data(&self) {
        copy_dir(&super::examples().join("data"), &self.path("data"));
        for entry in std::fs::read_dir(self.path("data/entities")).unwrap() {
            let _ = std::fs::remove_dir_all(entry.unwrap().path().join("_data"));
        }
    }

    /// Adds `kdl` (nodes such as a `check` block) at the end of flavor `flavor`'s block.
    pub fn add_to_flavor(&self, flavor: &str, kdl: &str) {
        let file = self.path(&format!("flavors/{flavor}/flavor.kdl"));
        let text = std::fs::read_to_string(&file).unwrap();
        let end = text.rfind('}').expect("the flavor block's closing brace");
        std::fs::write(&file, format!("{}{kdl}{}", &text[..end], &text[end..])).unwrap();
    }

    /// The job record folders, sorted.
    pub fn jobs(&self) -> Vec<PathBuf> {
        let mut jobs: Vec<PathBuf> = std::fs::read_dir(self.path(".kiln/jobs"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        // Oldest first. Every command leaves a record now (`kiln clean` too), and two in
        // the same second sort by command name: order by when each was last written.
        jobs.sort_by_key(|job| {
            let written = std::fs::metadata(job).and_then(|m| m.modified()).ok();
            (written, job.clone())
        });
        jobs
    }
}

/// node → result of a job record's summary.json.
pub fn summary(job: &Path) -> BTreeMap<String, String> {
    summary_field(job, "result")
}

/// node → `field` of each node of a job record's summary.json that has it as a string
/// (`result`, `image`, `hash` …).
pub fn summary_field(job: &Path, field: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(job.join("summary.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| {
            Some((
                n["node"].as_str()?.to_owned(),
                n[field].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Runs the docker CLI (for what a test checks beside kiln: a file of an image, a
/// `docker save`); its stdout, panicking with its output unless it succeeds.
pub fn docker_cli(args: &[&str]) -> Vec<u8> {
    let output = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker {args:?}:\n{}",
        text(&output)
    );
    output.stdout
}

/// The nodes whose result is `result`, sorted.
pub fn with_result(results: &BTreeMap<String, String>, result: &str) -> Vec<String> {
    results
        .iter()
        .filter(|(_, r)| *r == result)
        .map(|(n, _)| n.clone())
        .collect()
}

pub fn text(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Waits for `child` at most `limit` (then kills it): its exit code and how long it
/// took; `None` when it was still running.
pub fn exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> (Option<i32>, std::time::Duration) {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What `kiln plan --json ARGS` says of each node of the workspace at `root`, in its
/// order: (node, (image, hash, source)).
pub fn planned_at(root: &Path, args: &[&str]) -> Vec<(String, (String, String, String))> {
    let output = Command::cargo_bin("kiln")
        .unwrap()
        .args(["--workspace", root.to_str().unwrap(), "plan", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let field = |name: &str| n[name].as_str().unwrap().to_owned();
            (
                field("node"),
                (field("image"), field("hash"), field("source")),
            )
        })
        .collect()
}
