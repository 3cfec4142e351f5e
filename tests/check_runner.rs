//! The check runner's own part — templating, classification, the result ladder, what
//! counts as a result — over a fake backend, as tests/engine.rs fakes executors: no
//! Docker here. The fake decides each command's end by the entity's `how` field.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use globset::GlobSet;
use kiln::check::artifacts::Copied;
use kiln::check::backend::{Backend, EnvHandle, EnvImage, EnvKey};
use kiln::check::outcome::ResultClass;
use kiln::check::{CheckError, CheckOptions, CheckRunner, EntityTask};
use kiln::docker::{ExecOutcome, ExecRequest};
use kiln::job::{CappedLog, JobRecord};
use kiln::model::{Check, CheckId};
use tokio_util::sync::CancellationToken;

const FLAVOR: &str = r#"flavor "env" {
    step "base" { include "/bin/busybox" as="busybox"; }
    check "models" {
        image "base"
        entities "data/*/meta.yml" key="id"
        mount "data" "/data"
        run "run" "{{ entity.how }}" "{{ entity.dir }}"
        outcome success=0 inaccurate=2
        artifacts "*.png"
    }
}
"#;

const IMAGE: &str = "kiln-fake:env-base_0123";

/// What the fake was asked to do.
#[derive(Debug, Default)]
struct Calls {
    environments: usize,
    staged: Vec<(PathBuf, String)>,
    commands: Vec<Vec<String>>,
    discarded: usize,
    collected: usize,
    shut_down: bool,
}

#[derive(Default)]
struct FakeBackend {
    calls: Mutex<Calls>,
}

impl FakeBackend {
    fn calls<T>(&self, read: impl FnOnce(&Calls) -> T) -> T {
        read(&self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Backend for FakeBackend {
    async fn prepare(&self, _: &CheckId, _: &Check) -> Result<(), CheckError> {
        Ok(())
    }

    async fn image(&self, image: &str) -> Result<Option<EnvImage>, CheckError> {
        Ok((image == IMAGE).then(|| EnvImage {
            id: "sha256:fake".to_owned(),
            hash: Some("step-hash".to_owned()),
        }))
    }

    async fn environment(&self, key: &EnvKey) -> Result<EnvHandle, CheckError> {
        assert_eq!(key.image, IMAGE);
        self.calls.lock().unwrap().environments += 1;
        Ok("fake-container".to_owned())
    }

    async fn stage(&self, _: &EnvHandle, folder: &Path, inside: &str) -> Result<(), CheckError> {
        let staged = (folder.to_owned(), inside.to_owned());
        self.calls.lock().unwrap().staged.push(staged);
        Ok(())
    }

    async fn exec(
        &self,
        _: &EnvHandle,
        request: ExecRequest,
        log: &mut CappedLog,
        _: Duration,
        _: &CancellationToken,
    ) -> Result<ExecOutcome, CheckError> {
        use std::io::Write;
        writeln!(log, "ran {}", request.cmd.join(" ")).unwrap();
        let how = request.cmd[1].clone();
        self.calls.lock().unwrap().commands.push(request.cmd);
        let mut outcome = ExecOutcome {
            exit_code: Some(0),
            timed_out: false,
            cancelled: false,
            kill_failed: false,
            tail: format!("tail of {how}"),
            duration: Duration::from_millis(7),
        };
        match how.as_str() {
            "pass" => {}
            "inaccurate" => outcome.exit_code = Some(2),
            "fail" => outcome.exit_code = Some(1),
            "lost" => outcome.exit_code = Some(137),
            "slow" => (outcome.exit_code, outcome.timed_out) = (None, true),
            "stuck" => {
                (outcome.exit_code, outcome.timed_out) = (None, true);
                outcome.kill_failed = true;
            }
            "interrupted" => (outcome.exit_code, outcome.cancelled) = (None, true),
            other => panic!("no such behaviour {other}"),
        }
        Ok(outcome)
    }

    /// The environment of the `lost` entity went away under it.
    async fn lost(&self, _: &EnvHandle) -> Result<bool, CheckError> {
        let calls = self.calls.lock().unwrap();
        Ok(calls.commands.last().is_some_and(|cmd| cmd[1] == "lost"))
    }

    async fn discard(&self, _: &EnvKey) {
        self.calls.lock().unwrap().discarded += 1;
    }

    async fn collect(
        &self,
        _: &EnvHandle,
        _: &Path,
        _: Option<&str>,
        _: GlobSet,
        _: PathBuf,
        _: &CancellationToken,
    ) -> Result<Copied, CheckError> {
        self.calls.lock().unwrap().collected += 1;
        Ok(Copied {
            files: vec!["plot.png".to_owned()],
            skipped: vec!["huge.png: over the size limit".to_owned()],
        })
    }

    async fn shutdown(&self) {
        self.calls.lock().unwrap().shut_down = true;
    }
}

const BEHAVIOURS: [&str; 7] = [
    "pass",
    "inaccurate",
    "fail",
    "lost",
    "slow",
    "stuck",
    "interrupted",
];

/// The behaviours that end in a result, and its class.
const CLASSIFIED: [(&str, ResultClass); 4] = [
    ("pass", ResultClass::Success),
    ("inaccurate", ResultClass::Inaccurate),
    ("fail", ResultClass::ScriptError),
    ("slow", ResultClass::Timeout),
];

/// A workspace with one entity per behaviour, and a runner over `backend`.
fn runner(backend: Arc<FakeBackend>) -> (tempfile::TempDir, CheckRunner) {
    let metas: Vec<(String, String)> = BEHAVIOURS
        .iter()
        .map(|how| {
            (
                format!("data/{how}/meta.yml"),
                format!("id: {how}\nhow: {how}\n"),
            )
        })
        .collect();
    let mut files = vec![
        ("flavors/env/flavor.kdl", FLAVOR),
        ("flavors/env/base/Dockerfile", "FROM scratch\n"),
    ];
    files.extend(metas.iter().map(|(p, t)| (p.as_str(), t.as_str())));
    let dir = common::workspace(&files);
    let workspace = Arc::new(kiln::config::load(dir.path()).unwrap());
    let job = JobRecord::create(&workspace.settings.job_dir, "check").unwrap();
    let options = CheckOptions {
        no_remote_results: true,
        ..CheckOptions::default()
    };
    let runner = CheckRunner::new(workspace, backend, Some(job), options);
    (dir, runner)
}

fn check_id() -> CheckId {
    CheckId::new("env", "models")
}

fn task(tasks: &[EntityTask], key: &str) -> EntityTask {
    tasks.iter().find(|t| t.entity.key == key).unwrap().clone()
}

#[tokio::test]
async fn exit_codes_are_classified_and_results_come_from_the_cache_the_second_time() {
    let backend = Arc::new(FakeBackend::default());
    let (_dir, runner) = runner(Arc::clone(&backend));
    let cancel = CancellationToken::new();
    runner.prepare(&check_id()).await.unwrap();
    let tasks = runner.discover(&check_id()).unwrap();
    assert_eq!(tasks.len(), BEHAVIOURS.len());
    for (key, class) in CLASSIFIED {
        let result = runner
            .run(&task(&tasks, key), IMAGE, &cancel)
            .await
            .unwrap();
        assert_eq!((key, result.class), (key, class));
        assert!(!result.cached, "{key}");
        assert_eq!(result.output_tail, format!("tail of {key}"));
        assert_eq!(result.artifacts, ["plot.png"], "{key}");
        let log = std::fs::read_to_string(result.log.as_ref().unwrap()).unwrap();
        assert!(log.contains(&format!("ran run {key} /data/{key}")), "{log}");
        assert!(log.contains("artifact not copied: huge.png"), "{log}");
    }
    let ran = backend.calls(|c| c.commands.len());
    assert_eq!(ran, 4);
    assert_eq!(backend.calls(|c| (c.environments, c.collected)), (4, 4));
    // The entity's folder is staged where the command sees it, through the mount.
    backend.calls(|c| {
        assert_eq!(c.staged.len(), 4);
        assert!(c.staged[0].0.ends_with("data/pass"), "{:?}", c.staged);
        assert_eq!(c.staged[0].1, "/data/pass");
    });
    // Unchanged inputs: every result from this machine's result cache, nothing runs.
    for (key, class) in CLASSIFIED {
        let result = runner
            .run(&task(&tasks, key), IMAGE, &cancel)
            .await
            .unwrap();
        assert!(result.cached, "{key}");
        assert_eq!(result.class, class, "{key}");
        assert_eq!(result.output_tail, format!("tail of {key}"));
        assert_eq!(result.artifacts, ["plot.png"], "{key}");
    }
    assert_eq!(backend.calls(|c| c.commands.len()), ran);
    runner.shutdown().await;
    assert!(backend.calls(|c| c.shut_down));
}

#[tokio::test]
async fn a_lost_environment_or_an_interrupt_is_no_result_and_nothing_is_cached() {
    let backend = Arc::new(FakeBackend::default());
    let (_dir, runner) = runner(Arc::clone(&backend));
    let cancel = CancellationToken::new();
    let tasks = runner.discover(&check_id()).unwrap();
    for _ in 0..2 {
        let lost = runner.run(&task(&tasks, "lost"), IMAGE, &cancel).await;
        assert!(
            matches!(lost, Err(CheckError::EnvironmentLost { .. })),
            "{lost:?}"
        );
        let interrupted = runner
            .run(&task(&tasks, "interrupted"), IMAGE, &cancel)
            .await;
        assert!(
            matches!(interrupted, Err(CheckError::Cancelled { .. })),
            "{interrupted:?}"
        );
    }
    // Neither was cached: both ran again.
    assert_eq!(backend.calls(|c| c.commands.len()), 4);
    assert_eq!(backend.calls(|c| c.collected), 0);
}

#[tokio::test]
async fn a_command_that_could_not_be_killed_gives_up_its_environment() {
    let backend = Arc::new(FakeBackend::default());
    let (_dir, runner) = runner(Arc::clone(&backend));
    let tasks = runner.discover(&check_id()).unwrap();
    let result = runner
        .run(&task(&tasks, "stuck"), IMAGE, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(result.class, ResultClass::Timeout);
    assert_eq!(backend.calls(|c| c.discarded), 1);
    let missing = runner
        .run(
            &task(&tasks, "pass"),
            "kiln-fake:gone",
            &CancellationToken::new(),
        )
        .await;
    assert!(
        matches!(missing, Err(CheckError::ImageMissing { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_forced_run_asks_no_tier() {
    let backend = Arc::new(FakeBackend::default());
    let (dir, runner) = runner(Arc::clone(&backend));
    let cancel = CancellationToken::new();
    let tasks = runner.discover(&check_id()).unwrap();
    runner
        .run(&task(&tasks, "pass"), IMAGE, &cancel)
        .await
        .unwrap();
    let workspace = Arc::new(kiln::config::load(dir.path()).unwrap());
    let job = JobRecord::create(&workspace.settings.job_dir, "check").unwrap();
    let forced = CheckRunner::new(
        workspace,
        Arc::clone(&backend) as Arc<dyn Backend>,
        Some(job),
        CheckOptions {
            force: true,
            no_remote_results: true,
            ..CheckOptions::default()
        },
    );
    let result = forced
        .run(&task(&tasks, "pass"), IMAGE, &cancel)
        .await
        .unwrap();
    assert!(!result.cached);
    assert_eq!(backend.calls(|c| c.commands.len()), 2);
    // What the forced run produced is cached: the next run takes it.
    let again = runner
        .run(&task(&tasks, "pass"), IMAGE, &cancel)
        .await
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.date, result.date);
    assert_eq!(backend.calls(|c| c.commands.len()), 2);
}

#[tokio::test]
async fn a_cache_entry_that_is_no_result_is_a_miss() {
    let backend = Arc::new(FakeBackend::default());
    let (dir, runner) = runner(Arc::clone(&backend));
    let cancel = CancellationToken::new();
    let tasks = runner.discover(&check_id()).unwrap();
    runner
        .run(&task(&tasks, "pass"), IMAGE, &cancel)
        .await
        .unwrap();
    let cache = dir.path().join(".kiln/results/cache");
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".json") && !name.ends_with(".inputs.json")
        })
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    for garbage in ["{\"valid\": \"json, not a result\"}", "{ not json"] {
        std::fs::write(&entries[0], garbage).unwrap();
        let result = runner
            .run(&task(&tasks, "pass"), IMAGE, &cancel)
            .await
            .unwrap();
        assert!(!result.cached, "{garbage}");
    }
    assert_eq!(backend.calls(|c| c.commands.len()), 3);
}
