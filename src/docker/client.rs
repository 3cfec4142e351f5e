//! The connection to the Docker daemon: DOCKER_HOST honoured, API version negotiated,
//! and how long kiln waits for it to answer.
//!
//! A daemon can stop answering while its socket still accepts connections (hung on a
//! lock, a full disk, a stuck storage driver). kiln never waits on it without a bound:
//!
//! - A short call (inspect, tag, list, create, start, remove, exec create/inspect) must
//!   answer within [`Daemon::answer_within`] (`KILN_DOCKER_TIMEOUT` seconds, 30 by
//!   default), else it fails with [`DockerError::NotAnswering`] naming the daemon's
//!   address.
//! - A long call (pull, push, a save, a registry question, an exec's output) has no
//!   total bound: while it stays silent for `answer_within`, the daemon is pinged, and
//!   one that does not answer the ping within `answer_within` ends it as not answering.
//!   (Build and load streams end on cancellation, and wait for the start of the
//!   daemon's answer for at most bollard's 2 minutes.)
//! - Once a call went unanswered, the next ones (the cleanup of an interrupted run) get
//!   [`Daemon::grace`] instead, until one is answered again.
//! - A run's cancellation (Ctrl-C) asks the daemon once, at once, whether it answers
//!   ([`Daemon::abandon_on`]): a ping unanswered within [`ABANDON_AFTER`] abandons every
//!   call waiting on it and fails every later one at once, so an interrupted run ends
//!   within a second whatever the daemon does (a daemon that answers gets the clean-up's
//!   calls as before).
//!
//! Cancellation and an exec's timeout are kiln's clock, never a daemon call: see
//! `container.rs`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::error::{ConnectionLost, DockerError, is_transport};

/// How long a short call may take, unless `KILN_DOCKER_TIMEOUT` says otherwise.
pub const DEFAULT_ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The environment variable setting [`Daemon::answer_within`], in whole seconds.
pub const TIMEOUT_VARIABLE: &str = "KILN_DOCKER_TIMEOUT";

/// The most kiln gives a timed-out or cancelled command's kill, and each call after a
/// call went unanswered.
const MAX_GRACE: Duration = Duration::from_secs(5);

/// How long after a run's cancellation the daemon has to answer a ping before every
/// call waiting on it is abandoned: short enough that Ctrl-C ends a run within a second.
pub const ABANDON_AFTER: Duration = Duration::from_millis(500);

/// bollard's own bound, on the time until a response's headers (its default): kept for
/// the long calls, which answer late (a load answers when it is done). Short calls
/// have kiln's bound, below it.
const TRANSPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where bollard connects without DOCKER_HOST.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connected daemon. Cheap to clone; clones share what they learnt of whether the
/// daemon answers.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub(crate) docker: Docker,
    address: Arc<str>,
    answer_within: Duration,
    /// A call went unanswered and none has been answered since.
    unanswered: Arc<AtomicBool>,
    /// Tripped when the run was cancelled and the daemon did not answer a ping in
    /// [`ABANDON_AFTER`]: no call waits on it any longer.
    abandoned: CancellationToken,
}

impl Daemon {
    /// Connects as the docker CLI would (DOCKER_HOST, else the local socket), agrees on
    /// an API version the daemon supports, and checks that it answers, waiting
    /// `KILN_DOCKER_TIMEOUT` seconds (30 by default) for each answer.
    pub async fn connect() -> Result<Self, DockerError> {
        let address = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Self::connect_to(&address, answer_within_from_env()).await
    }

    /// Connects to the daemon at `address` (as DOCKER_HOST would name it), waiting
    /// `answer_within` for each answer of a short call.
    pub async fn connect_to(address: &str, answer_within: Duration) -> Result<Self, DockerError> {
        let unreachable = |source: bollard::errors::Error| {
            tracing::debug!(
                "a request to the Docker daemon at {address} failed (connecting): {source:?}"
            );
            DockerError::Unreachable {
                address: address.to_owned(),
                during: None,
                source: ConnectionLost::of(source),
            }
        };
        let answer_within = answer_within.max(Duration::from_secs(1));
        let docker = Docker::connect_with_host(address)
            .map_err(unreachable)?
            .with_timeout(TRANSPORT_TIMEOUT.max(answer_within + Duration::from_secs(1)));
        let mut daemon = Self {
            docker,
            address: Arc::from(address),
            answer_within,
            unanswered: Arc::default(),
            abandoned: CancellationToken::new(),
        };
        let negotiated = daemon
            .answer(
                || "connecting".to_owned(),
                daemon.docker.clone().negotiate_version(),
            )
            .await?
            .map_err(unreachable)?;
        daemon.docker = negotiated;
        daemon
            .answer(|| "connecting".to_owned(), daemon.docker.ping())
            .await?
            .map_err(unreachable)?;
        tracing::debug!("docker API {} at {address}", daemon.docker.client_version());
        Ok(daemon)
    }

    /// The daemon's address, as DOCKER_HOST names it.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the daemon runs on this machine, so that a bind mount of a path here
    /// shows the container that path: a unix socket is local; over TCP (or ssh), the
    /// daemon's host name must be this machine's.
    pub async fn on_this_machine(&self) -> Result<bool, DockerError> {
        if self.address.starts_with("unix://") || self.address.starts_with('/') {
            return Ok(true);
        }
        let info = self
            .answer(
                || "asking the daemon's host name".to_owned(),
                self.docker.info(),
            )
            .await?
            .map_err(|e| self.failed("asking", "the daemon's host name", e))?;
        Ok(info.name.as_deref() == Some(local_host_name().as_str()))
    }

    /// When `cancel` trips (a run's Ctrl-C), pings the daemon: one that does not answer
    /// within [`ABANDON_AFTER`] is abandoned — every call waiting on it (by this daemon
    /// or a clone) ends as [`DockerError::NotAnswering`], and every later call fails at
    /// once without being sent. A daemon that answers is left to finish what it does.
    /// Watches until the guard it returns goes (the end of the run). Must be called
    /// within a tokio runtime.
    #[must_use = "the watch ends when the guard is dropped"]
    pub fn abandon_on(&self, cancel: CancellationToken) -> DropGuard {
        let daemon = self.clone();
        let over = CancellationToken::new();
        let watching = over.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = watching.cancelled() => return,
            }
            if daemon.abandoned.is_cancelled() {
                return;
            }
            if let Ok(Ok(_)) = tokio::time::timeout(ABANDON_AFTER, daemon.docker.ping()).await {
                return;
            }
            tracing::debug!(
                "the Docker daemon at {} did not answer within {} ms of the cancellation: its calls are abandoned",
                daemon.address,
                ABANDON_AFTER.as_millis()
            );
            daemon.unanswered.store(true, Ordering::Relaxed);
            daemon.abandoned.cancel();
        });
        over.drop_guard()
    }

    /// Whether the calls to the daemon were abandoned ([`Daemon::abandon_on`]).
    pub fn is_abandoned(&self) -> bool {
        self.abandoned.is_cancelled()
    }

    /// How long a short call may take.
    pub fn answer_within(&self) -> Duration {
        self.answer_within
    }

    /// How long kiln gives the kill of a timed-out or cancelled command, and each call
    /// once one went unanswered: [`Daemon::answer_within`], at most 5 s.
    pub fn grace(&self) -> Duration {
        self.answer_within.min(MAX_GRACE)
    }

    /// The bound of the next short call.
    fn bound(&self) -> Duration {
        if self.unanswered.load(Ordering::Relaxed) {
            self.grace()
        } else {
            self.answer_within
        }
    }

    /// Awaits a short call for at most [`Daemon::answer_within`] (or [`Daemon::grace`]
    /// after a call went unanswered; not at all once the daemon is abandoned, see
    /// [`Daemon::abandon_on`]); `during` says what kiln was doing, for the error.
    /// The call's own result is left to the caller.
    pub(crate) async fn answer<T>(
        &self,
        during: impl FnOnce() -> String,
        call: impl Future<Output = T>,
    ) -> Result<T, DockerError> {
        let bound = self.bound();
        self.answer_by(tokio::time::Instant::now() + bound, during, call)
            .await
    }

    /// Awaits a call until `deadline` at the latest (and for at most the bound of a
    /// short call).
    pub(crate) async fn answer_by<T>(
        &self,
        deadline: tokio::time::Instant,
        during: impl FnOnce() -> String,
        call: impl Future<Output = T>,
    ) -> Result<T, DockerError> {
        let started = tokio::time::Instant::now();
        if self.abandoned.is_cancelled() {
            return Err(self.not_answering(Duration::ZERO, during()));
        }
        let deadline = deadline.min(started + self.bound());
        tokio::select! {
            answer = tokio::time::timeout_at(deadline, call) => match answer {
                Ok(answer) => {
                    self.unanswered.store(false, Ordering::Relaxed);
                    Ok(answer)
                }
                Err(_) => {
                    self.unanswered.store(true, Ordering::Relaxed);
                    Err(self.not_answering(deadline - started, during()))
                }
            },
            () = self.abandoned.cancelled() => Err(self.not_answering(started.elapsed(), during())),
        }
    }

    /// Awaits a long call (a stream's next item: a build step, a pull, a load), however
    /// long it takes while the daemon answers pings; when it stayed silent for
    /// [`Daemon::answer_within`] and the daemon does not answer a ping either, it ends
    /// as [`DockerError::NotAnswering`] (at once, when the daemon is abandoned).
    pub(crate) async fn watch<T>(
        &self,
        during: impl FnOnce() -> String,
        call: impl Future<Output = T>,
    ) -> Result<T, DockerError> {
        let started = tokio::time::Instant::now();
        tokio::select! {
            answer = call => Ok(answer),
            silent = self.silent() => Err(self.not_answering(silent, during())),
            () = self.abandoned.cancelled() => Err(self.not_answering(started.elapsed(), during())),
        }
    }

    /// Completes only when the daemon does not answer: after each
    /// [`Daemon::answer_within`] of waiting, it is pinged; returns how long the
    /// unanswered ping waited.
    pub(crate) async fn silent(&self) -> Duration {
        loop {
            tokio::time::sleep(self.answer_within).await;
            let bound = self.bound();
            match tokio::time::timeout(bound, self.docker.ping()).await {
                Ok(_) => self.unanswered.store(false, Ordering::Relaxed),
                Err(_) => {
                    self.unanswered.store(true, Ordering::Relaxed);
                    return bound;
                }
            }
        }
    }

    /// What a call that failed with `error` becomes — the one mapping of every call
    /// site: a connection that could not be made or broke is
    /// [`DockerError::Unreachable`] naming this daemon, whatever kiln was doing (`action`
    /// of `target`, e.g. "saving" `kiln:x`); what the daemon answered is
    /// [`DockerError::Request`]. Either way `-vv` logs the request and the client's own
    /// error.
    pub(crate) fn failed(
        &self,
        action: &'static str,
        target: &str,
        error: bollard::errors::Error,
    ) -> DockerError {
        if is_transport(&error) {
            return self.unreachable(format!("{action} `{target}`"), error);
        }
        tracing::debug!(
            "the Docker daemon at {} answered {action} `{target}` with an error: {error:?}",
            self.address
        );
        DockerError::request(action, target, error)
    }

    /// A load (`action` of `target`) that failed: the daemon read what it was sent and
    /// refused it — in its answer's status, or in the stream it answered with ("invalid
    /// tar header") — or the daemon was not reached, or the connection broke, which is
    /// not what was sent's fault.
    pub(crate) fn loading(
        &self,
        action: &'static str,
        target: &str,
        error: bollard::errors::Error,
    ) -> DockerError {
        match error {
            bollard::errors::Error::DockerResponseServerError { .. }
            | bollard::errors::Error::DockerStreamError { .. } => {
                self.failed(action, target, error)
            }
            other => self.unreachable(format!("{action} `{target}`"), other),
        }
    }

    /// The connection failed with `error` while kiln was `during` (e.g. "saving
    /// `kiln:x`"): [`DockerError::Unreachable`] naming this daemon; `-vv` logs the
    /// request and the client's own error.
    pub(crate) fn unreachable(&self, during: String, error: bollard::errors::Error) -> DockerError {
        tracing::debug!(
            "a request to the Docker daemon at {} failed ({during}): {error:?}",
            self.address
        );
        DockerError::Unreachable {
            address: self.address.to_string(),
            during: Some(during),
            source: ConnectionLost::of(error),
        }
    }

    /// The error for a call that waited `waited` without an answer.
    pub(crate) fn not_answering(&self, waited: Duration, during: String) -> DockerError {
        DockerError::NotAnswering {
            address: self.address.to_string(),
            seconds: waited.as_secs_f64().round().max(1.0) as u64,
            during,
        }
    }
}

/// `KILN_DOCKER_TIMEOUT` in whole seconds (at least 1), else the default.
/// How long a short call may take: `KILN_DOCKER_TIMEOUT` seconds, 30 by default. The
/// registry clients of the cache tiers wait as long for an answer.
pub fn answer_within_from_env() -> Duration {
    let Ok(text) = std::env::var(TIMEOUT_VARIABLE) else {
        return DEFAULT_ANSWER_WITHIN;
    };
    match text.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
        _ => {
            tracing::warn!(
                "{TIMEOUT_VARIABLE}={text:?} is not a number of seconds; waiting {} s",
                DEFAULT_ANSWER_WITHIN.as_secs()
            );
            DEFAULT_ANSWER_WITHIN
        }
    }
}

/// This machine's host name (as the kernel has it).
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}
