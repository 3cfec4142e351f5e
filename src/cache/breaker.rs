//! The outage breaker of one cache tier: a tier that is down (a registry that does not
//! answer, or hangs until the daemon's timeout) is asked once in a run, not once per
//! step or entity. Until the tier's first question of the run is answered, the others
//! wait for it, so steps asking at once do not all hit a tier that is down.

use std::future::Future;
use std::sync::OnceLock;

/// One per tier and run.
#[derive(Debug, Default)]
pub struct Breaker {
    /// The first failure of the run; set, the tier is not asked again.
    failed: OnceLock<String>,
    /// Set once the first question was answered.
    asked: tokio::sync::OnceCell<()>,
}

impl Breaker {
    /// Whether the tier failed earlier in this run, and how.
    pub fn tripped(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Asks the tier through `ask`, unless it failed earlier in this run: `Err` is the
    /// tier's failure (this one, or the first one again without asking).
    pub async fn call<T, F, Fut>(&self, ask: F) -> Result<T, Down>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        if let Some(first) = self.failed.get() {
            return Err(Down::earlier(first));
        }
        let mut ask = Some(ask);
        let mut first_answer = None;
        self.asked
            .get_or_init(|| async {
                if let Some(ask) = ask.take() {
                    first_answer = Some(self.note(ask().await));
                }
            })
            .await;
        if let Some(answer) = first_answer {
            return answer;
        }
        if let Some(first) = self.failed.get() {
            return Err(Down::earlier(first));
        }
        match ask.take() {
            Some(ask) => self.note(ask().await),
            // Not reached: `ask` is taken only by the first question.
            None => Err(Down::earlier("asked twice")),
        }
    }

    /// A failure is remembered for the rest of the run.
    fn note<T>(&self, answer: Result<T, String>) -> Result<T, Down> {
        answer.map_err(|error| Down {
            tripped: self.failed.set(error.clone()).is_ok(),
            error,
        })
    }
}

/// A tier that is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    pub error: String,
    /// This call found it down first: the one to warn about.
    pub tripped: bool,
}

impl Down {
    fn earlier(first: &str) -> Self {
        Self {
            error: format!("it failed earlier in this run: {first}"),
            tripped: false,
        }
    }
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tier_that_failed_is_not_asked_again() {
        let breaker = Breaker::default();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err::<(), _>("connection refused".to_owned())
        };
        let first = breaker.call(ask).await.unwrap_err();
        assert_eq!(
            (first.error.as_str(), first.tripped),
            ("connection refused", true)
        );
        let again = breaker.call(ask).await.unwrap_err();
        assert!(!again.tripped);
        assert!(
            again
                .error
                .contains("failed earlier in this run: connection refused"),
            "{again}"
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(breaker.tripped(), Some("connection refused"));
    }

    #[tokio::test]
    async fn a_tier_that_answers_is_asked_every_time() {
        let breaker = Breaker::default();
        for n in 0..3 {
            assert_eq!(
                breaker.call(|| async move { Ok::<_, String>(n) }).await,
                Ok(n)
            );
        }
        assert_eq!(breaker.tripped(), None);
    }
}
