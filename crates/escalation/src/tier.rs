//! The tier a conversation is in, at run time: the seed matrix's four (informational,
//! transactional, complex, emotional), read from the log after every turn. A flow's `tier` label
//! says what its requests are; the conversation's tier also follows the customer's mood and
//! what happened to them, so a knowledge question is informational, a return transactional, a
//! customer who got upset emotional, and one handed to a person (or juggling several requests)
//! complex. It changes as the conversation does, and each change is an event (`tier_changed`)
//! that routing, the KPIs and the console read.

use frontline_domain::{ConversationStatus, EscalationTrigger, Event, EventKind};
use serde::{Deserialize, Serialize};

/// The default tiers, most demanding first.
pub const TIERS: [&str; 4] = ["emotional", "complex", "transactional", "informational"];

/// How the tier is read (`[escalation.tiers]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierRules {
    /// The conversation is emotional while the customer's latest message scores at or below
    /// this (-1 … 1), and while a person has it after a handoff for negative sentiment.
    pub emotional_at_or_below: f32,
    /// A handoff (for any other reason) makes it complex.
    pub complex_on_handoff: bool,
    /// This many different flows in one conversation make it complex (several requests at
    /// once); 0 turns the rule off.
    pub complex_after_flows: usize,
}

impl Default for TierRules {
    fn default() -> Self {
        Self {
            emotional_at_or_below: -0.45,
            complex_on_handoff: true,
            complex_after_flows: 3,
        }
    }
}

/// A conversation's tier and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierReading {
    /// The tier.
    pub tier: String,
    /// Why, in words for the console.
    pub reason: String,
}

/// The tier the log last recorded (`tier_changed`), if any.
pub fn recorded_tier<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<&'a str> {
    events
        .into_iter()
        .filter_map(|e| match &e.kind {
            EventKind::TierChanged { to, .. } => Some(to.as_str()),
            _ => None,
        })
        .last()
}

impl TierRules {
    /// The tier of the conversation in `events`; `flow_tier` gives the label of a flow that is
    /// a request of its own (`None` for one another flow calls, such as authentication, and
    /// for one no longer loaded: neither counts). `None` before the customer has written
    /// anything understood.
    pub fn read<'a, 't>(
        &self,
        events: impl IntoIterator<Item = &'a Event>,
        flow_tier: impl Fn(&str) -> Option<&'t str>,
    ) -> Option<TierReading> {
        let reading = |tier: &str, reason: String| {
            Some(TierReading {
                tier: tier.to_string(),
                reason,
            })
        };
        let mut understood = false;
        let mut mood = 0.0_f32;
        let mut handoff: Option<EscalationTrigger> = None;
        let mut with_person = false;
        let mut flows: Vec<&str> = vec![];
        for event in events {
            match &event.kind {
                EventKind::CommandsUnderstood { sentiment, .. } => {
                    understood = true;
                    // The latest scored message (as the sentiment trajectory reads it).
                    if let Some(score) = sentiment {
                        mood = *score;
                    }
                }
                EventKind::Escalated { summary } => handoff = Some(summary.trigger),
                EventKind::StatusChanged { to, .. } => {
                    with_person = *to == ConversationStatus::HandedOff
                }
                EventKind::FlowUpdated { stack, .. } => {
                    for frame in stack {
                        if !flows.contains(&frame.flow_id.as_str()) {
                            flows.push(&frame.flow_id);
                        }
                    }
                }
                EventKind::FlowEnded { flow_id, .. } if !flows.contains(&flow_id.as_str()) => {
                    flows.push(flow_id)
                }
                _ => {}
            }
        }
        if !understood {
            return None;
        }
        let flows: Vec<(&str, &str)> = flows
            .into_iter()
            .filter_map(|f| Some((f, flow_tier(f)?)))
            .collect();
        // Upset enough to need a person: emotional while the person has it (once it is back
        // with the bot, the customer's mood decides again).
        if with_person && handoff == Some(EscalationTrigger::NegativeSentiment) {
            return reading(
                "emotional",
                "handed to a person because the customer was upset".into(),
            );
        }
        if mood <= self.emotional_at_or_below {
            return reading(
                "emotional",
                format!("the customer's latest message scores {mood:+.2}"),
            );
        }
        if let Some(trigger) = handoff.filter(|_| self.complex_on_handoff) {
            return reading(
                "complex",
                format!("handed to a person ({})", trigger.code()),
            );
        }
        if self.complex_after_flows > 0 && flows.len() >= self.complex_after_flows {
            let names: Vec<&str> = flows.iter().map(|(f, _)| *f).collect();
            return reading(
                "complex",
                format!(
                    "{} requests in one conversation ({})",
                    flows.len(),
                    names.join(", ")
                ),
            );
        }
        // The most demanding label of the flows the customer started.
        let labelled = TIERS.iter().find_map(|tier| {
            flows
                .iter()
                .find(|(_, t)| t.eq_ignore_ascii_case(tier))
                .map(|(f, _)| (*tier, *f))
        });
        match labelled {
            Some((tier, flow)) => reading(tier, format!("the {flow} flow is {tier}")),
            None => reading("informational", "questions and answers, no request".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::{ConversationId, FlowFrame};

    fn event(kind: EventKind) -> Event {
        Event {
            conversation_id: ConversationId::new(),
            seq: 0,
            at: chrono::Utc::now(),
            kind,
        }
    }

    fn said(score: f32) -> Event {
        event(EventKind::CommandsUnderstood {
            commands: vec![],
            source: "rules".into(),
            sentiment: Some(score),
            llm: None,
        })
    }

    fn flow(id: &str) -> Event {
        event(EventKind::FlowUpdated {
            stack: vec![FlowFrame {
                flow_id: id.into(),
                ..FlowFrame::default()
            }],
            ran: vec![],
        })
    }

    fn tier_of(events: &[Event]) -> Option<String> {
        let labels = |id: &str| match id {
            "order_status" => Some("informational"),
            _ => Some("transactional"),
        };
        TierRules::default().read(events, labels).map(|r| r.tier)
    }

    #[test]
    fn the_tier_follows_the_flows_and_the_mood_and_each_rule_says_why() {
        assert_eq!(tier_of(&[]), None, "nothing understood yet");
        let mut log = vec![said(0.0)];
        assert_eq!(tier_of(&log).as_deref(), Some("informational"));
        log.push(flow("order_status"));
        assert_eq!(tier_of(&log).as_deref(), Some("informational"));
        log.extend([said(0.1), flow("return_items")]);
        assert_eq!(tier_of(&log).as_deref(), Some("transactional"));
        // Upset: emotional; calm again: back to what the flows say.
        log.push(said(-0.7));
        let reading = TierRules::default()
            .read(&log, |_| Some("transactional"))
            .unwrap();
        assert_eq!(reading.tier, "emotional");
        assert!(reading.reason.contains("-0.70"), "{}", reading.reason);
        log.push(said(0.2));
        assert_eq!(tier_of(&log).as_deref(), Some("transactional"));
        // A mild problem report is not emotional.
        log.push(said(-0.3));
        assert_eq!(tier_of(&log).as_deref(), Some("transactional"));
        // Three requests in one conversation: complex.
        log.push(flow("cancel_order"));
        let reading = TierRules::default()
            .read(&log, |_| Some("transactional"))
            .unwrap();
        assert_eq!(reading.tier, "complex");
        assert!(reading.reason.contains("3 requests"), "{}", reading.reason);
        let off = TierRules {
            complex_after_flows: 0,
            ..TierRules::default()
        };
        assert_eq!(
            off.read(&log, |_| Some("transactional")).unwrap().tier,
            "transactional"
        );
        // A flow another flow calls (authentication) is no request of its own.
        let called = |id: &str| (id != "cancel_order").then_some("transactional");
        assert_eq!(
            TierRules::default().read(&log, called).unwrap().tier,
            "transactional"
        );
        // What the log recorded last.
        log.push(event(EventKind::TierChanged {
            from: None,
            to: "complex".into(),
            reason: "x".into(),
        }));
        assert_eq!(recorded_tier(&log), Some("complex"));
    }
}
