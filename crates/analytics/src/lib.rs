//! Omnichannel KPIs and the conversation quality rubric, read off event logs alone, so the
//! same figures come out live (`GET /v1/analytics/kpis`, `frontline kpis`), in a replay and in
//! the offline evals.
//!
//! First [`facts`] reads one conversation's log into [`ConversationFacts`]; then [`kpis`]
//! aggregates the conversations opened in a window. Definitions (each is also on its field):
//!
//! - **resolved by the agent**: never handed off, and at least one flow ended `resolved` or one
//!   question was answered from the knowledge base;
//! - **cross-channel**: the customer wrote on two or more channels in it;
//! - **repeat contact**: the same customer opened another conversation within 7 days after this
//!   one's last activity;
//! - **first-contact resolution**: resolved by the agent with no repeat contact;
//! - **context transfer completeness**: the handoff summary's completeness against the log up
//!   to the handoff (1.0 means every required field is backed by the log);
//! - **quality**: the rubric of [`quality`], the same on every channel and for bot and person
//!   alike: the score the agent stored when the conversation resolved (the latest one), or,
//!   for one not resolved, the rubric judged on its log as it stands;
//! - **CSAT**: of the conversations whose customer answered the satisfaction question, the
//!   share that answered 4 or 5; read for cross-channel and single-channel conversations
//!   apart, and the gap between the two (single minus cross, in points of that share);
//! - **CES**: the mean answer to the effort question (1 very easy … 5 very hard; lower is
//!   better).

use chrono::Duration;
use frontline_domain::{
    Channel, Conversation, ConversationId, CustomerId, Event, EventKind, SurveyQuestion, Timestamp,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub mod gaps;
pub mod quality;

pub use frontline_domain::{QualityItem, QualityScore, Verdict};

/// How soon another conversation of the same customer counts as a repeat contact.
pub const REPEAT_CONTACT_DAYS: i64 = 7;

/// What one conversation's log says.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationFacts {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its customer.
    pub customer_id: CustomerId,
    /// When it opened.
    pub opened_at: Timestamp,
    /// Its last event.
    pub last_activity_at: Timestamp,
    /// The channels the customer wrote on, in order of first use.
    pub channels: Vec<Channel>,
    /// Messages from the customer.
    pub customer_messages: usize,
    /// Resolved by the agent alone (see the crate docs).
    pub resolved_by_agent: bool,
    /// When it was resolved: the first flow ended `resolved` or answer given, if never handed off.
    pub resolved_at: Option<Timestamp>,
    /// The escalation trigger, when it was handed off.
    pub escalated: Option<String>,
    /// The handoff summary's completeness, when it was handed off.
    pub context_completeness: Option<f64>,
    /// Questions for a slot (not confirmations).
    pub asks: usize,
    /// Of those, questions for something the customer had already given in this conversation.
    pub repeat_asks: usize,
    /// The sentiment of the customer's first and last scored messages.
    pub sentiment: Option<(f32, f32)>,
    /// The customer's answer to the satisfaction question (1–5), if they gave one.
    pub csat: Option<u8>,
    /// Their answer to the effort question (1 very easy … 5 very hard), if they gave one.
    pub effort: Option<u8>,
    /// The most demanding tier the conversation reached at run time (emotional, complex,
    /// transactional, informational), if one was recorded.
    pub tier: Option<String>,
    /// The quality score: the stored one that still stands ([`quality::current`]), or the
    /// rubric judged on the log now.
    pub quality: QualityScore,
    /// Whether `quality` was stored (the conversation resolved and stayed so), rather than
    /// judged on a conversation still open, left, or gone on after its resolution.
    pub quality_stored: bool,
    /// What belongs in the knowledge gap report (see [`gaps`]).
    pub gaps: Vec<gaps::GapEntry>,
    /// The language the conversation speaks, as its messages settle it (ISO 639-1), when any
    /// message carried one.
    pub language: Option<String>,
}

impl ConversationFacts {
    /// The customer wrote on two or more channels.
    pub fn cross_channel(&self) -> bool {
        self.channels.len() >= 2
    }

    /// The channel the conversation started on.
    pub fn first_channel(&self) -> Option<Channel> {
        self.channels.first().copied()
    }
}

/// When the agent resolved the conversation(s) of `events` on its own: `None` if any was
/// handed off; otherwise the first flow that ended `resolved` or the first answer from the
/// knowledge base.
pub fn resolution(events: &[Event]) -> Option<Timestamp> {
    if events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Escalated { .. }))
    {
        return None;
    }
    events.iter().find_map(|e| match &e.kind {
        EventKind::FlowEnded { outcome, .. } if outcome == "resolved" => Some(e.at),
        EventKind::KnowledgeConsulted { answered: true, .. } => Some(e.at),
        _ => None,
    })
}

/// Resolved by the agent alone: never handed off, and at least one flow resolved or one
/// question answered from the knowledge base.
pub fn resolved_by_agent(events: &[Event]) -> bool {
    resolution(events).is_some()
}

/// The questions for a slot (confirmations aside) in `events`, and the slots among them the
/// customer had already given in that conversation (`events` may span several conversations;
/// each keeps what it was told). A value a successful write acted on is no longer known: the
/// order asked for after the one given was cancelled is a new question.
pub fn repeat_asks(events: &[Event]) -> (usize, Vec<String>) {
    let mut known: HashMap<ConversationId, HashMap<String, serde_json::Value>> = HashMap::new();
    let mut spent: Vec<String> = vec![];
    let (mut asks, mut repeats) = (0, vec![]);
    let given = |slots: &serde_json::Map<String, serde_json::Value>| {
        slots
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    for event in events {
        let known = known.entry(event.conversation_id).or_default();
        match &event.kind {
            EventKind::FlowUpdated { stack, .. } => {
                for frame in stack {
                    known.extend(given(&frame.slots));
                }
            }
            EventKind::FlowEnded { slots, .. } => known.extend(given(slots)),
            // What a write acted on is used up: asking which order to return after the one
            // given was cancelled asks something new.
            EventKind::ActionExecuted {
                call,
                outcome: Ok(_),
            } if call.writes() => {
                for value in known.values().filter_map(|v| v.as_str()) {
                    if call.acts_on(value) {
                        spent.push(value.to_string());
                    }
                }
            }
            EventKind::ReplySent {
                asked: Some(slot), ..
            } if slot != "confirmation" => {
                asks += 1;
                let usable = known
                    .get(slot)
                    .is_some_and(|v| !v.as_str().is_some_and(|v| spent.iter().any(|s| s == v)));
                if usable {
                    repeats.push(slot.clone());
                }
            }
            _ => {}
        }
    }
    (asks, repeats)
}

/// The first handoff in `events`: its trigger, and its summary's completeness against the log
/// of its conversation up to the handoff.
pub fn handoff(events: &[Event]) -> Option<(String, f64)> {
    let (at, summary) = events.iter().enumerate().find_map(|(i, e)| match &e.kind {
        EventKind::Escalated { summary } => Some((i, summary)),
        _ => None,
    })?;
    let conversation = events[at].conversation_id;
    let log: Vec<Event> = events[..at]
        .iter()
        .filter(|e| e.conversation_id == conversation)
        .cloned()
        .collect();
    Some((
        summary.trigger.to_string(),
        frontline_escalation::completeness(summary, &log).ratio(),
    ))
}

/// Read one conversation's log.
pub fn facts(conversation: &Conversation, events: &[Event]) -> ConversationFacts {
    let mut channels: Vec<Channel> = vec![];
    let mut customer_messages = 0;
    let mut sentiments: Vec<f32> = vec![];
    let (mut csat, mut effort) = (None, None);
    let mut tier: Option<usize> = None;
    for event in events {
        match &event.kind {
            EventKind::MessageReceived { channel, .. } => {
                customer_messages += 1;
                if !channels.contains(channel) {
                    channels.push(*channel);
                }
            }
            EventKind::CommandsUnderstood {
                sentiment: Some(s), ..
            } => sentiments.push(*s),
            EventKind::SurveyAnswered {
                question, score, ..
            } => match question {
                SurveyQuestion::Csat => csat = Some(*score),
                SurveyQuestion::Effort => effort = Some(*score),
            },
            // The lower the index, the more demanding the tier.
            EventKind::TierChanged { to, .. } => {
                if let Some(rank) = frontline_escalation::tier::TIERS
                    .iter()
                    .position(|t| t == to)
                {
                    tier = Some(tier.map_or(rank, |r| r.min(rank)));
                }
            }
            _ => {}
        }
    }
    let language = frontline_language::settle(events.iter().filter_map(|e| match &e.kind {
        EventKind::MessageReceived {
            language, prefers, ..
        } => Some(frontline_language::Said {
            language: language.as_deref(),
            preference: prefers.as_deref(),
        }),
        _ => None,
    }))
    .map(str::to_string);
    let resolved_at = resolution(events);
    let handoff = handoff(events);
    let stored = quality::current(events).cloned();
    let quality_stored = stored.is_some();
    let last_activity_at = events
        .last()
        .map_or(conversation.last_activity_at, |e| e.at);
    let quality = stored.unwrap_or_else(|| {
        quality::judge(
            events,
            &quality::Judging {
                settings: &quality::QualitySettings::default(),
                now: last_activity_at,
                came_back: None,
                team_opens: None,
            },
        )
    });
    let (asks, repeats) = repeat_asks(events);
    ConversationFacts {
        conversation_id: conversation.id,
        customer_id: conversation.customer_id,
        opened_at: conversation.opened_at,
        last_activity_at,
        channels,
        customer_messages,
        resolved_by_agent: resolved_at.is_some(),
        resolved_at,
        escalated: handoff.as_ref().map(|(trigger, _)| trigger.clone()),
        context_completeness: handoff.map(|(_, complete)| complete),
        asks,
        repeat_asks: repeats.len(),
        sentiment: sentiments
            .first()
            .zip(sentiments.last())
            .map(|(a, b)| (*a, *b)),
        csat,
        effort,
        tier: tier.map(|rank| frontline_escalation::tier::TIERS[rank].to_string()),
        quality,
        quality_stored,
        gaps: gaps::entries(conversation.id, events),
        language,
    }
}

/// The omnichannel KPIs of the conversations opened in a window. A rate is `None` when nothing
/// it is a share of happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kpis {
    /// Conversations opened in the window.
    pub conversations: usize,
    /// Of the cross-channel conversations, the share resolved by the agent.
    pub cross_channel_resolution_rate: Option<f64>,
    /// The share resolved by the agent with no repeat contact within 7 days.
    pub first_contact_resolution: Option<f64>,
    /// The mean completeness of the handoff summaries.
    pub context_transfer_completeness: Option<f64>,
    /// By the channel each conversation started on, the share resolved by the agent.
    pub automation_rate_by_channel: BTreeMap<String, f64>,
    /// The population variance of those rates across channels (0: every channel served alike).
    pub automation_rate_variance: Option<f64>,
    /// The share followed by another conversation of the same customer within 7 days.
    pub repeat_contact_rate: Option<f64>,
    /// The share in which the customer wrote on two or more channels.
    pub channel_switch_rate: Option<f64>,
    /// The share handed to a person.
    pub escalation_rate: Option<f64>,
    /// By trigger, the share handed to a person for it.
    pub escalation_rate_by_reason: BTreeMap<String, f64>,
    /// Of the cross-channel conversations the agent resolved, the median seconds from opening
    /// to resolution.
    pub cross_channel_resolution_seconds_p50: Option<f64>,
    /// The mean quality score (stored at resolution, or judged on the log of a conversation
    /// not resolved).
    pub quality_mean: Option<f64>,
    /// By first channel, the mean quality score.
    pub quality_by_channel: BTreeMap<String, f64>,
    /// Conversations whose customer answered the satisfaction question.
    pub csat_responses: usize,
    /// Of those, the share that answered 4 or 5 (CSAT).
    pub csat: Option<f64>,
    /// CSAT of the cross-channel conversations.
    pub csat_cross_channel: Option<f64>,
    /// CSAT of the single-channel conversations.
    pub csat_single_channel: Option<f64>,
    /// Single-channel CSAT minus cross-channel CSAT, in points (0–100 scale); the target is
    /// within 5.
    pub csat_channel_switch_gap: Option<f64>,
    /// The mean effort answer, 1 very easy … 5 very hard (CES); the target is under 2.5.
    pub ces: Option<f64>,
    /// By the most demanding tier each conversation reached, the share resolved by the agent.
    pub automation_rate_by_tier: BTreeMap<String, f64>,
    /// By the language each conversation speaks (`-` when none was read), the share resolved
    /// by the agent.
    pub automation_rate_by_language: BTreeMap<String, f64>,
    /// By language, the mean quality score.
    pub quality_by_language: BTreeMap<String, f64>,
}

fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The KPIs of the conversations in `all` opened in `[from, to)` (those with a customer
/// message). `all` should also hold the
/// customers' conversations opened up to 7 days after `to`, so repeat contacts are seen.
pub fn kpis(all: &[ConversationFacts], from: Timestamp, to: Timestamp) -> Kpis {
    // A conversation opened for a turn that never committed holds no message: not a contact.
    let window: Vec<&ConversationFacts> = all
        .iter()
        .filter(|c| c.opened_at >= from && c.opened_at < to && c.customer_messages > 0)
        .collect();
    let n = window.len();
    let repeat_contact = |c: &ConversationFacts| {
        all.iter().any(|other| {
            other.customer_id == c.customer_id
                && other.conversation_id != c.conversation_id
                && other.opened_at > c.last_activity_at
                && other.opened_at <= c.last_activity_at + Duration::days(REPEAT_CONTACT_DAYS)
        })
    };
    let count = |f: &dyn Fn(&ConversationFacts) -> bool| window.iter().filter(|c| f(c)).count();

    let cross: Vec<&&ConversationFacts> = window.iter().filter(|c| c.cross_channel()).collect();
    let mut by_channel: BTreeMap<String, (usize, usize, Vec<f64>)> = BTreeMap::new();
    for c in &window {
        if let Some(channel) = c.first_channel() {
            let entry = by_channel.entry(channel.to_string()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(c.resolved_by_agent);
            entry.2.extend(c.quality.score);
        }
    }
    let automation_rate_by_channel: BTreeMap<String, f64> = by_channel
        .iter()
        .map(|(channel, (all, resolved, _))| (channel.clone(), *resolved as f64 / *all as f64))
        .collect();
    let rates: Vec<f64> = automation_rate_by_channel.values().copied().collect();
    let automation_rate_variance = mean(&rates)
        .map(|m| rates.iter().map(|r| (r - m).powi(2)).sum::<f64>() / rates.len() as f64);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for c in &window {
        if let Some(reason) = &c.escalated {
            *reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    let mut resolution_seconds: Vec<f64> = cross
        .iter()
        .filter_map(|c| {
            c.resolved_at
                .map(|at| (at - c.opened_at).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    resolution_seconds.sort_by(f64::total_cmp);
    let completeness: Vec<f64> = window
        .iter()
        .filter_map(|c| c.context_completeness)
        .collect();
    let quality: Vec<f64> = window.iter().filter_map(|c| c.quality.score).collect();
    let satisfied = |group: &[&&ConversationFacts]| {
        let answered: Vec<u8> = group.iter().filter_map(|c| c.csat).collect();
        share(answered.iter().filter(|&&s| s >= 4).count(), answered.len())
    };
    let all_refs: Vec<&&ConversationFacts> = window.iter().collect();
    let single: Vec<&&ConversationFacts> = window.iter().filter(|c| !c.cross_channel()).collect();
    let csat_cross_channel = satisfied(&cross);
    let csat_single_channel = satisfied(&single);
    let efforts: Vec<f64> = window
        .iter()
        .filter_map(|c| c.effort.map(f64::from))
        .collect();
    let mut by_language: BTreeMap<String, (usize, usize, Vec<f64>)> = BTreeMap::new();
    for c in &window {
        let entry = by_language
            .entry(c.language.clone().unwrap_or_else(|| "-".into()))
            .or_default();
        entry.0 += 1;
        entry.1 += usize::from(c.resolved_by_agent);
        entry.2.extend(c.quality.score);
    }
    let mut by_tier: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in &window {
        if let Some(tier) = &c.tier {
            let entry = by_tier.entry(tier.clone()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(c.resolved_by_agent);
        }
    }
    Kpis {
        conversations: n,
        cross_channel_resolution_rate: share(
            cross.iter().filter(|c| c.resolved_by_agent).count(),
            cross.len(),
        ),
        first_contact_resolution: share(count(&|c| c.resolved_by_agent && !repeat_contact(c)), n),
        context_transfer_completeness: mean(&completeness),
        automation_rate_by_channel,
        automation_rate_variance,
        repeat_contact_rate: share(count(&|c| repeat_contact(c)), n),
        channel_switch_rate: share(cross.len(), n),
        escalation_rate: share(count(&|c| c.escalated.is_some()), n),
        escalation_rate_by_reason: reasons
            .into_iter()
            .map(|(reason, k)| (reason, k as f64 / n as f64))
            .collect(),
        cross_channel_resolution_seconds_p50: median(&resolution_seconds),
        quality_mean: mean(&quality),
        quality_by_channel: by_channel
            .into_iter()
            .filter_map(|(channel, (_, _, scores))| Some((channel, mean(&scores)?)))
            .collect(),
        csat_responses: count(&|c| c.csat.is_some()),
        csat: satisfied(&all_refs),
        csat_cross_channel,
        csat_single_channel,
        csat_channel_switch_gap: csat_single_channel
            .zip(csat_cross_channel)
            .map(|(single, cross)| (single - cross) * 100.0),
        ces: mean(&efforts),
        automation_rate_by_language: by_language
            .iter()
            .map(|(language, (all, resolved, _))| {
                (language.clone(), *resolved as f64 / *all as f64)
            })
            .collect(),
        quality_by_language: by_language
            .into_iter()
            .filter_map(|(language, (_, _, scores))| Some((language, mean(&scores)?)))
            .collect(),
        automation_rate_by_tier: by_tier
            .into_iter()
            .map(|(tier, (all, resolved))| (tier, resolved as f64 / all as f64))
            .collect(),
    }
}

/// A seed target for one KPI, and whether the window met it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetStatus {
    /// The KPI's field name in [`Kpis`].
    pub kpi: &'static str,
    /// `above` or `below` (strictly), or `at_most`.
    pub must_be: &'static str,
    /// The target value (a share 0–1, or points, or the 1–5 effort scale).
    pub value: f64,
    /// The window's figure, when there is one.
    pub actual: Option<f64>,
    /// Whether it is met (`None`: no figure to judge).
    pub met: Option<bool>,
}

/// The seed matrix's targets beside the window's figures: cross-channel resolution above 85%,
/// FCR above 70%, context transfer above 95%, automation variance across channels below 10%,
/// CES below 2.5, repeat contact below 15%, and the channel-switch CSAT gap at most 5 points.
pub fn targets(k: &Kpis) -> Vec<TargetStatus> {
    let target = |kpi, must_be, value: f64, actual: Option<f64>| TargetStatus {
        kpi,
        must_be,
        value,
        actual,
        met: actual.map(|a| match must_be {
            "above" => a > value,
            "below" => a < value,
            _ => a <= value,
        }),
    };
    vec![
        target(
            "cross_channel_resolution_rate",
            "above",
            0.85,
            k.cross_channel_resolution_rate,
        ),
        target(
            "first_contact_resolution",
            "above",
            0.70,
            k.first_contact_resolution,
        ),
        target(
            "context_transfer_completeness",
            "above",
            0.95,
            k.context_transfer_completeness,
        ),
        target(
            "automation_rate_variance",
            "below",
            0.10,
            k.automation_rate_variance,
        ),
        target("ces", "below", 2.5, k.ces),
        target("repeat_contact_rate", "below", 0.15, k.repeat_contact_rate),
        target(
            "csat_channel_switch_gap",
            "at_most",
            5.0,
            k.csat_channel_switch_gap,
        ),
    ]
}

/// The median of sorted values (the lower middle one for an even count, as nearest rank).
fn median(sorted: &[f64]) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[(sorted.len() - 1) / 2])
}
