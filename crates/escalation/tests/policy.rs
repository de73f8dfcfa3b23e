//! The escalation policy on hand-built event logs: each trigger fires when it should, with its
//! reason code, and not before.

use chrono::{Duration, TimeZone, Utc};
use frontline_domain::{
    Channel, Command, ConversationId, EscalationOverride, EscalationTrigger, Event, EventKind,
    FlowFrame, Identity, IdentityKind, LlmUsage, OutboxId, ScoredCommand, Timestamp,
};
use frontline_escalation::policy::prior_flows;
use frontline_escalation::{EscalationPolicy, PriorFlow, StartedFlow, TurnFacts};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
}

/// Builds a conversation's log turn by turn.
#[derive(Default)]
struct Log {
    events: Vec<Event>,
}

impl Log {
    fn push(&mut self, kind: EventKind) -> &mut Self {
        self.events.push(Event {
            conversation_id: ConversationId::default(),
            seq: self.events.len() as i64 + 1,
            at: t0() + Duration::minutes(self.events.len() as i64),
            kind,
        });
        self
    }

    /// A customer message, what understanding made of it, and its sentiment.
    fn said(&mut self, text: &str, commands: Vec<(Command, f32)>, sentiment: f32) -> &mut Self {
        self.push(EventKind::MessageReceived {
            channel: Channel::WebChat,
            channel_message_id: format!("m{}", self.events.len()),
            sender: Identity {
                kind: IdentityKind::Email,
                value: "ada@example.com".into(),
            },
            text: text.into(),
            thread: Default::default(),
            language: None,
            prefers: None,
        })
        .push(EventKind::CommandsUnderstood {
            commands: commands
                .into_iter()
                .map(|(c, s)| ScoredCommand::new(c, s))
                .collect(),
            source: "local:minilm".into(),
            sentiment: Some(sentiment),
            llm: None,
        })
    }

    /// The agent's reply, asking for `asked`.
    fn replied(&mut self, asked: Option<&str>) -> &mut Self {
        self.push(EventKind::ReplySent {
            channel: Channel::WebChat,
            text: "…".into(),
            outbox_id: OutboxId::new(),
            asked: asked.map(str::to_string),
        })
    }

    fn facts<'a>(
        &'a self,
        asked: Option<&'a str>,
        started: &'a [StartedFlow<'a>],
    ) -> TurnFacts<'a> {
        TurnFacts {
            events: &self.events,
            asked,
            started,
            vip: false,
            prior_flows: &[],
            tier: None,
            now: t0() + Duration::hours(1),
        }
    }
}

fn nothing() -> Vec<(Command, f32)> {
    vec![(
        Command::CannotHandle {
            reason: "out of scope".into(),
        },
        0.0,
    )]
}

fn slot(name: &str, value: &str) -> Vec<(Command, f32)> {
    vec![(
        Command::SetSlot {
            name: name.into(),
            value: value.into(),
        },
        0.9,
    )]
}

fn trigger(policy: &EscalationPolicy, facts: &TurnFacts<'_>) -> Option<EscalationTrigger> {
    policy.assess(facts).map(|e| e.trigger)
}

#[test]
fn one_very_negative_message_or_a_steady_fall_hands_off() {
    let policy = EscalationPolicy::default();
    let mut log = Log::default();
    log.said("where is my order", nothing(), 0.0).replied(None);
    assert_eq!(trigger(&policy, &log.facts(None, &[])), None);
    log.said("this is a scam!!!", nothing(), -0.8);
    let e = policy.assess(&log.facts(None, &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::NegativeSentiment);
    assert!(e.reason.contains("-0.80"), "{}", e.reason);

    let mut falling = Log::default();
    for (i, s) in [0.1, -0.15, -0.45].into_iter().enumerate() {
        falling
            .said(&format!("m{i}"), slot("x", "y"), s)
            .replied(None);
    }
    let e = policy.assess(&falling.facts(None, &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::NegativeSentiment);
    assert!(e.reason.contains("0.10 → -0.15 → -0.45"), "{}", e.reason);

    // A flow that tolerates more (say, a complaint flow) overrides the threshold.
    let lenient = policy.with_override(&EscalationOverride {
        sentiment_below: Some(-0.9),
        ..Default::default()
    });
    let mut once = Log::default();
    once.said("this is a scam!!!", slot("x", "y"), -0.8);
    assert_eq!(trigger(&lenient, &once.facts(None, &[])), None);
}

#[test]
fn three_unsure_turns_in_a_row_hand_off_and_a_confident_one_resets() {
    let policy = EscalationPolicy::default();
    let mut log = Log::default();
    log.said("blorp", nothing(), 0.0).replied(None);
    log.said("zzz", vec![(Command::CancelFlow, 0.3)], 0.0)
        .replied(None);
    assert_eq!(
        trigger(&policy, &log.facts(None, &[])),
        None,
        "two is not three"
    );
    log.said("order #W1", slot("order_id", "#W1"), 0.0)
        .replied(None);
    log.said("qwerty", nothing(), 0.0).replied(None);
    log.push(EventKind::MessageReceived {
        channel: Channel::WebChat,
        channel_message_id: "k".into(),
        sender: Identity {
            kind: IdentityKind::Email,
            value: "ada@example.com".into(),
        },
        text: "what's the airspeed of a swallow".into(),
        thread: Default::default(),
        language: None,
        prefers: None,
    })
    .push(EventKind::CommandsUnderstood {
        commands: vec![ScoredCommand::new(
            Command::AnswerFromKnowledge {
                query: "swallow".into(),
            },
            0.8,
        )],
        source: "local".into(),
        sentiment: Some(0.0),
        llm: None,
    })
    .push(EventKind::KnowledgeConsulted {
        query: "swallow".into(),
        answered: false,
        confidence: 0.2,
        sources: vec![],
        abstain_reason: Some("weak evidence".into()),
        llm: None,
    })
    .replied(None);
    assert_eq!(
        trigger(&policy, &log.facts(None, &[])),
        None,
        "reset by the slot"
    );
    log.said("asdf", nothing(), 0.0);
    let e = policy.assess(&log.facts(None, &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::LowConfidence);
    assert!(e.reason.starts_with("3 turns in a row"), "{}", e.reason);
}

#[test]
fn the_same_slot_asked_a_third_time_hands_off_but_questions_in_between_do_not_count() {
    let policy = EscalationPolicy::default();
    let mut log = Log::default();
    log.said(
        "cancel my order",
        vec![(Command::start_flow("cancel_order"), 0.9)],
        0.0,
    )
    .replied(Some("order_id"));
    // A question on the side: answered, order_id asked again; does not count.
    log.said(
        "how long do refunds take?",
        vec![(
            Command::AnswerFromKnowledge {
                query: "refunds".into(),
            },
            0.8,
        )],
        0.0,
    )
    .replied(Some("order_id"));
    log.said("the blue one", slot("color", "blue"), 0.0);
    assert_eq!(trigger(&policy, &log.facts(Some("order_id"), &[])), None);
    log.replied(Some("order_id"));
    log.said("the recent one", slot("color", "red"), 0.0);
    let e = policy.assess(&log.facts(Some("order_id"), &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::RepeatedFailure);
    assert!(
        e.reason
            .contains("`order_id` would be asked for the 3rd time"),
        "{}",
        e.reason
    );
    // Asking something else is not a repeat.
    assert_eq!(trigger(&policy, &log.facts(Some("reason"), &[])), None);
}

#[test]
fn clarifications_and_failed_flows_add_up() {
    let policy = EscalationPolicy::default();
    let clarify = || {
        vec![(
            Command::Clarify {
                options: vec!["cancel_order".into(), "return_items".into()],
            },
            0.6,
        )]
    };
    let mut log = Log::default();
    log.said("it", clarify(), 0.0).replied(None);
    log.said("that", clarify(), 0.0).replied(None);
    assert_eq!(trigger(&policy, &log.facts(None, &[])), None);
    log.said("this", clarify(), 0.0);
    assert_eq!(
        trigger(&policy, &log.facts(None, &[])),
        Some(EscalationTrigger::RepeatedFailure)
    );

    let mut failed = Log::default();
    failed
        .said("cancel #W3", slot("order_id", "#W3"), 0.0)
        .push(EventKind::FlowEnded {
            flow_id: "cancel_order".into(),
            outcome: "failed".into(),
            slots: Default::default(),
        })
        .replied(None);
    assert_eq!(trigger(&policy, &failed.facts(None, &[])), None);
    failed
        .said("cancel #W4 then", slot("order_id", "#W4"), 0.0)
        .push(EventKind::FlowEnded {
            flow_id: "cancel_order".into(),
            outcome: "failed".into(),
            slots: [("order_id".to_string(), serde_json::json!("#W4"))]
                .into_iter()
                .collect(),
        });
    let e = policy.assess(&failed.facts(None, &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::RepeatedFailure);
    // The same request failing again (the same values) counts once.
    let mut again = Log::default();
    for _ in 0..2 {
        again
            .said("cancel #W3", slot("order_id", "#W3"), 0.0)
            .push(EventKind::FlowEnded {
                flow_id: "cancel_order".into(),
                outcome: "failed".into(),
                slots: Default::default(),
            })
            .replied(None);
    }
    assert_eq!(trigger(&policy, &again.facts(None, &[])), None);
    assert!(
        e.reason.contains("cancel_order, cancel_order"),
        "{}",
        e.reason
    );
}

#[test]
fn a_repeat_contact_within_the_window_about_the_same_thing_hands_off() {
    let policy = EscalationPolicy::default();
    // The earlier conversation: a cancellation of #W3 that failed.
    let mut earlier = Log::default();
    let mut frame = FlowFrame {
        flow_id: "cancel_order".into(),
        step: "s1".into(),
        ..Default::default()
    };
    frame.slots.insert("order_id".into(), "#W3".into());
    earlier
        .push(EventKind::FlowUpdated {
            stack: vec![frame.clone()],
            ran: vec![],
        })
        .push(EventKind::FlowEnded {
            flow_id: "cancel_order".into(),
            outcome: "failed".into(),
            slots: Default::default(),
        });
    let prior: Vec<PriorFlow> = prior_flows(t0(), &earlier.events);
    assert_eq!(prior.len(), 1);
    assert_eq!(prior[0].outcome, "failed");

    let mut log = Log::default();
    log.said("cancel #W3 please", slot("order_id", "#W3"), 0.0);
    let started = [StartedFlow {
        flow_id: "cancel_order",
        tier: "transactional",
        frame: Some(&frame),
        vip_to_human: None,
    }];
    fn at<'a>(
        log: &'a Log,
        started: &'a [StartedFlow<'a>],
        prior: &'a [PriorFlow],
        days: i64,
    ) -> TurnFacts<'a> {
        TurnFacts {
            prior_flows: prior,
            now: t0() + Duration::days(days),
            ..log.facts(None, started)
        }
    }
    let e = policy.assess(&at(&log, &started, &prior, 4)).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::RepeatedFailure);
    assert!(
        e.reason.contains("about the same order_id (#W3)"),
        "{}",
        e.reason
    );
    // Outside the window, it is a new matter.
    assert!(policy.assess(&at(&log, &started, &prior, 8)).is_none());
    // A different, resolved request of the same kind is not a repeat either.
    let mut resolved = prior.clone();
    resolved[0].outcome = "resolved".into();
    resolved[0].slots.insert("order_id".into(), "#W9".into());
    assert!(policy.assess(&at(&log, &started, &resolved, 2)).is_none());
}

#[test]
fn vips_go_to_a_person_on_the_configured_tiers_and_flows_can_opt_in() {
    let mut policy = EscalationPolicy::default();
    policy.vip.identities = vec!["email:CEO@example.com".into()];
    let ceo = Identity {
        kind: IdentityKind::Email,
        value: "ceo@example.com".into(),
    };
    assert!(policy.is_vip([&ceo]));
    let mut log = Log::default();
    log.said("my package arrived broken and I'm upset", nothing(), -0.3);
    let emotional = [StartedFlow {
        flow_id: "damaged_item",
        tier: "emotional",
        frame: None,
        vip_to_human: None,
    }];
    let transactional = [StartedFlow {
        flow_id: "cancel_order",
        tier: "transactional",
        frame: None,
        vip_to_human: None,
    }];
    fn vip<'a>(log: &'a Log, started: &'a [StartedFlow<'a>]) -> TurnFacts<'a> {
        TurnFacts {
            vip: true,
            ..log.facts(None, started)
        }
    }
    assert_eq!(
        trigger(&policy, &vip(&log, &emotional)),
        Some(EscalationTrigger::Policy)
    );
    assert_eq!(trigger(&policy, &vip(&log, &transactional)), None);
    assert_eq!(
        trigger(&policy, &log.facts(None, &emotional)),
        None,
        "not a VIP"
    );
    let opted_in = [StartedFlow {
        vip_to_human: Some(true),
        ..transactional[0]
    }];
    assert_eq!(
        trigger(&policy, &vip(&log, &opted_in)),
        Some(EscalationTrigger::Policy)
    );
    // The conversation's tier at run time: an upset VIP goes to a person on any flow (the
    // default tiers), unless a flow started now opts out; a complex one is not on the list.
    let upset = |tier: &'static str, started: &'static [StartedFlow<'static>]| TurnFacts {
        vip: true,
        tier: Some(tier),
        ..log.facts(None, started)
    };
    let e = policy.assess(&upset("emotional", &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::Policy);
    assert!(e.reason.contains("emotional"), "{}", e.reason);
    assert_eq!(trigger(&policy, &upset("complex", &[])), None);
    assert_eq!(trigger(&policy, &upset("transactional", &[])), None);
    const OPTED_OUT: [StartedFlow<'static>; 1] = [StartedFlow {
        flow_id: "order_status",
        tier: "informational",
        frame: None,
        vip_to_human: Some(false),
    }];
    assert_eq!(trigger(&policy, &upset("emotional", &OPTED_OUT)), None);
    assert_eq!(
        trigger(
            &policy,
            &TurnFacts {
                vip: false,
                ..upset("emotional", &[])
            }
        ),
        None,
        "not a VIP"
    );
}

#[test]
fn an_llm_down_two_turns_running_is_an_agent_error() {
    let policy = EscalationPolicy::default();
    let mut log = Log::default();
    let down = |log: &mut Log| {
        log.said("where is my order", slot("x", "y"), 0.0);
        if let Some(Event {
            kind: EventKind::CommandsUnderstood { llm, .. },
            ..
        }) = log.events.last_mut()
        {
            *llm = Some(LlmUsage {
                fallback: Some("LLM endpoint http://127.0.0.1:1/v1: connection refused".into()),
                unavailable: true,
                ..Default::default()
            });
        }
    };
    down(&mut log);
    log.replied(None);
    assert_eq!(trigger(&policy, &log.facts(None, &[])), None);
    down(&mut log);
    let e = policy.assess(&log.facts(None, &[])).unwrap();
    assert_eq!(e.trigger, EscalationTrigger::AgentError);
    assert!(e.reason.contains("2 turns in a row"), "{}", e.reason);

    // Output the LLM got wrong (but answered) is not an outage.
    let mut odd = Log::default();
    for _ in 0..3 {
        odd.said("hm", slot("x", "y"), 0.0);
        if let Some(Event {
            kind: EventKind::CommandsUnderstood { llm, .. },
            ..
        }) = odd.events.last_mut()
        {
            *llm = Some(LlmUsage {
                fallback: Some("invalid output: unknown flow `teleport`".into()),
                ..Default::default()
            });
        }
    }
    assert_eq!(trigger(&policy, &odd.facts(None, &[])), None);
}

#[test]
fn the_standing_shows_how_close_each_trigger_is_and_agrees_with_the_assessment() {
    let policy = EscalationPolicy::default();
    let gauge = |log: &Log, what: &str| {
        policy
            .standing(&log.events)
            .into_iter()
            .find(|g| g.what == what)
            .unwrap_or_else(|| panic!("no gauge {what}"))
    };
    let mut log = Log::default();
    log.said("blorp", nothing(), -0.2).replied(Some("order_id"));
    log.said("zzz", nothing(), -0.4).replied(Some("order_id"));
    let unsure = gauge(&log, "unsure turns in a row");
    assert_eq!(
        (unsure.value, unsure.limit, unsure.reached),
        (2.0, 3.0, false)
    );
    assert_eq!(unsure.trigger, EscalationTrigger::LowConfidence);
    let asks = gauge(&log, "asks of the same slot in a row");
    assert_eq!((asks.value, asks.reached), (2.0, false));
    let mood = gauge(&log, "last message's sentiment");
    assert!(
        (mood.value - -0.4).abs() < 1e-6 && !mood.reached,
        "{mood:?}"
    );
    assert_eq!(trigger(&policy, &log.facts(None, &[])), None);

    log.said("asdf", nothing(), -0.7);
    assert!(gauge(&log, "unsure turns in a row").reached);
    assert!(gauge(&log, "last message's sentiment").reached);
    assert_eq!(
        trigger(&policy, &log.facts(None, &[])),
        Some(EscalationTrigger::NegativeSentiment),
        "sentiment is checked first"
    );
    let off = EscalationPolicy {
        sentiment: frontline_escalation::policy::SentimentPolicy {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let mood = off
        .standing(&log.events)
        .into_iter()
        .find(|g| g.trigger == EscalationTrigger::NegativeSentiment)
        .unwrap();
    assert!(
        !mood.enabled && !mood.reached,
        "a switched-off trigger never reaches"
    );
}
