//! The handoff worker: drains the handoff outbox, delivering each entry to the target with its
//! saved progress, and schedules retries with exponential backoff.

use crate::{HandoffRequest, HandoffTarget};
use chrono::Duration;
use frontline_domain::Timestamp;
use frontline_store::{HandoffAttempt, Store, StoreError};
use std::sync::Arc;

/// Retry schedule.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Wait after the first failure.
    pub first: Duration,
    /// Longest wait between attempts.
    pub max: Duration,
    /// Give up after this many attempts.
    pub attempts: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::seconds(15),
            max: Duration::minutes(30),
            attempts: 20,
        }
    }
}

impl Backoff {
    /// The wait after `attempts` failed attempts (1 = the first failure).
    pub fn wait(&self, attempts: i64) -> Duration {
        let factor = 1_i64 << (attempts - 1).clamp(0, 20);
        (self.first * factor as i32).min(self.max)
    }
}

/// What one pass over the outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Delivered now.
    pub delivered: usize,
    /// Failed and scheduled again.
    pub retrying: usize,
    /// Given up on.
    pub failed: usize,
}

/// Delivers queued handoffs to one target.
pub struct Dispatcher {
    store: Store,
    target: Arc<dyn HandoffTarget>,
    backoff: Backoff,
}

impl Dispatcher {
    /// A dispatcher for `target`'s entries in `store`.
    pub fn new(store: Store, target: Arc<dyn HandoffTarget>, backoff: Backoff) -> Self {
        Self {
            store,
            target,
            backoff,
        }
    }

    /// Try every due entry once.
    pub async fn run_once(&self, now: Timestamp) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        for entry in self.store.due_handoffs(now, 50).await? {
            if entry.target != self.target.name() {
                continue;
            }
            let mut progress = entry.progress.clone();
            let attempt = match serde_json::from_value::<HandoffRequest>(entry.request.clone()) {
                Err(e) => HandoffAttempt::Failed {
                    error: format!("stored request is unreadable: {e}"),
                },
                Ok(request) => match self.target.deliver(&request, &mut progress).await {
                    Ok(delivered) => HandoffAttempt::Delivered {
                        reference: delivered.reference,
                    },
                    Err(e) if e.is_transient() && entry.attempts + 1 < self.backoff.attempts => {
                        HandoffAttempt::Retry {
                            next_attempt_at: now + self.backoff.wait(entry.attempts + 1),
                            error: e.to_string(),
                        }
                    }
                    Err(e) => HandoffAttempt::Failed {
                        error: e.to_string(),
                    },
                },
            };
            match &attempt {
                HandoffAttempt::Delivered { reference } => {
                    tracing::info!(handoff = %entry.id, target = self.target.name(), %reference, "handoff delivered");
                    pass.delivered += 1;
                }
                HandoffAttempt::Retry { error, .. } => {
                    tracing::warn!(handoff = %entry.id, %error, "handoff delivery failed; will retry");
                    pass.retrying += 1;
                }
                HandoffAttempt::Failed { error } => {
                    tracing::error!(handoff = %entry.id, %error, "handoff delivery failed for good");
                    pass.failed += 1;
                }
            }
            self.store
                .record_handoff_attempt(&entry.id, &progress, &attempt, now)
                .await?;
        }
        Ok(pass)
    }

    /// Run forever, a pass every `every`.
    pub async fn run(self, every: std::time::Duration) {
        loop {
            if let Err(e) = self.run_once(chrono::Utc::now()).await {
                tracing::error!(error = %e, "handoff worker: store failed; retrying next pass");
            }
            tokio::time::sleep(every).await;
        }
    }
}
