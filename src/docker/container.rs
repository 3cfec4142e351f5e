//! Long-running containers and commands run in them (`exec`): the environment
//! containers of entity checks.
//!
//! A container idles (`/bin/sh` looping on `sleep`, with docker's init reaping orphans)
//! until it is removed; every entity runs as an `exec` in it. Docker has no API to kill
//! an exec, and the pid the daemon reports for one is a pid of the daemon's namespace:
//! signalling it from kiln's would hit whatever process has that number here when kiln
//! runs in a container of its own, beside docker-in-docker or against a remote daemon.
//! So kiln never signals a process on its side. An exec starts as the leader of its own
//! process group (runc starts it in a new session); a small `/bin/sh` wrapper writes its
//! pid inside the container to `/dev/shm` before it runs the command in that group, and
//! on a timeout a second exec kills that process group from inside the container. When
//! that does not stop it, [`ExecOutcome::kill_failed`] tells the caller to remove the
//! container instead.
//!
//! A command is done when its output closes, not when it exits: a process it left in
//! the background may still write to its stdout. The daemon stops reading an exec's
//! output two seconds after the exec's first process exits, so the wrapper stays that
//! first process until every holder of the command's output has closed it (see
//! [`GroupFile::wrap`]); the timeout bounds the wait.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::client::Daemon;
use super::error::{DockerError, is_not_found};
use super::text::Tail;

/// A host folder mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MountSpec {
    pub host: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// A container to start.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub name: Option<String>,
    pub labels: HashMap<String, String>,
    pub mounts: Vec<MountSpec>,
    pub env: Vec<(String, String)>,
}

/// A container found by label.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub names: Vec<String>,
    pub labels: HashMap<String, String>,
    pub running: bool,
}

/// A command to run in a container.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    /// `uid:gid` (or a user name); `None`: the image's user.
    pub user: Option<String>,
    /// When `HOME` is not writable for the user (a uid the image has no passwd entry
    /// for gets `HOME=/`), point it at `/tmp`, else `/dev/shm` (a tmpfs Docker gives
    /// every container), both writable by every user.
    pub writable_home: bool,
}

/// The shell line that gives a command a writable `HOME` ([`ExecRequest::writable_home`]).
const WRITABLE_HOME: &str = "[ -w \"${HOME:-/}\" ] || { if [ -d /tmp ] && [ -w /tmp ]; then HOME=/tmp; else HOME=/dev/shm; fi; export HOME; }; ";

/// How an exec ended.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// `None` when the command was killed or the daemon reported none.
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// The command outlived its timeout or cancellation and could not be killed: remove
    /// the container.
    pub kill_failed: bool,
    /// The last lines of stdout and stderr, interleaved as they came.
    pub tail: String,
    pub duration: Duration,
}

impl Daemon {
    /// Creates and starts a container that idles until removed; returns its id.
    pub async fn start_container(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let binds: Vec<String> = spec
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{}:{}:{}",
                    m.host.display(),
                    m.target,
                    if m.readonly { "ro" } else { "rw" }
                )
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]),
            cmd: Some(vec![
                "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done".to_owned(),
            ]),
            labels: Some(spec.labels.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("none".to_owned()),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut options = CreateContainerOptionsBuilder::default();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        let created = self
            .answer(
                || format!("creating a container of `{}`", spec.image),
                self.docker.create_container(Some(options.build()), body),
            )
            .await?
            .map_err(|e| self.failed("creating a container of", &spec.image, e))?;
        let start = self.answer(
            || format!("starting the container {}", short(&created.id)),
            self.docker.start_container(&created.id, None),
        );
        if let Err(e) = start.await? {
            let _ = self.remove_container(&created.id).await;
            return Err(self.failed("starting a container of", &spec.image, e));
        }
        Ok(created.id)
    }

    /// Every container (running or not) carrying `label=value`.
    pub async fn containers_with_label(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        let filters: HashMap<String, Vec<String>> =
            HashMap::from([("label".to_owned(), vec![format!("{label}={value}")])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .answer(
                || format!("listing the containers labelled `{label}={value}`"),
                self.docker.list_containers(Some(options)),
            )
            .await?
            .map_err(|e| self.failed("listing containers labelled", label, e))?;
        Ok(containers
            .into_iter()
            .map(|c| ContainerInfo {
                id: c.id.unwrap_or_default(),
                names: c.names.unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                running: c.state.map(|s| s.to_string()).as_deref() == Some("running"),
            })
            .collect())
    }

    /// Removes a container, running or not; one already gone is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self
            .answer(
                || format!("removing the container {}", short(id)),
                self.docker.remove_container(id, Some(options)),
            )
            .await?
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.failed("removing container", id, e)),
        }
    }

    /// Whether a container still runs; `false` once it is gone.
    pub async fn container_running(&self, id: &str) -> Result<bool, DockerError> {
        match self
            .answer(
                || format!("inspecting the container {}", short(id)),
                self.docker.inspect_container(id, None),
            )
            .await?
        {
            Ok(info) => Ok(info.state.and_then(|s| s.running) == Some(true)),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.failed("inspecting container", id, e)),
        }
    }

    /// Runs `request` in `container`, writing all its output to `log` and keeping the last
    /// `tail_lines` lines; kills it at `timeout` or when `cancel` trips.
    ///
    /// The timeout and the cancellation are kiln's clock: the command is then killed
    /// within [`Daemon::grace`], or the daemon reported as not answering. While the
    /// command is silent, the daemon is pinged every [`Daemon::answer_within`]; one that
    /// stops answering ends the exec as [`DockerError::NotAnswering`], the command's fate
    /// unknown.
    pub async fn exec(
        &self,
        container: &str,
        request: ExecRequest,
        log: &mut (dyn Write + Send),
        tail_lines: usize,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
    ) -> Result<ExecOutcome, DockerError> {
        let started = Instant::now();
        let env: Vec<String> = request
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let group = GroupFile::new();
        let running = || format!("running a command in the container {}", short(container));
        let mut tail = Tail::new(tail_lines);
        let create = self.answer(
            running,
            self.docker.create_exec(
                container,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(group.wrap(&request.cmd, request.writable_home)),
                    env: Some(env),
                    user: request.user.clone(),
                    working_dir: request.workdir.clone(),
                    ..Default::default()
                },
            ),
        );
        let created = tokio::select! {
            created = create => created?
                .map_err(|e| self.failed("running a command in", container, e))?,
            // Nothing started: nothing to kill.
            () = cancel.cancelled() => {
                tail.push(b"kiln: cancelled before the command started\n");
                return Ok(ExecOutcome {
                    exit_code: None,
                    timed_out: false,
                    cancelled: true,
                    kill_failed: false,
                    tail: tail.finish(),
                    duration: started.elapsed(),
                });
            }
        };
        let start = self.answer(
            running,
            self.docker
                .start_exec(&created.id, Some(StartExecOptions::default())),
        );
        let mut output = tokio::select! {
            results = start => match results?
                .map_err(|e| self.failed("running a command in", container, e))?
            {
                StartExecResults::Attached { output, .. } => Some(output),
                StartExecResults::Detached => {
                    return Err(DockerError::request(
                        "running a command in",
                        container,
                        "the daemon detached it",
                    ));
                }
            },
            // The daemon may have started it: killed below like any cancelled command.
            () = cancel.cancelled() => None,
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut timed_out = false;
        let mut cancelled = output.is_none();
        while let Some(stream) = output.as_mut() {
            let next = tokio::select! {
                next = stream.next() => next,
                () = sleep_until(deadline) => { timed_out = true; break; }
                () = cancel.cancelled() => { cancelled = true; break; }
                waited = self.silent() => {
                    let error = self.not_answering(waited, running());
                    let _ = writeln!(log, "\nkiln: {error}; the command may still run");
                    let _ = log.flush();
                    return Err(error);
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    let bytes = chunk.into_bytes();
                    let _ = log.write_all(&bytes);
                    tail.push(&bytes);
                }
                Some(Err(e)) => {
                    let _ = writeln!(log, "kiln: reading the output failed: {e}");
                    break;
                }
                None => break,
            }
        }
        drop(output);
        if timed_out || cancelled {
            let reason = if timed_out {
                format!(
                    "timed out after {}",
                    humantime::format_duration(timeout.unwrap_or_default())
                )
            } else {
                "cancelled".to_owned()
            };
            let _ = writeln!(
                log,
                "\nkiln: {reason} at {:.1}s; killing the command",
                started.elapsed().as_secs_f64()
            );
            tail.end_line();
            tail.push(format!("kiln: {reason}; the command was killed\n").as_bytes());
            // However the daemon fares, this ends within the grace.
            let stop_by = tokio::time::Instant::now() + self.grace();
            let killing = || {
                format!(
                    "killing the command that {reason} in the container {}",
                    short(container)
                )
            };
            let killed = self
                .kill_exec(container, &created.id, &group, stop_by, killing)
                .await;
            let _ = log.flush();
            let kill_failed = match killed {
                Ok(killed) => !killed,
                Err(error) => {
                    let _ = writeln!(log, "kiln: {error}; the command may still run");
                    let _ = log.flush();
                    return Err(error);
                }
            };
            // A killed command's exit code is not its own: the daemon is not asked.
            return Ok(ExecOutcome {
                exit_code: None,
                timed_out,
                cancelled,
                kill_failed,
                tail: tail.finish(),
                duration: started.elapsed(),
            });
        }
        let _ = log.flush();
        let inspect = self
            .answer(
                || format!("inspecting a command in the container {}", short(container)),
                self.docker.inspect_exec(&created.id),
            )
            .await?
            .map_err(|e| self.failed("inspecting a command in", container, e))?;
        Ok(ExecOutcome {
            exit_code: inspect.exit_code,
            timed_out,
            cancelled,
            kill_failed: false,
            tail: tail.finish(),
            duration: started.elapsed(),
        })
    }

    /// Kills an exec's process group from inside its container; true once the exec no
    /// longer runs, false when it still runs (or the kill could not be started). Every
    /// call ends by `stop_by`: a daemon that does not answer by then is
    /// [`DockerError::NotAnswering`], `during` saying what kiln was doing.
    async fn kill_exec(
        &self,
        container: &str,
        exec: &str,
        group: &GroupFile,
        stop_by: tokio::time::Instant,
        during: impl Fn() -> String,
    ) -> Result<bool, DockerError> {
        if !self
            .exec_running(exec, stop_by, &during)
            .await?
            .unwrap_or(true)
        {
            return Ok(true);
        }
        let killer = self
            .answer_by(
                stop_by,
                &during,
                self.docker.create_exec(
                    container,
                    CreateExecOptions::<String> {
                        cmd: Some(group.kill()),
                        // Whatever user the command runs as, root in its container may
                        // signal it.
                        user: Some("0".to_owned()),
                        ..Default::default()
                    },
                ),
            )
            .await?;
        let Ok(killer) = killer else {
            return Ok(false);
        };
        let start = self.answer_by(
            stop_by,
            &during,
            self.docker.start_exec(
                &killer.id,
                Some(StartExecOptions {
                    detach: true,
                    ..Default::default()
                }),
            ),
        );
        if start.await?.is_err() {
            return Ok(false);
        }
        let wait_until = (tokio::time::Instant::now() + KILL_WAIT).min(stop_by);
        loop {
            match self.exec_running(exec, stop_by, &during).await? {
                Some(false) => return Ok(true),
                None => return Ok(false),
                Some(true) if tokio::time::Instant::now() >= wait_until => return Ok(false),
                Some(true) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Whether an exec still runs, asked by `stop_by`; `None` when the daemon answers
    /// with an error.
    async fn exec_running(
        &self,
        exec: &str,
        stop_by: tokio::time::Instant,
        during: impl FnOnce() -> String,
    ) -> Result<Option<bool>, DockerError> {
        let inspect = self
            .answer_by(stop_by, during, self.docker.inspect_exec(exec))
            .await?;
        Ok(inspect.ok().map(|i| i.running == Some(true)))
    }
}

/// The first 12 digits of a container id, as docker shows it.
pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// How long a killed command's exec may still be reported running.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Where an exec's wrapper writes the pid (in the container's pid namespace) of the
/// process group the command leads. `/dev/shm` is a tmpfs docker gives every container,
/// writable by every user.
struct GroupFile(String);

impl GroupFile {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        GroupFile(format!("/dev/shm/kiln-exec-{}-{n}.pid", std::process::id()))
    }

    /// `cmd` behind a shell that writes its pid, runs `cmd` in the shell's process group
    /// (environment and working folder unchanged) and exits with `cmd`'s exit code once
    /// `cmd`'s output has closed: its stdout and stderr go, merged in the order they are
    /// written, through a pipe to `cat`, which ends when the last process holding the
    /// pipe (`cmd`, or one it left in the background) closes it. The exit code comes
    /// back on a descriptor `cmd` does not get (`4`, as `3` holds the real stdout). An
    /// image without `cat` gets the shell replaced by `cmd`, whose output the daemon
    /// then stops reading two seconds after `cmd` exits.
    fn wrap(&self, cmd: &[String], writable_home: bool) -> Vec<String> {
        let home = if writable_home { WRITABLE_HOME } else { "" };
        let script = format!(
            "{home}{{ echo $$ > {}; }} 2>/dev/null; \
             command -v cat >/dev/null 2>&1 || exec \"$@\"; \
             exec 3>&1; \
             status=$( {{ {{ \"$@\" 3>&- 4>&-; echo $? >&4; }} 2>&1 | cat >&3 4>&-; }} 4>&1 ); \
             exit \"${{status:-1}}\"",
            self.0
        );
        ["/bin/sh", "-c", &script, "kiln-exec"]
            .into_iter()
            .map(str::to_owned)
            .chain(cmd.iter().cloned())
            .collect()
    }

    /// A command that kills the group (the command and every process it started that
    /// did not leave its group) and removes the file.
    fn kill(&self) -> Vec<String> {
        let script = format!(
            "read pid < {0} && rm -f {0} && [ \"$pid\" -gt 1 ] && kill -KILL -\"$pid\"",
            self.0
        );
        ["/bin/sh", "-c", &script]
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_keeps_the_exit_code_and_the_kill_ends_the_group() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let run = |argv: Vec<String>| {
            let mut cmd = std::process::Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            // As runc starts an exec: leader of its own group.
            cmd.process_group(0);
            cmd
        };
        let group = GroupFile::new();
        let status = run(group.wrap(
            &["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()],
            false,
        ))
        .status()
        .unwrap();
        assert_eq!(status.code(), Some(3));
        let group = GroupFile::new();
        let script = "sleep 30 & sleep 30".to_owned();
        let mut child = run(group.wrap(&["sh".to_owned(), "-c".to_owned(), script], false))
            .spawn()
            .unwrap();
        let pid = loop {
            if let Ok(text) = std::fs::read_to_string(&group.0)
                && let Ok(pid) = text.trim().parse::<u32>()
            {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(pid, child.id(), "the file holds the command's own pid");
        let killed = run(group.kill()).status().unwrap();
        assert!(killed.success());
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(
            !std::path::Path::new(&group.0).exists(),
            "the file is removed"
        );
    }

    /// The wrapper ends when the command's output closes, not when the command exits:
    /// the daemon stops reading an exec's output soon after its first process exits, so
    /// what a background child holding stdout wrote later was lost.
    #[test]
    fn the_wrapper_ends_when_the_output_closes_with_the_commands_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = "(sleep 1; echo late) & echo early; echo warned >&2; exit 3".to_owned();
        let group = GroupFile::new();
        let started = Instant::now();
        let status = std::process::Command::new("/bin/sh")
            .args(&group.wrap(&["sh".to_owned(), "-c".to_owned(), script], false)[1..])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
            .status()
            .unwrap();
        // Read as soon as the wrapper exited, as the daemon would.
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(status.code(), Some(3), "the command's exit code");
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(written, "early\nwarned\nlate\n", "stderr merged in order");
        let _ = std::fs::remove_file(&group.0);
    }
}
