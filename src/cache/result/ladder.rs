//! The result ladder: this machine's result cache, then the registry (when kiln.kdl
//! names one and the run may use it), asked in that order; a result found in a later
//! tier is stored into the earlier ones, a result a run produced into all of them. A
//! shared tier that fails is warned about once and not asked again in the run.

use super::local::LocalResults;
use super::registry::RegistryResults;
use super::source::ResultSource;
use super::tier::{Answer, ResultTier, Stored};
use crate::cache::{Breaker, CacheError};
use crate::model::Settings;

struct Rung {
    tier: Box<dyn ResultTier>,
    /// For a tier others share; `None` for one on this machine.
    breaker: Option<Breaker>,
}

impl Rung {
    /// Asks the tier through its breaker; a failure is warned about the first time.
    async fn ask<T, F, Fut>(&self, ask: F) -> Result<T, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, CacheError>>,
    {
        let Some(breaker) = &self.breaker else {
            return ask().await.map_err(|e| e.to_string());
        };
        breaker.call(ask).await.map_err(|down| {
            if down.first {
                tracing::warn!("{down}; results stay local for the rest of this run");
            }
            down.to_string()
        })
    }
}

/// The result tiers of a run.
pub struct ResultLadder {
    rungs: Vec<Rung>,
    local: LocalResults,
    /// An entry a shared tier has but that fails verification fails the run
    /// (`require-signed`), instead of being passed over.
    require_signed: bool,
    /// Shared tiers are written: nothing is checked, or this run signs. A run that
    /// trusts keys without holding one reads them and writes none (its entries would
    /// be refused), without tripping their breakers.
    writes_shared: bool,
    /// The run was told once that it writes no shared tier.
    told: std::sync::atomic::AtomicBool,
}

impl ResultLadder {
    /// The workspace's result tiers; `shared`: the registry's too, if one is set.
    pub fn new(settings: &Settings, shared: bool) -> Self {
        let trust = crate::cache::trust::of(settings);
        let local = LocalResults::new(settings.result_cache_dir());
        let mut tiers: Vec<Box<dyn ResultTier>> = vec![Box::new(local.clone())];
        if shared && let Some(registry) = &settings.registry {
            tiers.push(Box::new(RegistryResults::new(
                &registry.value,
                trust.clone(),
            )));
        }
        Self {
            rungs: tiers
                .into_iter()
                .map(|tier| Rung {
                    breaker: (tier.source() != ResultSource::Cache).then(Breaker::default),
                    tier,
                })
                .collect(),
            local,
            require_signed: trust.required(),
            writes_shared: trust.may_write(),
            told: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// This machine's tier, for what only it can answer (every entry's inputs, for
    /// `kiln explain`).
    pub fn local(&self) -> &LocalResults {
        &self.local
    }

    /// Whether a tier others share is asked (results travel beyond this machine).
    pub fn shared(&self) -> bool {
        self.rungs.iter().any(|r| r.breaker.is_some())
    }

    /// The first tier that has a result under `key`, asked as cheaply as each can tell;
    /// `Run` when none has.
    pub async fn locate(&self, key: &str) -> ResultSource {
        for rung in &self.rungs {
            if let Ok(true) = rung.ask(|| rung.tier.probe(key)).await {
                return rung.tier.source();
            }
        }
        ResultSource::Run
    }

    /// The result under `key` from the first tier that has one `take` takes (the caller
    /// reads it, and checks what a shared tier sends), and where it came from. An entry
    /// a tier refuses (over a bound, not signed by a trusted key) is passed over with a
    /// warning, or is the error when kiln.kdl requires signatures.
    pub async fn fetch<T>(
        &self,
        key: &str,
        take: impl Fn(ResultSource, Stored) -> Option<T>,
    ) -> Result<Option<(ResultSource, T)>, CacheError> {
        for rung in &self.rungs {
            match rung.ask(|| rung.tier.fetch(key)).await {
                Ok(Answer::Found(stored)) => {
                    if let Some(taken) = take(rung.tier.source(), stored) {
                        return Ok(Some((rung.tier.source(), taken)));
                    }
                }
                Ok(Answer::Refused(why)) if self.require_signed => {
                    return Err(CacheError::Untrusted {
                        tier: rung.tier.source().tier_name(),
                        what: format!("the result under `result-{key}`"),
                        why,
                    });
                }
                Ok(Answer::Refused(why)) => tracing::warn!(
                    "{}: the result under `result-{key}` is not used: {why}; the entity runs",
                    rung.tier.source().tier_name()
                ),
                Ok(Answer::Missing) | Err(_) => {}
            }
        }
        Ok(None)
    }

    /// Stores a result into each tier before `from` (where it came from; `Run` for a
    /// result the run produced: every tier). A shared tier that fails is warned about
    /// by its breaker; the first failure of a tier on this machine is returned (the
    /// others are still stored into): the result is the run's whatever its caching
    /// came to.
    pub async fn store(
        &self,
        key: &str,
        stored: &Stored,
        from: ResultSource,
    ) -> Result<(), String> {
        let mut failed = Ok(());
        let before = self
            .rungs
            .iter()
            .take_while(|rung| rung.tier.source() != from);
        for rung in before {
            if rung.breaker.is_some() && !self.writes_shared {
                if !self.told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::info!(
                        "results are not pushed: kiln.kdl trusts signed results only, and this run has no signing key"
                    );
                }
                continue;
            }
            if let Err(e) = rung.ask(|| rung.tier.store(key, stored)).await
                && rung.breaker.is_none()
                && failed.is_ok()
            {
                failed = Err(e);
            }
        }
        failed
    }
}
