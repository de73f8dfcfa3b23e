//! The queues behind the HTTP server, each drained by one [`Worker`]: the intake (turns of the
//! messages webhooks queued), the reply outbox (through the channel providers) and, when a
//! helpdesk is configured, the handoff outbox. They stop in order: the intake first, so the
//! turns still queued run and fill the outboxes, then both outboxes, drained.

use crate::delivery::outbox_worker;
use frontline_agent::{Agent, Intake};
use frontline_channels::Registry;
use frontline_handoff::dispatch::Dispatcher;
use frontline_store::{Backoff, Worker};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How often each queue is looked at when nothing wakes it.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// The intake's tick (webhooks wake it at once).
    pub intake_every: Duration,
    /// The outboxes' tick (the intake wakes them after turns that queued something).
    pub outbox_every: Duration,
    /// Retries of failed turns and deliveries.
    pub backoff: Backoff,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            intake_every: Duration::from_secs(1),
            outbox_every: Duration::from_secs(2),
            backoff: Backoff::default(),
        }
    }
}

struct Running {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    fn spawn<Q: frontline_store::Queue>(worker: Worker<Q>, name: &'static str) -> Self {
        let (stop, stopping) = watch::channel(false);
        Running {
            name,
            stop,
            task: tokio::spawn(worker.run(stopping)),
        }
    }

    /// Stop it and wait up to `grace` for it to drain; false if it did not.
    async fn stop(self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        match tokio::time::timeout(grace, self.task).await {
            Ok(_) => true,
            Err(_) => {
                tracing::warn!(
                    queue = self.name,
                    ?grace,
                    "still draining at shutdown; what is left runs at the next start"
                );
                false
            }
        }
    }
}

/// The running workers.
pub struct Workers {
    intake: Running,
    outboxes: Vec<Running>,
}

impl Workers {
    /// Start draining `agent`'s queues: the intake (woken by `intake`, what webhooks notify),
    /// replies through `providers`, and handoffs to the agent's helpdesk if it has one.
    pub fn start(
        agent: Arc<Agent>,
        providers: Arc<Registry>,
        intake: Arc<Notify>,
        settings: &WorkerSettings,
    ) -> Self {
        let replies = Arc::new(Notify::new());
        let handoffs = Arc::new(Notify::new());
        let mut outboxes = Vec::new();
        let outbox = outbox_worker(agent.clone(), providers, settings.backoff.clone());
        tracing::info!(channels = ?outbox.channels(), "delivering replies");
        outboxes.push(Running::spawn(
            Worker::new(outbox, settings.outbox_every, replies.clone()),
            "outbox",
        ));
        if let Some(target) = agent.handoff_target() {
            tracing::info!(target = target.name(), "delivering handoffs");
            let dispatcher =
                Dispatcher::new(agent.store().clone(), target, settings.backoff.clone());
            outboxes.push(Running::spawn(
                Worker::new(dispatcher, settings.outbox_every, handoffs.clone()),
                "handoffs",
            ));
        }
        let intake_worker = Worker::new(
            Intake::new(agent, settings.backoff.clone()),
            settings.intake_every,
            intake,
        )
        .then_wake(replies)
        .then_wake(handoffs);
        Workers {
            intake: Running::spawn(intake_worker, "intake"),
            outboxes,
        }
    }

    /// Stop in order, each drained within `grace`: the intake, then the outboxes. True when
    /// every queue drained in time.
    pub async fn stop(self, grace: Duration) -> bool {
        let mut drained = self.intake.stop(grace).await;
        for outbox in self.outboxes {
            drained &= outbox.stop(grace).await;
        }
        drained
    }
}
