//! One shape for every queue frontline drains (inbound messages waiting for their turn,
//! replies waiting for their channel, handoffs waiting for the helpdesk): a [`Queue`] knows how
//! to take what is due and try each entry once, recording the outcome with
//! [`Backoff::after_failure`]; the [`Worker`] runs its passes when woken, on a tick, and on
//! stop drains it: passes go on while they get work done, then it returns.

use crate::{Backoff, DeliveryAttempt, StoreError};
use frontline_domain::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// What one pass over a queue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Entries finished this pass (delivered, handled). While a pass finishes some, the worker
    /// runs another at once: more may be due (passes take a bounded batch, and the intake takes
    /// one message per sender).
    pub done: usize,
}

/// The boxed future a [`Queue`] pass returns.
pub type PassFuture<'a> = Pin<Box<dyn Future<Output = Result<Progress, StoreError>> + Send + 'a>>;

/// A queue a [`Worker`] drains.
pub trait Queue: Send + Sync + 'static {
    /// Its name in logs: `intake`, `outbox`, `handoffs`.
    fn name(&self) -> &'static str;
    /// Try every entry due at `now` once, recording each outcome in the store.
    fn pass(&self, now: Timestamp) -> PassFuture<'_>;
}

impl Backoff {
    /// What a failed try comes to for an entry tried `attempts` times before: another try
    /// after the backoff's wait while the failure is worth retrying and attempts remain, else
    /// given up. Every queue classifies its failures into `retry` and records this.
    pub fn after_failure(
        &self,
        attempts: i64,
        retry: bool,
        error: String,
        now: Timestamp,
    ) -> DeliveryAttempt {
        if retry && attempts + 1 < self.attempts {
            DeliveryAttempt::Retry {
                next_attempt_at: now + self.wait(attempts + 1),
                error,
            }
        } else {
            DeliveryAttempt::Failed { error }
        }
    }
}

/// Drains one [`Queue`].
pub struct Worker<Q> {
    queue: Q,
    every: Duration,
    wake: Arc<Notify>,
    done: Vec<Arc<Notify>>,
    clock: fn() -> Timestamp,
}

impl<Q: Queue> Worker<Q> {
    /// A worker for `queue`, running a pass whenever `wake` is notified and at least every
    /// `every`.
    pub fn new(queue: Q, every: Duration, wake: Arc<Notify>) -> Self {
        Self {
            queue,
            every,
            wake,
            done: Vec::new(),
            clock: chrono::Utc::now,
        }
    }

    /// Also notify `next` after each pass that finished work (the intake wakes the outbox and
    /// the handoff queue, which its turns fill).
    pub fn then_wake(mut self, next: Arc<Notify>) -> Self {
        self.done.push(next);
        self
    }

    /// The queue it drains.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Run until `stop` turns true; then drain (passes go on while they finish work, so what
    /// is due is not left behind) and return.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.queue.name();
        loop {
            let progress = match self.queue.pass((self.clock)()).await {
                Ok(progress) => progress,
                Err(e) => {
                    tracing::error!(queue = name, error = %e, "worker: the store failed; retrying next pass");
                    Progress::default()
                }
            };
            if progress.done > 0 {
                for next in &self.done {
                    next.notify_one();
                }
                continue;
            }
            if *stop.borrow() {
                tracing::info!(queue = name, "worker: drained; stopping");
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A queue of `left` entries, finishing at most `batch` a pass.
    struct Countdown {
        left: AtomicUsize,
        batch: usize,
        passes: AtomicUsize,
    }

    impl Queue for Arc<Countdown> {
        fn name(&self) -> &'static str {
            "countdown"
        }
        fn pass(&self, _now: Timestamp) -> PassFuture<'_> {
            Box::pin(async move {
                self.passes.fetch_add(1, Ordering::SeqCst);
                let left = self.left.load(Ordering::SeqCst);
                let done = left.min(self.batch);
                self.left.store(left - done, Ordering::SeqCst);
                Ok(Progress { done })
            })
        }
    }

    fn countdown(left: usize, batch: usize) -> Arc<Countdown> {
        Arc::new(Countdown {
            left: AtomicUsize::new(left),
            batch,
            passes: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn a_stop_drains_what_is_due_then_returns() {
        let queue = countdown(7, 3);
        let (stop, stopping) = watch::channel(true);
        let next = Arc::new(Notify::new());
        let worker = Worker::new(queue.clone(), Duration::from_secs(3600), Arc::default())
            .then_wake(next.clone());
        tokio::time::timeout(Duration::from_secs(5), worker.run(stopping))
            .await
            .expect("a stopped worker returns once drained");
        assert_eq!(queue.left.load(Ordering::SeqCst), 0);
        // 3 + 3 + 1, then one pass that found nothing.
        assert_eq!(queue.passes.load(Ordering::SeqCst), 4);
        // The passes that did work woke the next worker.
        tokio::time::timeout(Duration::from_secs(1), next.notified())
            .await
            .expect("woken");
        drop(stop);
    }

    #[tokio::test]
    async fn a_wake_runs_a_pass_before_the_tick() {
        let queue = countdown(0, 10);
        let (stop, stopping) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let worker = Worker::new(queue.clone(), Duration::from_secs(3600), wake.clone());
        let running = tokio::spawn(worker.run(stopping));
        while queue.passes.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        queue.left.store(2, Ordering::SeqCst);
        wake.notify_one();
        for _ in 0..200 {
            if queue.left.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queue.left.load(Ordering::SeqCst), 0, "woken, not ticked");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("stops")
            .unwrap();
    }

    #[test]
    fn a_failure_is_retried_with_backoff_until_the_attempts_run_out_or_it_is_permanent() {
        let backoff = Backoff {
            first: chrono::Duration::seconds(10),
            max: chrono::Duration::seconds(25),
            attempts: 3,
        };
        let now = chrono::Utc::now();
        assert_eq!(
            backoff.after_failure(0, true, "503".into(), now),
            DeliveryAttempt::Retry {
                next_attempt_at: now + chrono::Duration::seconds(10),
                error: "503".into()
            }
        );
        assert_eq!(
            backoff.after_failure(1, true, "503".into(), now),
            DeliveryAttempt::Retry {
                next_attempt_at: now + chrono::Duration::seconds(20),
                error: "503".into()
            }
        );
        assert_eq!(
            backoff.after_failure(2, true, "503".into(), now),
            DeliveryAttempt::Failed {
                error: "503".into()
            }
        );
        assert_eq!(
            backoff.after_failure(0, false, "400".into(), now),
            DeliveryAttempt::Failed {
                error: "400".into()
            }
        );
    }
}
