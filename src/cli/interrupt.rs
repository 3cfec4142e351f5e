//! Stopping a run from outside: Ctrl-C (SIGINT), `kill` or a service manager (SIGTERM),
//! a closed terminal (SIGHUP). Each cancels running work, so kiln removes its
//! containers and half-written files before it exits with 130.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// A token that any of SIGINT, SIGTERM and SIGHUP trips.
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
                    if stream.recv().await.is_some() {
                        on_signal.cancel();
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for signal {}: {e}", kind.as_raw_value()),
        }
    }
    cancel
}
