//! Long-running containers and commands run in them (`exec`): the environment
//! containers of entity checks.
//!
//! A container idles (`/bin/sh` looping on `sleep`, with docker's init reaping orphans)
//! until it is removed; every entity runs as an `exec` in it. Docker has no API to kill
//! an exec, so on a timeout kiln kills the exec's process and all its descendants from
//! the host by pid (`ExecInspect.Pid`, descendants found through `/proc`), which works
//! when the daemon runs on this machine and kiln may signal those processes (they run as
//! the host user by default). When it cannot, [`ExecOutcome::kill_failed`] tells the
//! caller to remove the container instead.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
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

/// The longest line kept in an exec's tail; longer lines are cut.
const MAX_LINE: usize = 4096;

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
}

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
            .docker
            .create_container(Some(options.build()), body)
            .await
            .map_err(|e| DockerError::request("creating a container of", &spec.image, e))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove_container(&created.id).await;
            return Err(DockerError::request(
                "starting a container of",
                &spec.image,
                e,
            ));
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
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| DockerError::request("listing containers labelled", label, e))?;
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
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::request("removing container", id, e)),
        }
    }

    /// Runs `request` in `container`, writing all its output to `log` and keeping the last
    /// `tail_lines` lines; kills it at `timeout` or when `cancel` trips.
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
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(request.cmd.clone()),
                    env: Some(env),
                    user: request.user.clone(),
                    working_dir: request.workdir.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| DockerError::request("running a command in", container, e))?;
        let results = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .map_err(|e| DockerError::request("running a command in", container, e))?;
        let StartExecResults::Attached { mut output, .. } = results else {
            return Err(DockerError::request(
                "running a command in",
                container,
                "the daemon detached it",
            ));
        };
        let mut tail = Tail::new(tail_lines);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut timed_out = false;
        let mut cancelled = false;
        loop {
            let next = tokio::select! {
                next = output.next() => next,
                () = sleep_until(deadline) => { timed_out = true; break; }
                () = cancel.cancelled() => { cancelled = true; break; }
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
        let mut kill_failed = false;
        if timed_out || cancelled {
            let reason = if timed_out { "timed out" } else { "cancelled" };
            let _ = writeln!(
                log,
                "\nkiln: {reason} after {:.1}s; killing the command",
                started.elapsed().as_secs_f64()
            );
            tail.end_line();
            tail.push(format!("kiln: {reason}; the command was killed\n").as_bytes());
            kill_failed = !self.kill_exec(&created.id).await;
        }
        let _ = log.flush();
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| DockerError::request("inspecting a command in", container, e))?;
        Ok(ExecOutcome {
            exit_code: if timed_out || cancelled {
                None
            } else {
                inspect.exit_code
            },
            timed_out,
            cancelled,
            kill_failed,
            tail: tail.finish(),
            duration: started.elapsed(),
        })
    }

    /// Kills an exec's process and its descendants by host pid; true once it no longer
    /// runs.
    async fn kill_exec(&self, exec: &str) -> bool {
        let Ok(inspect) = self.docker.inspect_exec(exec).await else {
            return false;
        };
        if inspect.running != Some(true) {
            return true;
        }
        let Some(pid) = inspect.pid.filter(|p| *p > 0) else {
            return false;
        };
        for victim in process_tree(pid as i32) {
            // SAFETY: kill only sends a signal; a pid that is gone gives ESRCH.
            unsafe {
                libc::kill(victim, libc::SIGKILL);
            }
        }
        for _ in 0..40 {
            match self.docker.inspect_exec(exec).await {
                Ok(i) if i.running != Some(true) => return true,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => return false,
            }
        }
        false
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// `pid` and every descendant, from `/proc` (empty where there is no `/proc`).
fn process_tree(pid: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(parent) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                children.entry(parent).or_default().push(child);
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    tree
}

/// The last lines of a stream of bytes, each cut at [`MAX_LINE`].
struct Tail {
    lines: VecDeque<String>,
    max: usize,
    partial: Vec<u8>,
}

impl Tail {
    fn new(max: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(max.min(1024)),
            max,
            partial: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                self.keep(line);
            } else if self.partial.len() < MAX_LINE {
                self.partial.push(byte);
            }
        }
    }

    /// Ends a line the command left unfinished (so a note of kiln's starts a line of
    /// its own, without an empty line before it).
    fn end_line(&mut self) {
        if !self.partial.is_empty() {
            self.push(b"\n");
        }
    }

    fn keep(&mut self, line: String) {
        if self.max == 0 {
            return;
        }
        let line = super::text::printable(&line);
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn finish(mut self) -> String {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.keep(line);
        }
        self.lines.into_iter().collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_cuts_long_ones() {
        let mut tail = Tail::new(2);
        tail.push(b"one\ntw");
        tail.push(b"o\nthree\nfour");
        assert_eq!(tail.finish(), "three\nfour");
        let mut tail = Tail::new(1);
        tail.push(&vec![b'x'; MAX_LINE * 2]);
        assert_eq!(tail.finish().len(), MAX_LINE);
    }

    #[test]
    fn a_note_starts_its_own_line_without_an_empty_one() {
        let mut tail = Tail::new(5);
        tail.push(
            b"done
",
        );
        tail.end_line();
        tail.push(
            b"note
",
        );
        assert_eq!(
            tail.finish(),
            "done
note"
        );
        let mut tail = Tail::new(5);
        tail.push(b"half");
        tail.end_line();
        tail.push(
            b"note
",
        );
        assert_eq!(
            tail.finish(),
            "half
note"
        );
    }

    #[test]
    fn process_tree_starts_with_the_process() {
        let me = std::process::id() as i32;
        assert_eq!(process_tree(me)[0], me);
    }
}
