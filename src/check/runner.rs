//! Running one check: discover its entities, run one entity in its environment container
//! (or take its result from the cache), and record the results of the whole check.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ackrep::{self, CommitLog};
use super::backend::{Backend, EnvHandle, EnvKey};
use super::cache::{Found, Results};
use super::entity::{Entity, discover};
use super::error::CheckError;
use super::inputs::{self, EntityInputs, EnvironmentImage};
use super::outcome::classify;
use super::partition::{Partition, longest_first};
use super::remote;
use super::results::{EntityResult, History, NotDone, RESULTS_FORMAT_VERSION, RunResults};
use super::template;
use crate::cache::ResultSource;
use crate::docker::{ExecOutcome, ExecRequest, MountSpec};
use crate::hash;
use crate::job::{CappedLog, JobRecord, LOG_LIMIT};
use crate::model::{Check, CheckId, EntityId, StepId, Workspace};

/// One entity to check, and the environment it runs in.
#[derive(Debug, Clone)]
pub struct EntityTask {
    pub id: EntityId,
    pub entity: Entity,
    /// The step whose image is the environment.
    pub environment: StepId,
}

/// What recording a check's results did.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub check: CheckId,
    /// How many entities' results were recorded.
    pub results: usize,
    /// The history file they went into; `None` when no entity finished.
    pub history: Option<PathBuf>,
    /// Entities that did not finish (failed to run, skipped, cancelled), and why.
    pub not_done: Vec<NotDone>,
}

/// Where an entity's result would come from (`kiln plan --checks`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedEntity {
    pub check: String,
    pub key: String,
    /// The result-cache key of its inputs now.
    pub cache_key: String,
    /// This machine's result cache, the registry, or a run.
    pub source: ResultSource,
}

/// What a check run may do.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Run even when the result cache has the entity.
    pub force: bool,
    /// `uid:gid` commands run as; `None`: the host user and group.
    pub user: Option<String>,
    /// Only these entity keys (empty: all).
    pub keys: Vec<String>,
    /// Only this partition's share of each check's entities (CI matrices).
    pub partition: Option<Partition>,
    /// Leave the registry's results alone (`--no-remote-results`): neither ask it nor
    /// push to it.
    pub no_remote_results: bool,
}

/// Everything checking needs, shared by every node of a run.
pub struct CheckRunner {
    workspace: Arc<Workspace>,
    backend: Arc<dyn Backend>,
    results: Results,
    history: History,
    /// The run's job record; `None` for a plan (`kiln plan --checks`), which writes
    /// nothing.
    job: Option<JobRecord>,
    options: CheckOptions,
    environments: tokio::sync::Mutex<HashMap<String, EnvironmentImage>>,
}

impl CheckRunner {
    pub fn new(
        workspace: Arc<Workspace>,
        backend: Arc<dyn Backend>,
        job: Option<JobRecord>,
        options: CheckOptions,
    ) -> Self {
        Self {
            results: Results::new(&workspace.settings, !options.no_remote_results),
            history: History::new(workspace.settings.results_dir()),
            workspace,
            backend,
            job,
            options,
            environments: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The run is over: the environments it started go (unless kept).
    pub async fn shutdown(&self) {
        self.backend.shutdown().await;
    }

    fn job(&self) -> Result<&JobRecord, CheckError> {
        self.job.as_ref().ok_or(CheckError::NoJobRecord)
    }

    /// Where `task`'s log goes in the job record (its folder made).
    fn log_path(&self, task: &EntityTask) -> Result<PathBuf, CheckError> {
        let path = self
            .job()?
            .dir
            .join("logs")
            .join(log_name(&task.id.check.stem(), &task.entity.key));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        Ok(path)
    }

    /// Where `task`'s artifacts go in the job record.
    fn artifacts_dir(&self, task: &EntityTask) -> Result<PathBuf, CheckError> {
        Ok(self.job()?.dir.join("artifacts").join(&task.entity.key))
    }

    fn check(&self, check: &CheckId) -> Result<&Check, CheckError> {
        self.workspace
            .find_check(check)
            .ok_or_else(|| CheckError::UnknownCheck {
                check: check.to_string(),
            })
    }

    /// Before `check`'s entities run: the backend decides how they see their files.
    pub async fn prepare(&self, check: &CheckId) -> Result<(), CheckError> {
        self.backend.prepare(check, self.check(check)?).await
    }

    /// The entities of a check and the environment each runs in (blocking: reads files):
    /// those the command line asked for, of this run's partition, longest first by the
    /// durations the history recorded.
    pub fn discover(&self, check: &CheckId) -> Result<Vec<EntityTask>, CheckError> {
        let declaration = self.check(check)?;
        let mut entities = discover(&self.workspace.root, declaration)?;
        entities.retain(|e| self.options.keys.is_empty() || self.options.keys.contains(&e.key));
        let durations = self.durations(check);
        if let Some(partition) = &self.options.partition {
            let timed: Vec<(String, Option<u64>)> = entities
                .iter()
                .map(|e| (e.key.clone(), durations.get(&e.key).copied()))
                .collect();
            let mine: BTreeSet<String> = partition
                .select(&check.to_string(), &timed)
                .into_iter()
                .map(str::to_owned)
                .collect();
            entities.retain(|e| mine.contains(&e.key));
        }
        longest_first(&mut entities, |e| e.key.as_str(), &durations);
        Ok(entities
            .into_iter()
            .map(|entity| EntityTask {
                environment: environment_of(&check.flavor, declaration, &entity),
                id: EntityId::new(check.clone(), entity.key.clone()),
                entity,
            })
            .collect())
    }

    /// How long each entity of `check` took when it last ran (its latest result in the
    /// history); none when the history cannot be read.
    fn durations(&self, check: &CheckId) -> BTreeMap<String, u64> {
        let check = check.to_string();
        self.history
            .latest(None)
            .map(|latest| {
                latest
                    .into_iter()
                    .filter(|l| l.check == check)
                    .map(|l| (l.key, l.latest.runtime_ms))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What `task`'s result depends on, read as every run and plan reads it (its folder
    /// hashed on a blocking thread).
    async fn inputs(
        &self,
        task: &EntityTask,
        environment: EnvironmentImage,
        user: String,
        cancel: &CancellationToken,
    ) -> Result<inputs::EntityInputs, CheckError> {
        let workspace = Arc::clone(&self.workspace);
        let owned = task.clone();
        let stop = cancel.clone();
        tokio::task::spawn_blocking(move || {
            let check =
                workspace
                    .find_check(&owned.id.check)
                    .ok_or_else(|| CheckError::UnknownCheck {
                        check: owned.id.check.to_string(),
                    })?;
            inputs::of_entity(
                &workspace,
                &owned.id,
                check,
                &owned.entity,
                environment,
                user,
                &stop,
            )
        })
        .await
        .map_err(|source| CheckError::Task {
            entity: task.id.to_string(),
            source,
        })?
    }

    /// Where the result of `task` would come from, its environment being the image of
    /// hash `hash` named `image` (planned, maybe not in the daemon): nothing runs, nothing
    /// is written.
    pub async fn plan(
        &self,
        task: &EntityTask,
        image: &str,
        hash: &str,
        cancel: &CancellationToken,
    ) -> Result<PlannedEntity, CheckError> {
        let check_id = task.id.check.to_string();
        let environment = EnvironmentImage {
            step: task.environment.to_string(),
            image: image.to_owned(),
            image_id: String::new(),
            hash: Some(hash.to_owned()),
        };
        let user = self.options.user.clone().unwrap_or_else(host_user);
        let inputs = self.inputs(task, environment, user, cancel).await?;
        let key = inputs.key();
        let source = if self.options.force {
            ResultSource::Run
        } else {
            self.results.locate(&key).await
        };
        Ok(PlannedEntity {
            check: check_id,
            key: task.entity.key.clone(),
            cache_key: key,
            source,
        })
    }

    /// Runs one entity in `image` (the environment's image name), or takes its result from
    /// a result tier.
    pub async fn run(
        &self,
        task: &EntityTask,
        image: &str,
        cancel: &CancellationToken,
    ) -> Result<EntityResult, CheckError> {
        let check = self.check(&task.id.check)?;
        let environment = self.environment(&task.environment, image).await?;
        let user = self.options.user.clone().unwrap_or_else(host_user);
        let inputs = self.inputs(task, environment, user.clone(), cancel).await?;
        let key = inputs.key();
        let timeout = check.timeout.as_ref().map_or(DEFAULT_TIMEOUT, |t| t.value);
        if !self.options.force
            && let Some(found) = self
                .results
                .get(&key, &task.id.check.to_string(), &task.entity.key)
                .await?
            && let Some(result) = self.adopt(task, &key, &inputs, found, timeout).await?
        {
            return Ok(result);
        }
        let env = environment_key(task, check, image, &inputs.environment.image_id);
        let container = self.backend.environment(&env).await?;
        let inside = template::container_dir(&task.entity, &env.mounts);
        if let Some(inside) = &inside {
            self.backend
                .stage(&container, &task.entity.folder, inside)
                .await?;
        }
        let request = self.command(task, check, &env, user)?;
        let log_path = self.log_path(task)?;
        let mut log = CappedLog::create(&log_path, LOG_LIMIT).map_err(|e| io(&log_path, e))?;
        let started = SystemTime::now();
        let ran = self
            .backend
            .exec(&container, request, &mut log, timeout, cancel)
            .await?;
        self.came_through(task, &env, &container, &ran).await?;
        let class = classify(&check.outcome, ran.exit_code, ran.timed_out);
        let artifacts = self
            .artifacts(task, check, &container, inside.as_deref(), &mut log, cancel)
            .await?;
        let result = EntityResult {
            key: task.entity.key.clone(),
            check: task.id.check.to_string(),
            class,
            exit_code: ran.exit_code,
            runtime_ms: u64::try_from(ran.duration.as_millis()).unwrap_or(u64::MAX),
            date: humantime::format_rfc3339_seconds(started).to_string(),
            environment: image.to_owned(),
            image_id: inputs.environment.image_id.clone(),
            container: Some(container),
            cached: false,
            output_tail: ran.tail,
            log: Some(log_path.display().to_string()),
            artifacts,
        };
        self.results
            .put(
                &key,
                &result,
                &inputs,
                &self.artifacts_dir(task)?,
                ResultSource::Run,
            )
            .await;
        Ok(result)
    }

    /// The command of `task`, rendered from the check's `run` template.
    fn command(
        &self,
        task: &EntityTask,
        check: &Check,
        env: &EnvKey,
        user: String,
    ) -> Result<ExecRequest, CheckError> {
        let values = template::values(&self.workspace.root, &task.entity, &env.mounts);
        let cmd = check
            .run
            .iter()
            .map(|arg| template::render(&task.id, &arg.value, &values))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExecRequest {
            cmd,
            env: env.env.clone(),
            workdir: check.workdir.as_ref().map(|w| w.value.clone()),
            user: Some(user),
            // A check that sets HOME keeps it.
            writable_home: !env.env.iter().any(|(name, _)| name == "HOME"),
        })
    }

    /// Whether a command's end is a result: one whose environment went away under it
    /// (exit 137, or 126 with "OCI runtime exec failed") is an infrastructure error,
    /// never a result to cache; one cancelled is no result either. An environment whose
    /// command could not be killed is not used again.
    async fn came_through(
        &self,
        task: &EntityTask,
        env: &EnvKey,
        container: &EnvHandle,
        ran: &ExecOutcome,
    ) -> Result<(), CheckError> {
        if !ran.cancelled
            && !ran.timed_out
            && ran
                .exit_code
                .is_none_or(|code| matches!(code, 126 | 127 | 137 | 143))
            && self.backend.lost(container).await?
        {
            return Err(CheckError::EnvironmentLost {
                entity: task.id.to_string(),
                container: container.chars().take(12).collect(),
            });
        }
        if ran.kill_failed {
            tracing::warn!(
                "{}: the command could not be killed; replacing its container",
                task.id
            );
            self.backend.discard(env).await;
        }
        if ran.cancelled {
            return Err(CheckError::Cancelled {
                entity: task.id.to_string(),
            });
        }
        Ok(())
    }

    /// The entity's artifacts, copied into the job record; what was not copied is
    /// noted in its log.
    async fn artifacts(
        &self,
        task: &EntityTask,
        check: &Check,
        container: &EnvHandle,
        inside: Option<&str>,
        log: &mut CappedLog,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, CheckError> {
        if check.artifacts.is_empty() {
            return Ok(Vec::new());
        }
        let copied = self
            .backend
            .collect(
                container,
                &task.entity.folder,
                inside,
                artifact_globs(check)?,
                self.artifacts_dir(task)?,
                cancel,
            )
            .await?;
        for skipped in &copied.skipped {
            tracing::warn!("{}: artifact not copied: {skipped}", task.id);
            let _ = writeln!(log, "kiln: artifact not copied: {skipped}");
        }
        Ok(copied.files)
    }

    /// A result a tier had. From this machine's cache, as it is; from a shared tier,
    /// its artifacts and log into this run's job record, the result and its inputs into
    /// the tiers before it. Reported as cached. `None` when what a shared tier sent
    /// cannot be used — a runtime no command of the check (`timeout`) could take, an
    /// artifacts tar kiln does not make —: warned about, nothing of it kept, and the
    /// entity runs.
    async fn adopt(
        &self,
        task: &EntityTask,
        key: &str,
        inputs: &EntityInputs,
        found: Found,
        timeout: std::time::Duration,
    ) -> Result<Option<EntityResult>, CheckError> {
        let mut result = found.result;
        result.cached = true;
        if found.source == ResultSource::Cache {
            return Ok(Some(result));
        }
        result.cached = false;
        let unusable = |why: String| {
            let registry = self
                .workspace
                .settings
                .registry
                .as_ref()
                .map_or(String::new(), |r| format!(" `{}`", r.value));
            tracing::warn!(
                "{}: the result from the results registry{registry} is not used: {why}; running it",
                task.id
            );
        };
        let longest = timeout.saturating_add(RUNTIME_SLACK);
        if u128::from(result.runtime_ms) > longest.as_millis() {
            unusable(format!(
                "it says the command ran {} ms, longer than the check's timeout of {} allows",
                result.runtime_ms,
                humantime::format_duration(timeout)
            ));
            return Ok(None);
        }
        result.artifacts = match &found.artifacts {
            Some(tar) => match remote::unpack(tar, &self.artifacts_dir(task)?) {
                Ok(copied) => copied.files,
                Err(e) => {
                    unusable(causes(&e));
                    return Ok(None);
                }
            },
            None => Vec::new(),
        };
        result.log = None;
        if let Some(log) = &found.log {
            let path = self.log_path(task)?;
            std::fs::write(&path, log).map_err(|e| io(&path, e))?;
            result.log = Some(path.display().to_string());
        }
        let inputs = found.inputs.as_ref().unwrap_or(inputs);
        self.results
            .put(
                key,
                &result,
                inputs,
                &self.artifacts_dir(task)?,
                found.source,
            )
            .await;
        tracing::info!("{}: result from the {}", task.id, found.source);
        result.cached = true;
        Ok(Some(result))
    }

    /// Writes the results of one check — what finished, and which entities did not —
    /// into the job record and the history.
    pub fn record(
        &self,
        check: &CheckId,
        mut results: Vec<EntityResult>,
        not_done: Vec<NotDone>,
    ) -> Result<Recorded, CheckError> {
        results.sort_by(|a, b| a.key.cmp(&b.key));
        let count = results.len();
        // Nothing finished: there is no run to add to the history.
        if results.is_empty() && !not_done.is_empty() {
            return Ok(Recorded {
                check: check.clone(),
                results: 0,
                history: None,
                not_done,
            });
        }
        let run = RunResults {
            format: RESULTS_FORMAT_VERSION,
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            job: Some(self.job()?.dir.display().to_string()),
            results,
            not_done: not_done.clone(),
            partition: self.options.partition,
        };
        let dir = self.job()?.dir.join("results").join(check.stem());
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let build_url = ackrep::build_url(|name| std::env::var(name).ok());
        ackrep::write(&dir, &run, build_url, self.commit_logs(check)?)?;
        let history = Some(self.history.record(&dir, &run)?);
        Ok(Recorded {
            check: check.clone(),
            results: count,
            history,
            not_done,
        })
    }

    /// The commit of the data repository a check's entities come from (the git
    /// repository holding the folder its glob walks), for ACKREP's `commit_logs`; empty
    /// when that folder is in no repository or git is missing.
    fn commit_logs(&self, check: &CheckId) -> Result<BTreeMap<String, CommitLog>, CheckError> {
        Ok(ackrep::commit_logs(
            &self.workspace.root,
            self.check(check)?,
        ))
    }

    /// The environment image `image` of step `step`, as the daemon has it (asked once
    /// per run and image).
    async fn environment(
        &self,
        step: &StepId,
        image: &str,
    ) -> Result<EnvironmentImage, CheckError> {
        let mut known = self.environments.lock().await;
        if let Some(environment) = known.get(image) {
            return Ok(environment.clone());
        }
        let info = self
            .backend
            .image(image)
            .await?
            .ok_or_else(|| CheckError::ImageMissing {
                image: image.to_owned(),
            })?;
        let environment = EnvironmentImage {
            step: step.to_string(),
            image: image.to_owned(),
            hash: info.hash,
            image_id: info.id,
        };
        known.insert(image.to_owned(), environment.clone());
        Ok(environment)
    }
}

/// The environment an entity runs in: the `environment` case its metadata field names,
/// else the check's own image.
pub fn environment_of(flavor: &str, check: &Check, entity: &Entity) -> StepId {
    if let Some(select) = &check.environment
        && let Some(value) = entity.fields.get(select.field.as_str())
        && let Some(case) = select.cases.iter().find(|c| &c.value.value == value)
    {
        let step = case
            .step
            .as_ref()
            .map_or(check.image.value.as_str(), |s| s.value.as_str());
        return StepId::new(case.flavor.value.clone(), step);
    }
    StepId::new(flavor, check.image.value.clone())
}

/// Every environment a check may use.
pub fn environments(flavor: &str, check: &Check) -> Vec<StepId> {
    let mut all = vec![StepId::new(flavor, check.image.value.clone())];
    if let Some(select) = &check.environment {
        for case in &select.cases {
            let step = case
                .step
                .as_ref()
                .map_or(check.image.value.clone(), |s| s.value.clone());
            all.push(StepId::new(case.flavor.value.clone(), step));
        }
    }
    all.sort();
    all.dedup();
    all
}

/// The environment `task` runs in: its step's image `image` (id `image_id`) with the
/// check's mounts and env.
fn environment_key(task: &EntityTask, check: &Check, image: &str, image_id: &str) -> EnvKey {
    EnvKey {
        slot: task.environment.to_string(),
        image: image.to_owned(),
        image_id: image_id.to_owned(),
        mounts: check
            .mounts
            .iter()
            .map(|m| MountSpec {
                host: m.source.value.clone(),
                target: m.target.value.clone(),
                readonly: m.readonly,
            })
            .collect(),
        env: check
            .env
            .iter()
            .map(|(k, v)| (k.value.clone(), v.clone()))
            .collect(),
    }
}

/// The timeout of a check that declares none: a command that never ends must not hold
/// a CI job until the CI kills it.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// How much longer than its check's timeout a command may take in all (the kill after
/// the timeout, the daemon's answers): a fetched result that says it took longer is
/// not used.
pub const RUNTIME_SLACK: std::time::Duration = std::time::Duration::from_secs(60);

/// `check-<check>-<key>.log`. A key that is a plain file name as it is names its log;
/// any other (`a b`, `é`) gets `_` for its odd characters and a short hash of itself
/// (`a_b-c8687a08`) — and so does a plain key that ends the way such a name does
/// (`-` and eight hex digits), so that no key's name is another's hashed one: a plain
/// name never ends in a hash, a hashed name always does, and two keys never share a log.
fn log_name(check: &str, key: &str) -> String {
    let stem = crate::cache::file_stem(key);
    if stem == key && !looks_hashed(key) {
        format!("check-{check}-{stem}.log")
    } else {
        let hash = hash::sha256_hex(key.as_bytes());
        format!("check-{check}-{stem}-{}.log", &hash[..HASHED])
    }
}

/// How many hex digits of its hash a hashed log name ends with.
const HASHED: usize = 8;

/// Whether `key` ends in `-` and [`HASHED`] hex digits, as a hashed log name does.
fn looks_hashed(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() > HASHED
        && bytes[bytes.len() - HASHED - 1] == b'-'
        && bytes[bytes.len() - HASHED..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The check's artifact globs, as one set.
fn artifact_globs(check: &Check) -> Result<GlobSet, CheckError> {
    let mut builder = GlobSetBuilder::new();
    for glob in &check.artifacts {
        if let Ok(glob) = Glob::new(&glob.value) {
            builder.add(glob);
        }
    }
    builder.build().map_err(|source| CheckError::Glob {
        glob: check
            .artifacts
            .iter()
            .map(|a| a.value.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        source,
    })
}

/// `uid:gid` of the user kiln runs as.
pub fn host_user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

/// `error` and its causes, as one line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(&format!(": {cause}"));
        next = cause.source();
    }
    text
}

fn io(path: &Path, source: std::io::Error) -> CheckError {
    CheckError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_of_different_keys_differ() {
        assert_eq!(
            log_name("env-models", "lorenz"),
            "check-env-models-lorenz.log"
        );
        let odd = log_name("env-models", "a b");
        assert_eq!(odd, "check-env-models-a_b-c8687a08.log");
        // A plain key spelled as another key's hashed name gets a name of its own.
        let spelled = log_name("env-models", "a_b-c8687a08");
        assert_ne!(spelled, odd);
        assert!(
            spelled.starts_with("check-env-models-a_b-c8687a08-"),
            "{spelled}"
        );
        // Keys that only end like a hash, or almost, stay readable.
        for plain in ["v-1", "run-2024", "x-c8687a0", "x-c8687a08z", "-c8687a08z"] {
            assert_eq!(log_name("c", plain), format!("check-c-{plain}.log"));
        }
        let keys = [
            "a b",
            "a_b",
            "a+b",
            "a_b-c8687a08",
            "-c8687a08",
            "c8687a08",
            "é",
        ];
        let names: std::collections::BTreeSet<String> =
            keys.iter().map(|k| log_name("c", k)).collect();
        assert_eq!(names.len(), keys.len(), "{names:?}");
    }
}
