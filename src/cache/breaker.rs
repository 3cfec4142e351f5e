//! The outage breaker of one cache tier: a tier that is down (a registry that does not
//! answer, or hangs until the daemon's timeout) is asked once in a run, not once per
//! step or entity. Until the tier's first question of the run is answered, the others
//! wait for it, so steps asking at once do not all hit a tier that is down.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::CacheError;

/// One per tier and run.
#[derive(Debug, Default)]
pub struct Breaker {
    /// The first failure of the run; set, the tier is not asked again.
    failed: OnceLock<Arc<CacheError>>,
    /// Held by the run's first question while it is asked; `true` once answered.
    answered: tokio::sync::Mutex<bool>,
}

/// A tier that is down.
#[derive(Debug, Clone)]
pub struct Down {
    pub error: Arc<CacheError>,
    /// This call found it down (the one to warn about); otherwise an earlier one did
    /// and the tier was not asked.
    pub first: bool,
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first {
            write!(f, "{}", self.error)
        } else {
            write!(f, "it failed earlier in this run: {}", self.error)
        }
    }
}

impl Breaker {
    /// Asks the tier through `ask`, unless it failed earlier in this run.
    pub async fn call<T, F, Fut>(&self, ask: F) -> Result<T, Down>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, CacheError>>,
    {
        let mut answered = self.answered.lock().await;
        if !*answered {
            // The run's first question: the others wait for its answer.
            let answer = self.note(ask().await);
            *answered = true;
            return answer;
        }
        drop(answered);
        if let Some(first) = self.failed.get() {
            return Err(Down {
                error: Arc::clone(first),
                first: false,
            });
        }
        self.note(ask().await)
    }

    /// A failure is remembered for the rest of the run.
    fn note<T>(&self, answer: Result<T, CacheError>) -> Result<T, Down> {
        answer.map_err(|error| {
            let error = Arc::new(error);
            Down {
                first: self.failed.set(Arc::clone(&error)).is_ok(),
                error: self.failed.get().map_or(error, Arc::clone),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn refused() -> CacheError {
        CacheError::io(
            std::path::Path::new("registry"),
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )
    }

    #[tokio::test]
    async fn a_tier_that_failed_is_not_asked_again() {
        let breaker = Breaker::default();
        let asked = AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>(refused())
        };
        let first = breaker.call(ask).await.unwrap_err();
        assert!(first.first);
        assert!(first.to_string().contains("registry"), "{first}");
        let again = breaker.call(ask).await.unwrap_err();
        assert!(!again.first);
        assert!(
            again
                .to_string()
                .starts_with("it failed earlier in this run: "),
            "{again}"
        );
        assert_eq!(asked.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_tier_that_answers_is_asked_every_time() {
        let breaker = Breaker::default();
        for n in 0..3 {
            let answer = breaker.call(|| async move { Ok::<_, CacheError>(n) }).await;
            assert_eq!(answer.unwrap(), n);
        }
    }

    #[tokio::test]
    async fn questions_at_once_wait_for_the_first_answer() {
        let breaker = Breaker::default();
        let asked = AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Err::<(), _>(refused())
        };
        let answers = futures_util::future::join_all((0..5).map(|_| breaker.call(ask))).await;
        assert_eq!(
            asked.load(Ordering::Relaxed),
            1,
            "one question reached the tier"
        );
        assert_eq!(
            answers
                .iter()
                .filter(|a| a.as_ref().is_err_and(|d| d.first))
                .count(),
            1
        );
    }
}
