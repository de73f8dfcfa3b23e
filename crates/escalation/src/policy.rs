//! The escalation policy: which signals in a conversation mean a human should take over now.
//!
//! Three triggers come from the flows themselves and need no policy here: an explicit request
//! for a human (understood as `human_handoff` on any channel, in any phrasing), a flow's
//! `escalate` step (business rules such as a refund over a limit) and a failing backend action.
//! This policy adds the ones that need the whole conversation: sentiment, low confidence,
//! repeated failure, VIP customers on sensitive flows, and an LLM that stays unavailable.
//! It reads only the event log and the turn's facts, so a replay reaches the same decision.

use chrono::Duration;
use frontline_domain::{
    Command, EscalationOverride, EscalationTrigger, Event, EventKind, FlowFrame, Identity,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::trajectory::Trajectory;

/// Sentiment triggers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentimentPolicy {
    /// Whether sentiment can trigger a handoff at all.
    pub enabled: bool,
    /// A message scoring at or below this hands off at once (-1 … 1).
    pub below: f32,
    /// The falling trigger looks at this many latest customer messages …
    pub falling_over: usize,
    /// … each lower than the one before, falling by at least this much in all …
    pub falling_by: f32,
    /// … to at or below this.
    pub falling_to: f32,
}

impl Default for SentimentPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            below: -0.6,
            falling_over: 3,
            falling_by: 0.4,
            falling_to: -0.3,
        }
    }
}

/// Low-confidence triggers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LowConfidencePolicy {
    /// Whether low confidence can trigger a handoff at all.
    pub enabled: bool,
    /// A turn whose best command is below this confidence is unsure (as is one understanding
    /// could not read at all, and one the knowledge base abstained on).
    pub understanding_below: f32,
    /// A knowledge answer whose evidence is below this counts as unsure too (the knowledge
    /// base's own gate already abstains below its threshold; 0 leaves it at that).
    pub retrieval_below: f32,
    /// Hand off after this many unsure turns in a row.
    pub turns: u32,
}

impl Default for LowConfidencePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            understanding_below: 0.5,
            retrieval_below: 0.0,
            turns: 3,
        }
    }
}

/// Repeated-failure triggers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepeatedFailurePolicy {
    /// Whether repeated failure can trigger a handoff at all.
    pub enabled: bool,
    /// Hand off instead of the Nth clarification question in a conversation.
    pub max_clarifications: u32,
    /// Hand off instead of asking the same slot the Nth time in a row.
    pub max_same_slot_asks: u32,
    /// Hand off when this many flows have failed in the conversation.
    pub max_failed_flows: u32,
    /// A flow started again within this many days of an earlier conversation about the same
    /// thing (same flow, which did not resolve, or the same order or item) is a repeat contact.
    pub repeat_contact_days: u32,
}

impl Default for RepeatedFailurePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_clarifications: 3,
            max_same_slot_asks: 3,
            max_failed_flows: 2,
            repeat_contact_days: 7,
        }
    }
}

/// VIP customers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VipPolicy {
    /// Identities of VIP customers, as `kind:value` (`email:ceo@example.com`,
    /// `phone:+15551234567`).
    pub identities: Vec<String>,
    /// Flow tiers on which a VIP goes straight to a human (a flow can opt in or out with its
    /// own `escalation.vip_to_human`).
    pub to_human_on_tiers: Vec<String>,
}

impl Default for VipPolicy {
    fn default() -> Self {
        Self {
            identities: vec![],
            to_human_on_tiers: vec!["emotional".into()],
        }
    }
}

/// Agent-error triggers beyond failing actions (which the flows escalate themselves).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentErrorPolicy {
    /// Hand off after this many turns in a row on which the LLM (or understanding as a whole)
    /// failed and the turn fell back.
    pub understanding_failures: u32,
}

impl Default for AgentErrorPolicy {
    fn default() -> Self {
        Self {
            understanding_failures: 2,
        }
    }
}

/// The whole policy (`[escalation]` in `frontline.toml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Sentiment.
    pub sentiment: SentimentPolicy,
    /// Understanding and retrieval confidence.
    pub low_confidence: LowConfidencePolicy,
    /// Clarifications, re-asked slots, failed flows, repeat contacts.
    pub repeated_failure: RepeatedFailurePolicy,
    /// VIP customers.
    pub vip: VipPolicy,
    /// LLM and understanding failures.
    pub agent_error: AgentErrorPolicy,
    /// How the conversation's tier is read at run time (VIPs, routing and KPIs use it).
    pub tiers: crate::TierRules,
}

/// A decision to hand off, with its reason code and reason in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Escalation {
    /// The reason code.
    pub trigger: EscalationTrigger,
    /// Why, for the human (and the log).
    pub reason: String,
}

/// A flow run in an earlier conversation of the same customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorFlow {
    /// The earlier conversation's last activity.
    pub at: Timestamp,
    /// The flow.
    pub flow_id: String,
    /// How it ended (`resolved`, `failed`, `abandoned`, `escalated`; `open` if it never did).
    pub outcome: String,
    /// The slots it had collected.
    pub slots: serde_json::Map<String, serde_json::Value>,
}

/// A flow started on this turn (it may have ended on the same turn).
#[derive(Clone, Copy, Debug)]
pub struct StartedFlow<'a> {
    /// Its id.
    pub flow_id: &'a str,
    /// Its tier (`informational`, `transactional`, `complex`, `emotional`).
    pub tier: &'a str,
    /// Its frame, when it is still active after the turn.
    pub frame: Option<&'a FlowFrame>,
    /// The flow's own `escalation.vip_to_human`, if it sets one.
    pub vip_to_human: Option<bool>,
}

/// Everything the policy looks at for one turn.
#[derive(Clone, Copy, Debug)]
pub struct TurnFacts<'a> {
    /// The conversation's log, including this turn's message and what understanding made of it.
    pub events: &'a [Event],
    /// The slot the turn's reply would ask for, if any.
    pub asked: Option<&'a str>,
    /// Flows started on this turn, outermost first.
    pub started: &'a [StartedFlow<'a>],
    /// Whether the customer is a VIP.
    pub vip: bool,
    /// Flows from the customer's earlier conversations.
    pub prior_flows: &'a [PriorFlow],
    /// The conversation's tier at run time, this turn's message included.
    pub tier: Option<&'a str>,
    /// Now.
    pub now: Timestamp,
}

impl EscalationPolicy {
    /// This policy with a flow's own thresholds applied.
    pub fn with_override(&self, o: &EscalationOverride) -> EscalationPolicy {
        let mut p = self.clone();
        if let Some(v) = o.sentiment_below {
            p.sentiment.below = v;
        }
        if let Some(v) = o.low_confidence_turns {
            p.low_confidence.turns = v;
        }
        if let Some(v) = o.max_clarifications {
            p.repeated_failure.max_clarifications = v;
        }
        if let Some(v) = o.max_same_slot_asks {
            p.repeated_failure.max_same_slot_asks = v;
        }
        p
    }

    /// Whether any of these identities is on the VIP list.
    pub fn is_vip<'a>(&self, identities: impl IntoIterator<Item = &'a Identity>) -> bool {
        let listed: Vec<String> = self
            .vip
            .identities
            .iter()
            .map(|s| s.trim().to_lowercase())
            .collect();
        identities
            .into_iter()
            .any(|i| listed.contains(&i.to_string().to_lowercase()))
    }

    /// Whether the turn calls for a human, and why. Checked in a fixed order: policy (VIP),
    /// agent errors, sentiment, low confidence, repeated failure; the first that holds wins.
    pub fn assess(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        self.vip_policy(facts)
            .or_else(|| self.agent_error(facts))
            .or_else(|| self.sentiment(facts))
            .or_else(|| self.low_confidence(facts))
            .or_else(|| self.repeated_failure(facts))
    }

    fn vip_policy(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        if !facts.vip {
            return None;
        }
        let on_tier = |tier: &str| {
            self.vip
                .to_human_on_tiers
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tier))
        };
        if let Some(flow) = facts
            .started
            .iter()
            .find(|flow| flow.vip_to_human.unwrap_or_else(|| on_tier(flow.tier)))
        {
            return Some(Escalation {
                trigger: EscalationTrigger::Policy,
                reason: format!(
                    "VIP customer on a {} request (`{}`): VIPs are served by a person",
                    flow.tier, flow.flow_id
                ),
            });
        }
        // The conversation turned emotional (or complex) whatever its flows: an upset VIP is
        // served by a person, unless a flow started now says otherwise.
        let tier = facts
            .tier
            .filter(|t| matches!(*t, "emotional" | "complex"))?;
        let opted_out = facts.started.iter().any(|f| f.vip_to_human == Some(false));
        (on_tier(tier) && !opted_out).then(|| Escalation {
            trigger: EscalationTrigger::Policy,
            reason: format!(
                "VIP customer and the conversation is {tier}: VIPs are served by a person"
            ),
        })
    }

    fn agent_error(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        let limit = self.agent_error.understanding_failures as usize;
        if limit == 0 {
            return None;
        }
        let failures = failure_streak(facts.events);
        (failures.len() >= limit).then(|| Escalation {
            trigger: EscalationTrigger::AgentError,
            reason: format!(
                "the language model has been unavailable for {} turns in a row (last: {})",
                failures.len(),
                failures[0]
            ),
        })
    }

    fn sentiment(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        let p = &self.sentiment;
        if !p.enabled {
            return None;
        }
        let trajectory = Trajectory::from_events(facts.events);
        let current = *trajectory.scores.last()?;
        if current <= p.below {
            return Some(Escalation {
                trigger: EscalationTrigger::NegativeSentiment,
                reason: format!(
                    "the customer is upset: the last message scored {current:.2} (threshold {:.2})",
                    p.below
                ),
            });
        }
        trajectory
            .fell(p.falling_over, p.falling_by, p.falling_to)
            .then(|| Escalation {
                trigger: EscalationTrigger::NegativeSentiment,
                reason: format!(
                    "the customer is getting more upset over the last {} messages ({})",
                    p.falling_over,
                    Trajectory::new(
                        trajectory.scores[trajectory.scores.len() - p.falling_over..].to_vec()
                    )
                    .describe()
                ),
            })
    }

    fn low_confidence(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        let p = &self.low_confidence;
        if !p.enabled || p.turns == 0 {
            return None;
        }
        let (streak, last_why) = self.unsure_streak(facts.events);
        (streak >= p.turns as usize).then(|| Escalation {
            trigger: EscalationTrigger::LowConfidence,
            reason: format!(
                "{streak} turns in a row without a confident understanding or answer (last: {})",
                last_why.unwrap_or_default()
            ),
        })
    }

    /// Unsure customer turns in a row at the end of the log, and why the latest was unsure.
    fn unsure_streak(&self, events: &[Event]) -> (usize, Option<String>) {
        let mut streak = 0;
        let mut last_why = None;
        for turn in turns(events).iter().rev() {
            match self.unsure(turn) {
                Some(why) => {
                    streak += 1;
                    last_why.get_or_insert(why);
                }
                None => break,
            }
        }
        (streak, last_why)
    }

    /// Where the conversation stands against each trigger that counts or measures, after its
    /// latest turn: what the console shows beside a reply. A gauge that has `reached` its limit
    /// fires the trigger when it is next assessed (see [`EscalationPolicy::assess`] for the
    /// exact rules, which also cover falling sentiment, repeat contacts and VIPs).
    pub fn standing(&self, events: &[Event]) -> Vec<Gauge> {
        let p = self;
        let trajectory = Trajectory::from_events(events);
        let sentiment = trajectory.scores.last().copied();
        let (unsure, _) = self.unsure_streak(events);
        let asked = turns(events)
            .last()
            .and_then(|t| t.asked)
            .filter(|s| counts_asks(s));
        let same_slot_asks = asked.map_or(0, |slot| 1 + previous_asks_of(events, slot));
        let count = |what, trigger, enabled: bool, value: usize, limit: u32| Gauge {
            trigger,
            what,
            value: value as f64,
            limit: f64::from(limit),
            reached: enabled && limit > 0 && value >= limit as usize,
            enabled: enabled && limit > 0,
        };
        vec![
            Gauge {
                trigger: EscalationTrigger::NegativeSentiment,
                what: "last message's sentiment",
                value: f64::from(sentiment.unwrap_or(0.0)),
                limit: f64::from(p.sentiment.below),
                reached: p.sentiment.enabled && sentiment.is_some_and(|v| v <= p.sentiment.below),
                enabled: p.sentiment.enabled,
            },
            Gauge {
                trigger: EscalationTrigger::NegativeSentiment,
                what: "sentiment fall over the latest messages, each lower than the last",
                value: f64::from(trajectory.fall(p.sentiment.falling_over).unwrap_or(0.0)),
                limit: f64::from(p.sentiment.falling_by),
                reached: p.sentiment.enabled
                    && trajectory.fell(
                        p.sentiment.falling_over,
                        p.sentiment.falling_by,
                        p.sentiment.falling_to,
                    ),
                enabled: p.sentiment.enabled,
            },
            count(
                "unsure turns in a row",
                EscalationTrigger::LowConfidence,
                p.low_confidence.enabled,
                unsure,
                p.low_confidence.turns,
            ),
            count(
                "clarifications",
                EscalationTrigger::RepeatedFailure,
                p.repeated_failure.enabled,
                clarification_count(events),
                p.repeated_failure.max_clarifications,
            ),
            count(
                "asks of the same slot in a row",
                EscalationTrigger::RepeatedFailure,
                p.repeated_failure.enabled,
                same_slot_asks,
                p.repeated_failure.max_same_slot_asks,
            ),
            count(
                "failed flows",
                EscalationTrigger::RepeatedFailure,
                p.repeated_failure.enabled,
                failed_flows(events).len(),
                p.repeated_failure.max_failed_flows,
            ),
            count(
                "understanding failures in a row",
                EscalationTrigger::AgentError,
                true,
                failure_streak(events).len(),
                p.agent_error.understanding_failures,
            ),
        ]
    }

    /// Why a turn was unsure, if it was.
    fn unsure(&self, turn: &Turn<'_>) -> Option<String> {
        let p = &self.low_confidence;
        if let Some((answered, confidence)) = turn.knowledge {
            if !answered {
                return Some("the knowledge base had no answer".into());
            }
            if confidence < p.retrieval_below {
                return Some(format!("knowledge evidence {confidence:.2}"));
            }
            return None;
        }
        let commands = turn.commands?;
        // A clarification question is understanding narrowed to a few options, not a miss; too
        // many of them is the repeated-failure trigger.
        if commands
            .iter()
            .any(|c| matches!(c.command, Command::Clarify { .. }))
        {
            return None;
        }
        let best = commands
            .iter()
            .filter(|c| !matches!(c.command, Command::CannotHandle { .. }))
            .map(|c| c.confidence)
            .fold(None, |m: Option<f32>, c| Some(m.map_or(c, |m| m.max(c))));
        match best {
            None => Some("the message was not understood".into()),
            Some(c) if c < p.understanding_below => {
                Some(format!("best understanding confidence {c:.2}"))
            }
            Some(_) => None,
        }
    }

    fn repeated_failure(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        let p = &self.repeated_failure;
        if !p.enabled {
            return None;
        }
        let clarifications = clarification_count(facts.events);
        if p.max_clarifications > 0 && clarifications >= p.max_clarifications as usize {
            return Some(Escalation {
                trigger: EscalationTrigger::RepeatedFailure,
                reason: format!("{clarifications} clarifications and the request is still unclear"),
            });
        }
        if let Some(slot) = facts.asked.filter(|s| counts_asks(s)) {
            let asks = 1 + previous_asks_of(facts.events, slot);
            if p.max_same_slot_asks > 0 && asks >= p.max_same_slot_asks as usize {
                return Some(Escalation {
                    trigger: EscalationTrigger::RepeatedFailure,
                    reason: format!(
                        "`{slot}` would be asked for the {} time in a row without a usable answer",
                        ordinal(asks)
                    ),
                });
            }
        }
        let failed = failed_flows(facts.events);
        if p.max_failed_flows > 0 && failed.len() >= p.max_failed_flows as usize {
            return Some(Escalation {
                trigger: EscalationTrigger::RepeatedFailure,
                reason: format!(
                    "{} requests could not be completed in this conversation ({})",
                    failed.len(),
                    failed.join(", ")
                ),
            });
        }
        self.repeat_contact(facts)
    }

    fn repeat_contact(&self, facts: &TurnFacts<'_>) -> Option<Escalation> {
        let p = &self.repeated_failure;
        let since = facts.now - Duration::days(p.repeat_contact_days.into());
        for flow in facts.started {
            if let Some(found) = self.repeat_of(flow, facts, since) {
                return Some(found);
            }
        }
        None
    }

    fn repeat_of(
        &self,
        flow: &StartedFlow<'_>,
        facts: &TurnFacts<'_>,
        since: Timestamp,
    ) -> Option<Escalation> {
        let earlier = facts.prior_flows.iter().filter(|prior| {
            prior.at >= since && prior.at <= facts.now && prior.flow_id == flow.flow_id
        });
        for prior in earlier {
            let shared = prior.slots.iter().find(|(name, value)| {
                !value.is_null()
                    && flow
                        .frame
                        .is_some_and(|frame| frame.slots.get(*name) == Some(value))
            });
            if prior.outcome != "resolved" || shared.is_some() {
                let about = match shared {
                    Some((name, value)) => format!(" about the same {name} ({})", plain(value)),
                    None => format!(" (it ended {})", prior.outcome),
                };
                return Some(Escalation {
                    trigger: EscalationTrigger::RepeatedFailure,
                    reason: format!(
                        "repeat contact: `{}` was already requested on {}{about}",
                        flow.flow_id,
                        prior.at.format("%Y-%m-%d"),
                    ),
                });
            }
        }
        None
    }
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One trigger's standing after a turn (see [`EscalationPolicy::standing`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gauge {
    /// The trigger it feeds.
    pub trigger: EscalationTrigger,
    /// What is measured, in words.
    pub what: &'static str,
    /// Its value now.
    pub value: f64,
    /// The configured limit (a sentiment at or below it, a count at or above it).
    pub limit: f64,
    /// The value has reached the limit.
    pub reached: bool,
    /// The trigger is switched on.
    pub enabled: bool,
}

/// The understanding failures in a row at the end of the log (newest first), each with why.
fn failure_streak(events: &[Event]) -> Vec<String> {
    understood(events)
        .rev()
        .map_while(|(_, source, llm)| {
            let failed = source == "fallback" || llm.is_some_and(|u| u.unavailable);
            failed.then(|| {
                llm.and_then(|u| u.fallback.clone())
                    .unwrap_or_else(|| "understanding failed".into())
            })
        })
        .collect()
}

/// Whether asking `slot` again counts towards the same-slot trigger: a one-time code does not
/// (wrong codes are bounded by the code's attempts and lock-out, and a stranger guessing codes
/// is no reason to hand the account's conversation to a person).
fn counts_asks(slot: &str) -> bool {
    slot != frontline_domain::assurance::VERIFICATION_CODE_SLOT
}

/// Turns on which understanding asked a clarification question between flows. An offer of one
/// flow after answering a question about it ("Would you like me to help you return…?") is not
/// a failure to understand.
fn clarification_count(events: &[Event]) -> usize {
    understood(events)
        .filter(|(commands, ..)| {
            commands
                .iter()
                .any(|c| matches!(&c.command, Command::Clarify { options } if options.len() > 1))
        })
        .count()
}

/// The requests that ended `failed` in the log, each once: the same flow failing again on the
/// same values (asking again about the order that could not be cancelled) is one request the
/// agent already answered, not a second failure.
fn failed_flows(events: &[Event]) -> Vec<&str> {
    let mut seen: Vec<(&str, &serde_json::Map<String, serde_json::Value>)> = Vec::new();
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FlowEnded {
                flow_id,
                outcome,
                slots,
            } if outcome == "failed" => {
                let again = seen
                    .iter()
                    .any(|(f, s)| *f == flow_id.as_str() && *s == slots);
                seen.push((flow_id.as_str(), slots));
                (!again).then_some(flow_id.as_str())
            }
            _ => None,
        })
        .collect()
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

type Understood<'a> = (
    &'a [frontline_domain::ScoredCommand],
    &'a str,
    Option<&'a frontline_domain::LlmUsage>,
);

fn understood(events: &[Event]) -> impl DoubleEndedIterator<Item = Understood<'_>> {
    events.iter().filter_map(|e| match &e.kind {
        EventKind::CommandsUnderstood {
            commands,
            source,
            llm,
            ..
        } => Some((commands.as_slice(), source.as_str(), llm.as_ref())),
        _ => None,
    })
}

/// What happened on one customer turn, as the policy needs it.
#[derive(Default)]
struct Turn<'a> {
    commands: Option<&'a [frontline_domain::ScoredCommand]>,
    /// (answered, confidence) when the knowledge base was consulted.
    knowledge: Option<(bool, f32)>,
    /// The slot the agent's reply asked for.
    asked: Option<&'a str>,
    /// The flow being run, how many offers it showed for the slot it asks and how many slots'
    /// offers were turned down, as the turn left them.
    offers: Option<(&'a str, usize, usize)>,
}

/// The log cut into customer turns (each starts at a received message), oldest first.
fn turns(events: &[Event]) -> Vec<Turn<'_>> {
    let mut out: Vec<Turn<'_>> = vec![];
    for e in events {
        match &e.kind {
            EventKind::MessageReceived { .. } => out.push(Turn::default()),
            EventKind::CommandsUnderstood { commands, .. } => {
                if let Some(t) = out.last_mut() {
                    t.commands = Some(commands);
                }
            }
            EventKind::KnowledgeConsulted {
                answered,
                confidence,
                ..
            } => {
                if let Some(t) = out.last_mut() {
                    t.knowledge = Some((*answered, *confidence));
                }
            }
            EventKind::ReplySent { asked, .. } => {
                if let Some(t) = out.last_mut() {
                    t.asked = asked.as_deref();
                }
            }
            EventKind::FlowUpdated { stack, .. } => {
                if let (Some(t), Some(top)) = (out.last_mut(), stack.last()) {
                    t.offers = Some((&top.flow_id, top.offered.len(), top.declined.len()));
                }
            }
            _ => {}
        }
    }
    out
}

/// How many times in a row, before this turn, the agent asked for `slot`. Turns spent on
/// something else (a question answered from knowledge, small talk) neither count nor break the
/// run; asking anything else breaks it, and so does an answer that moved the question on (it
/// turned a proposal down or narrowed the offers: "no, the one with the lamp").
fn previous_asks_of(events: &[Event], slot: &str) -> usize {
    let mut all = turns(events);
    // A turn that left the flow as it was carries the offers of the one before.
    let mut carried: Option<(&str, usize, usize)> = None;
    for turn in all.iter_mut() {
        carried = turn.offers.or(carried);
        turn.offers = carried;
    }
    // The current turn's reply is not logged yet; skip it.
    let earlier = &all[..all.len().saturating_sub(1)];
    let mut asks = 0;
    // The offers under the next ask: an ask whose answer turned a proposal down or narrowed
    // the offers in the same flow was answered.
    let mut next: Option<(&str, usize, usize)> = None;
    for turn in earlier.iter().rev() {
        if turn.asked == Some(slot) {
            let answered = matches!((turn.offers, next),
                (Some((flow, shown, declined)), Some((later_flow, later_shown, later_declined)))
                    if flow == later_flow && (later_declined > declined || later_shown < shown));
            if answered {
                break;
            }
            next = turn.offers;
        }
        let aside = turn.commands.is_some_and(|cs| {
            !cs.is_empty()
                && cs.iter().all(|c| {
                    matches!(
                        c.command,
                        Command::AnswerFromKnowledge { .. } | Command::ChitChat { .. }
                    )
                })
        });
        match turn.asked {
            Some(s) if s == slot => {
                if !aside {
                    asks += 1;
                }
            }
            _ if aside => {}
            _ => break,
        }
    }
    asks
}

/// The flows an earlier conversation ran, each with its last slots and how it ended, for the
/// repeat-contact check. `at` is that conversation's last activity.
pub fn prior_flows(at: Timestamp, events: &[Event]) -> Vec<PriorFlow> {
    let mut flows: Vec<PriorFlow> = vec![];
    for e in events {
        match &e.kind {
            EventKind::FlowUpdated { stack, .. } => {
                for frame in stack {
                    match flows
                        .iter_mut()
                        .rev()
                        .find(|f| f.flow_id == frame.flow_id && f.outcome == "open")
                    {
                        Some(open) => open.slots = frame.slots.clone(),
                        None => flows.push(PriorFlow {
                            at,
                            flow_id: frame.flow_id.clone(),
                            outcome: "open".into(),
                            slots: frame.slots.clone(),
                        }),
                    }
                }
            }
            EventKind::FlowEnded {
                flow_id, outcome, ..
            } => {
                if let Some(open) = flows
                    .iter_mut()
                    .rev()
                    .find(|f| &f.flow_id == flow_id && f.outcome == "open")
                {
                    open.outcome = outcome.clone();
                }
            }
            _ => {}
        }
    }
    flows
}
