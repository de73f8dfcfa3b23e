//! The escalation summary: built by code from the conversation's event log so that every field
//! is backed by evidence (an LLM may add a narrative, never replace a field), checked against
//! its JSON Schema before it is sent, measured for completeness, and rendered as a markdown note
//! for helpdesks.

use frontline_domain::escalation::{
    SummaryAction, SummaryArticle, SummaryCustomer, SummaryFlow, SummaryPriorContact,
};
use frontline_domain::{
    Channel, Command, Conversation, Customer, EscalationSummary, EscalationTrigger, Event,
    EventKind, FlowFrame, RoutingHint, Timestamp,
};
use std::sync::OnceLock;

use crate::notice::channel_phrase;
use crate::trajectory::Trajectory;

/// The JSON Schema every summary is checked against before it is sent.
pub const SCHEMA: &str = include_str!("../schema/escalation-summary.schema.json");

/// Everything a summary is built from.
pub struct SummaryInput<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// Whether they are a VIP.
    pub vip: bool,
    /// Their language, if known.
    pub locale: Option<String>,
    /// The conversation being handed off.
    pub conversation: &'a Conversation,
    /// Its event log so far (including the handoff reply).
    pub events: &'a [Event],
    /// The channel the customer is on now.
    pub current_channel: Channel,
    /// The flow handed over (the innermost active one), as it stood.
    pub flow: Option<&'a FlowFrame>,
    /// That flow's tier.
    pub flow_tier: Option<&'a str>,
    /// The reason code.
    pub trigger: EscalationTrigger,
    /// The reason in words.
    pub reason: String,
    /// Where the handoff goes.
    pub routing: RoutingHint,
    /// The customer's earlier conversations within the repeat-contact window.
    pub prior_contacts: Vec<SummaryPriorContact>,
    /// Base URL of the transcript API (`https://frontline.example.com`; empty for relative).
    pub transcript_base: &'a str,
    /// When.
    pub now: Timestamp,
}

const MAX_ISSUE_CHARS: usize = 240;

/// Build the summary for a handoff.
pub fn build_summary(input: SummaryInput<'_>) -> EscalationSummary {
    let events = input.events;
    let flow = input.flow.map(|f| SummaryFlow {
        flow_id: f.flow_id.clone(),
        step: f.step.clone(),
        slots: f.slots.clone(),
    });
    let actions_taken: Vec<SummaryAction> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionExecuted { call, outcome } => Some(SummaryAction {
                name: call.name.clone(),
                args: call.args.clone(),
                outcome: match outcome {
                    Ok(_) => "ok".to_string(),
                    Err(err) => err.to_string(),
                },
                at: e.at,
            }),
            _ => None,
        })
        .collect();
    let knowledge_shown = knowledge_shown(events);
    let tier = input
        .flow_tier
        .map(str::to_string)
        .or_else(|| {
            (input.trigger == EscalationTrigger::NegativeSentiment).then(|| "emotional".into())
        })
        .or_else(|| (!knowledge_shown.is_empty()).then(|| "informational".into()));
    let channel = input.current_channel;
    let suggested_next_step =
        suggest_next_step(input.trigger, flow.as_ref(), &actions_taken, channel);
    EscalationSummary {
        conversation_id: input.conversation.id,
        customer: SummaryCustomer {
            customer_id: input.customer.id.to_string(),
            name: input.customer.display_name.clone(),
            identities: input
                .customer
                .identities
                .iter()
                .map(|r| r.identity.clone())
                .collect(),
            assurance: input
                .customer
                .identities
                .iter()
                .map(|r| (r.identity.to_string(), r.assurance))
                .collect(),
            vip: input.vip,
            locale: input.locale,
        },
        channels_used: input.conversation.channels_seen.clone(),
        current_channel: channel,
        issue_statement: issue_statement(events),
        tier,
        flow,
        actions_taken,
        knowledge_shown,
        sentiment_trajectory: Trajectory::from_events(events).scores,
        trigger: input.trigger,
        reason: input.reason,
        routing: input.routing,
        prior_contacts: input.prior_contacts,
        customer_was_told: last_reply(events).unwrap_or_default().to_string(),
        suggested_next_step,
        transcript_url: format!(
            "{}/v1/conversations/{}",
            input.transcript_base.trim_end_matches('/'),
            input.conversation.id
        ),
        narrative: None,
        created_at: input.now,
    }
}

fn suggest_next_step(
    trigger: EscalationTrigger,
    flow: Option<&SummaryFlow>,
    actions: &[SummaryAction],
    channel: Channel,
) -> String {
    let reply = format!("reply {}", channel_phrase(channel));
    let failed = actions.iter().rev().find(|a| a.outcome != "ok");
    match (trigger, flow, failed) {
        (EscalationTrigger::AgentError, _, Some(action)) => format!(
            "Retry `{}` by hand (it failed: {}), then {reply} to confirm.",
            action.name, action.outcome
        ),
        (EscalationTrigger::NegativeSentiment, Some(f), _) => format!(
            "Acknowledge the customer's frustration first, then finish their `{}` request from step `{}` with the details already collected; {reply}.",
            f.flow_id, f.step
        ),
        (EscalationTrigger::NegativeSentiment, None, _) => format!(
            "Acknowledge the customer's frustration first, then resolve the issue above; {reply}."
        ),
        (EscalationTrigger::Policy, Some(f), _) => format!(
            "Review the `{}` request against policy (reason above) and approve or decline it; {reply}.",
            f.flow_id
        ),
        (_, Some(f), _) => format!(
            "Continue the customer's `{}` request from step `{}` with the details already collected; {reply}.",
            f.flow_id, f.step
        ),
        (_, None, _) => format!(
            "Read the customer's request above and {reply}; nothing has been done on it yet."
        ),
    }
}

fn knowledge_shown(events: &[Event]) -> Vec<SummaryArticle> {
    let mut shown: Vec<SummaryArticle> = vec![];
    for e in events {
        if let EventKind::KnowledgeConsulted {
            sources,
            answered: true,
            ..
        } = &e.kind
        {
            for article in sources {
                if !shown.contains(article) {
                    shown.push(article.clone());
                }
            }
        }
    }
    shown
}

fn last_reply(events: &[Event]) -> Option<&str> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ReplySent { text, .. } => Some(text.as_str()),
        _ => None,
    })
}

/// The first customer message that asked for something (not small talk, not "a human please");
/// failing that, the latest message.
fn issue_statement(events: &[Event]) -> String {
    let mut last_text = None;
    let mut substantive = None;
    for (i, e) in events.iter().enumerate() {
        if let EventKind::MessageReceived { text, .. } = &e.kind {
            last_text = Some(text.clone());
            let only_small_talk = events[i + 1..]
                .iter()
                .find_map(|next| match &next.kind {
                    EventKind::CommandsUnderstood { commands, .. } => {
                        Some(commands.iter().all(|c| {
                            matches!(
                                c.command,
                                Command::ChitChat { .. } | Command::HumanHandoff { .. }
                            )
                        }))
                    }
                    EventKind::MessageReceived { .. } => Some(false),
                    _ => None,
                })
                .unwrap_or(false);
            if !only_small_talk && substantive.is_none() {
                substantive = Some(text.clone());
            }
        }
    }
    let text = substantive.or(last_text).unwrap_or_default();
    let trimmed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = trimmed.chars().take(MAX_ISSUE_CHARS).collect();
    let ellipsis = if trimmed.chars().count() > MAX_ISSUE_CHARS {
        "…"
    } else {
        ""
    };
    format!("The customer wrote: \"{cut}{ellipsis}\"")
}

/// A summary that does not match its schema.
#[derive(Debug, thiserror::Error)]
#[error("escalation summary does not match its schema: {}", problems.join("; "))]
pub struct SummaryError {
    /// Each violation, as `pointer: message`.
    pub problems: Vec<String>,
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMA).expect("the summary schema is JSON");
        jsonschema::validator_for(&schema).expect("the summary schema is a valid JSON Schema")
    })
}

/// Check a summary (as JSON) against the schema.
pub fn validate_summary_json(value: &serde_json::Value) -> Result<(), SummaryError> {
    let problems: Vec<String> = validator()
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path().as_str()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SummaryError { problems })
    }
}

/// Check a summary against the schema (done before every send).
pub fn validate_summary(summary: &EscalationSummary) -> Result<(), SummaryError> {
    validate_summary_json(&serde_json::to_value(summary).expect("a summary serialises"))
}

/// One required field of a summary and whether the log backs it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCheck {
    /// The field (`customer.identities`, `flow`, …).
    pub field: &'static str,
    /// Whether it is filled and agrees with the log.
    pub backed: bool,
}

/// How completely a summary carries the context: the share of required fields filled with
/// evidence from the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Completeness {
    /// Every required field, checked.
    pub fields: Vec<FieldCheck>,
}

impl Completeness {
    /// Filled-with-evidence fields over required fields (1.0 when nothing is required).
    pub fn ratio(&self) -> f64 {
        if self.fields.is_empty() {
            return 1.0;
        }
        self.fields.iter().filter(|f| f.backed).count() as f64 / self.fields.len() as f64
    }

    /// The fields that are missing or not backed by the log.
    pub fn missing(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| !f.backed)
            .map(|f| f.field)
            .collect()
    }
}

/// Check every required field of `summary` against the conversation's log. A field is
/// required when the log shows there is something to say: the flow when one was handed over,
/// actions when any ran, articles when any were shown.
pub fn completeness(summary: &EscalationSummary, events: &[Event]) -> Completeness {
    let received: Vec<(&Channel, &str, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageReceived {
                channel,
                text,
                sender,
                ..
            } => Some((channel, text.as_str(), sender.to_string())),
            _ => None,
        })
        .collect();
    let mut fields = vec![];
    let mut check = |field: &'static str, backed: bool| fields.push(FieldCheck { field, backed });

    check(
        "customer.customer_id",
        !summary.customer.customer_id.is_empty(),
    );
    let identities: Vec<String> = summary
        .customer
        .identities
        .iter()
        .map(|i| i.to_string())
        .collect();
    check(
        "customer.identities",
        received
            .iter()
            .all(|(_, _, sender)| identities.contains(sender))
            && !identities.is_empty(),
    );
    check(
        "channels_used",
        !summary.channels_used.is_empty()
            && received
                .iter()
                .all(|(channel, ..)| summary.channels_used.contains(channel)),
    );
    check(
        "current_channel",
        received.last().map(|(c, ..)| **c) == Some(summary.current_channel),
    );
    check(
        "issue_statement",
        received.iter().any(|(_, text, _)| {
            let squashed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let head: String = squashed.chars().take(MAX_ISSUE_CHARS).collect();
            summary.issue_statement.contains(&head)
        }),
    );
    let escalated_flows: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FlowEnded {
                flow_id, outcome, ..
            } if outcome == "escalated" => Some(flow_id.as_str()),
            _ => None,
        })
        .collect();
    if let Some(innermost) = escalated_flows.first() {
        check(
            "flow",
            summary
                .flow
                .as_ref()
                .is_some_and(|f| f.flow_id == *innermost && !f.step.is_empty()),
        );
        check("tier", summary.tier.is_some());
    }
    let actions = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ActionExecuted { .. }))
        .count();
    if actions > 0 {
        check("actions_taken", summary.actions_taken.len() == actions);
    }
    let shown = knowledge_shown(events);
    if !shown.is_empty() {
        check("knowledge_shown", summary.knowledge_shown == shown);
    }
    let understood = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::CommandsUnderstood {
                    sentiment: Some(_),
                    ..
                }
            )
        })
        .count();
    check(
        "sentiment_trajectory",
        understood > 0 && summary.sentiment_trajectory.len() == understood,
    );
    check("reason", !summary.reason.trim().is_empty());
    check("routing.queue", summary.routing.queue.is_some());
    check(
        "customer_was_told",
        !summary.customer_was_told.is_empty()
            && last_reply(events) == Some(summary.customer_was_told.as_str()),
    );
    check(
        "suggested_next_step",
        !summary.suggested_next_step.trim().is_empty(),
    );
    check(
        "transcript_url",
        summary
            .transcript_url
            .ends_with(&format!("/v1/conversations/{}", summary.conversation_id)),
    );
    Completeness { fields }
}

/// The summary as a markdown note for a human agent.
pub fn render_note(s: &EscalationSummary) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("### Handed over by frontline: {}", s.trigger));
    line(format!("**Why:** {}", s.reason));
    line(format!(
        "**Routing:** queue `{}`{}{} · priority **{}**",
        s.routing.queue.as_deref().unwrap_or("-"),
        s.routing
            .team
            .as_deref()
            .map(|t| format!(" · team `{t}`"))
            .unwrap_or_default(),
        s.routing
            .assignee
            .as_deref()
            .map(|a| format!(" · assignee `{a}`"))
            .unwrap_or_default(),
        s.routing.priority.as_str()
    ));
    line(String::new());
    let ids: Vec<String> = s
        .customer
        .identities
        .iter()
        .map(|i| {
            let id = i.to_string();
            match s.customer.assurance.get(&id) {
                Some(level) => format!("`{id}` ({level})"),
                None => format!("`{id}`"),
            }
        })
        .collect();
    line(format!(
        "**Customer:** {}{}{} — {}",
        s.customer.name.as_deref().unwrap_or("(name unknown)"),
        if s.customer.vip { " · **VIP**" } else { "" },
        s.customer
            .locale
            .as_deref()
            .map(|l| format!(" · {l}"))
            .unwrap_or_default(),
        ids.join(", ")
    ));
    let channels: Vec<String> = s.channels_used.iter().map(|c| c.to_string()).collect();
    line(format!(
        "**Channels:** {} (now on {})",
        channels.join(" → "),
        s.current_channel
    ));
    line(format!("**Issue:** {}", s.issue_statement));
    if let Some(tier) = &s.tier {
        line(format!("**Tier:** {tier}"));
    }
    if let Some(flow) = &s.flow {
        let slots: Vec<String> = flow
            .slots
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(text) => format!("{k} = {text}"),
                other => format!("{k} = {other}"),
            })
            .collect();
        line(format!(
            "**Flow:** `{}` at step `{}`{}",
            flow.flow_id,
            flow.step,
            if slots.is_empty() {
                String::new()
            } else {
                format!(" — {}", slots.join(", "))
            }
        ));
    }
    if !s.actions_taken.is_empty() {
        line("**Actions taken:**".into());
        for a in &s.actions_taken {
            line(format!("- `{}` {} → {}", a.name, a.args, a.outcome));
        }
    }
    if !s.knowledge_shown.is_empty() {
        line("**Articles shown:**".into());
        for a in &s.knowledge_shown {
            line(format!("- {} (`{}`)", a.title, a.document));
        }
    }
    if !s.sentiment_trajectory.is_empty() {
        line(format!(
            "**Sentiment:** {}",
            Trajectory::new(s.sentiment_trajectory.clone()).describe()
        ));
    }
    if !s.prior_contacts.is_empty() {
        line("**Earlier contacts:**".into());
        for p in &s.prior_contacts {
            line(format!(
                "- {} ({}): {}",
                p.last_activity_at.format("%Y-%m-%d"),
                p.conversation_id,
                if p.flows.is_empty() {
                    "no flow".to_string()
                } else {
                    p.flows.join(", ")
                }
            ));
        }
    }
    line(format!(
        "**Customer was told:** {}",
        quote(&s.customer_was_told)
    ));
    line(format!(
        "**Suggested next step:** {}",
        s.suggested_next_step
    ));
    if let Some(narrative) = &s.narrative {
        line(String::new());
        line(narrative.clone());
    }
    line(String::new());
    line(format!("[Full transcript]({})", s.transcript_url));
    out
}

fn quote(text: &str) -> String {
    format!(
        "\"{}\"",
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}
