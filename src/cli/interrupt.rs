//! Stopping a run from outside: Ctrl-C (SIGINT), `kill` or a service manager (SIGTERM),
//! a closed terminal (SIGHUP). The first signal cancels running work, so kiln removes its
//! containers and half-written files before it exits with 130; a second one, for when
//! that cleanup is stuck (a daemon not answering), exits at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::error::EXIT_INTERRUPTED;

/// A token that any of SIGINT, SIGTERM and SIGHUP trips; the next such signal ends the
/// process without cleanup.
pub fn interruptible() -> CancellationToken {
    let cancel = CancellationToken::new();
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                let on_signal = cancel.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        if on_signal.is_cancelled() {
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
