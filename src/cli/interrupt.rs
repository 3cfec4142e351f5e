//! Stopping a run from outside: Ctrl-C (SIGINT), `kill` or a service manager (SIGTERM),
//! a closed terminal (SIGHUP). The first signal cancels running work, so kiln removes its
//! containers and half-written files before it exits with 130; a second one, for when
//! that cleanup is stuck (a daemon not answering), exits at once. A repeat within
//! [`GRACE`] of the first counts as the same signal: a terminal and a wrapper that
//! forwards Ctrl-C (or SIGINT and SIGHUP from one closing window) deliver two at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::error::EXIT_INTERRUPTED;

/// How long after the first signal a repeat is taken for the same one.
const GRACE: Duration = Duration::from_millis(500);

/// A token that any of SIGINT, SIGTERM and SIGHUP trips; the next such signal, after
/// [`GRACE`], ends the process without cleanup.
pub fn interruptible() -> CancellationToken {
    let cancel = CancellationToken::new();
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                let on_signal = cancel.clone();
                let first = Arc::clone(&first);
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        let since = {
                            let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                            let since = first.map(|at| at.elapsed());
                            first.get_or_insert_with(Instant::now);
                            since
                        };
                        if since.is_some_and(|since| since < GRACE) {
                            continue;
                        }
                        if since.is_some() {
                            eprintln!(
                                "kiln: interrupted again: exiting without cleanup \
                                 (`kiln clean` removes containers left behind)"
                            );
                            std::process::exit(i32::from(EXIT_INTERRUPTED));
                        }
                        tracing::warn!(
                            "stopping: cancelling running work and cleaning up \
                             (interrupt again to exit at once)"
                        );
                        on_signal.cancel();
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for signal {}: {e}", kind.as_raw_value()),
        }
    }
    cancel
}
