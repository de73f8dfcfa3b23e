//! The agent's Prometheus metrics. Most are read off the events a turn committed (so they count
//! exactly what the log holds, and a turn that did not commit counts nothing); the few that the
//! log does not hold (how long a turn or a search took) are measured where they happen. The
//! server exposes them at `GET /metrics` with the store's backlogs.

use frontline_domain::{Channel, Event, EventKind, LlmUsage};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a turn: the channel and the path it took (`local`, `llm`, `rules`, `fallback`,
/// with `+knowledge` when the knowledge base was consulted; `silent` when a person has the
/// conversation).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TurnLabels {
    /// The channel.
    pub channel: String,
    /// The path.
    pub path: String,
}

/// A kind of thing (LLM tokens: prompt or completion; LLM errors: unavailable or invalid).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The kind.
    pub kind: String,
}

/// Why a conversation was handed off (the escalation trigger).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The trigger.
    pub reason: String,
}

/// A channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// The channel.
    pub channel: String,
}

fn seconds_buckets() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    turns: Family<TurnLabels, Histogram, fn() -> Histogram>,
    turn_failures: Counter,
    llm_calls: Counter,
    llm_tokens: Family<KindLabel, Counter>,
    llm_errors: Family<KindLabel, Counter>,
    retrieval: Histogram,
    escalations: Family<ReasonLabel, Counter>,
    inbox_duplicates: Family<ChannelLabel, Counter>,
    outbox_backlog: Gauge,
    inbound_backlog: Gauge,
    handoff_backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontline");
        let turns = Family::<TurnLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_buckets as fn() -> Histogram,
        );
        registry.register(
            "turn_duration_seconds",
            "Time to run a turn, from claiming the message to committing it, by channel and path",
            turns.clone(),
        );
        let turn_failures = Counter::default();
        registry.register(
            "turn_failures",
            "Turns that failed and were released for another attempt",
            turn_failures.clone(),
        );
        let llm_calls = Counter::default();
        registry.register("llm_calls", "Calls to the LLM endpoint", llm_calls.clone());
        let llm_tokens = Family::<KindLabel, Counter>::default();
        registry.register(
            "llm_tokens",
            "LLM tokens, by kind (prompt, completion)",
            llm_tokens.clone(),
        );
        let llm_errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "llm_errors",
            "Turns whose LLM output was not used, by kind (unavailable, invalid)",
            llm_errors.clone(),
        );
        let retrieval = seconds_buckets();
        registry.register(
            "retrieval_duration_seconds",
            "Time to search the knowledge base and decide to answer or abstain",
            retrieval.clone(),
        );
        let escalations = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "escalations",
            "Conversations handed to a person, by trigger",
            escalations.clone(),
        );
        let inbox_duplicates = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "inbox_duplicates",
            "Redelivered messages answered from the first delivery, by channel",
            inbox_duplicates.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Replies waiting for delivery",
            outbox_backlog.clone(),
        );
        let inbound_backlog = Gauge::default();
        registry.register(
            "inbound_backlog",
            "Queued messages waiting for their turn",
            inbound_backlog.clone(),
        );
        let handoff_backlog = Gauge::default();
        registry.register(
            "handoff_backlog",
            "Handoffs waiting for delivery to the helpdesk",
            handoff_backlog.clone(),
        );
        Self {
            registry,
            turns,
            turn_failures,
            llm_calls,
            llm_tokens,
            llm_errors,
            retrieval,
            escalations,
            inbox_duplicates,
            outbox_backlog,
            inbound_backlog,
            handoff_backlog,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Set the backlogs (read from the store when scraped).
    pub fn set_backlogs(&self, outbox: i64, inbound: i64, handoffs: i64) {
        self.outbox_backlog.set(outbox);
        self.inbound_backlog.set(inbound);
        self.handoff_backlog.set(handoffs);
    }

    /// A committed turn: how long it took and what it wrote.
    pub(crate) fn turn(&self, channel: Channel, seconds: f64, events: &[Event]) {
        let mut path = "silent".to_string();
        for event in events {
            match &event.kind {
                EventKind::CommandsUnderstood { source, llm, .. } => {
                    path = source.clone();
                    self.llm(llm.as_ref());
                }
                EventKind::KnowledgeConsulted { llm, .. } => self.llm(llm.as_ref()),
                EventKind::Escalated { summary } => {
                    self.escalations
                        .get_or_create(&ReasonLabel {
                            reason: summary.trigger.to_string(),
                        })
                        .inc();
                }
                _ => {}
            }
        }
        self.turns
            .get_or_create(&TurnLabels {
                channel: channel.to_string(),
                path,
            })
            .observe(seconds);
    }

    fn llm(&self, usage: Option<&LlmUsage>) {
        let Some(usage) = usage else { return };
        self.llm_calls.inc_by(usage.calls.into());
        for (kind, n) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            self.llm_tokens
                .get_or_create(&KindLabel { kind: kind.into() })
                .inc_by(n.into());
        }
        let error = if usage.unavailable {
            Some("unavailable")
        } else if usage.fallback.is_some() {
            Some("invalid")
        } else {
            None
        };
        if let Some(kind) = error {
            self.llm_errors
                .get_or_create(&KindLabel { kind: kind.into() })
                .inc();
        }
    }

    /// A turn failed (it will run again).
    pub(crate) fn turn_failed(&self) {
        self.turn_failures.inc();
    }

    /// A redelivered message was answered from its first delivery.
    pub(crate) fn duplicate(&self, channel: Channel) {
        self.inbox_duplicates
            .get_or_create(&ChannelLabel {
                channel: channel.to_string(),
            })
            .inc();
    }

    /// A knowledge search took this long.
    pub(crate) fn retrieval(&self, seconds: f64) {
        self.retrieval.observe(seconds);
    }
}
