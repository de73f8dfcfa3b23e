//! The escalation summary, built by code from the conversation's event log so that every field
//! is backed by evidence (an LLM may later add a narrative, never replace a field).

use frontline_domain::escalation::{SummaryAction, SummaryCustomer, SummaryFlow};
use frontline_domain::{
    Channel, Command, Conversation, Customer, EscalationSummary, EscalationTrigger, Event,
    EventKind, Timestamp,
};

/// Everything a summary is built from.
pub struct SummaryInput<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// The conversation being handed off.
    pub conversation: &'a Conversation,
    /// Its event log so far.
    pub events: &'a [Event],
    /// The channel the customer is on now.
    pub current_channel: Channel,
    /// The reason code.
    pub trigger: EscalationTrigger,
    /// The reason in words.
    pub reason: String,
    /// What the agent told the customer at handoff.
    pub customer_was_told: String,
    /// When.
    pub now: Timestamp,
}

const MAX_ISSUE_CHARS: usize = 240;

/// Build the summary for a handoff.
pub fn build_summary(input: SummaryInput<'_>) -> EscalationSummary {
    let SummaryInput {
        customer,
        conversation,
        events,
        current_channel,
        trigger,
        reason,
        customer_was_told,
        now,
    } = input;
    let flow = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::FlowUpdated { stack } => Some(stack.last().map(|top| SummaryFlow {
            flow_id: top.flow_id.clone(),
            step: top.step.clone(),
            slots: top.slots.clone(),
        })),
        _ => None,
    });
    let flow = flow.flatten();
    let actions_taken = events
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
    let issue = issue_statement(events);
    let suggested_next_step = match &flow {
        Some(f) => format!(
            "Continue the customer's `{}` request from step `{}` with the details already collected; reply on {current_channel}.",
            f.flow_id, f.step
        ),
        None => format!("Read the customer's request above and reply on {current_channel}; nothing has been done on it yet."),
    };
    EscalationSummary {
        conversation_id: conversation.id,
        customer: SummaryCustomer {
            customer_id: customer.id.to_string(),
            name: customer.display_name.clone(),
            identities: customer
                .identities
                .iter()
                .map(|r| r.identity.clone())
                .collect(),
            vip: false,
            locale: None,
        },
        channels_used: conversation.channels_seen.clone(),
        current_channel,
        issue_statement: issue,
        tier: None,
        flow,
        actions_taken,
        knowledge_shown: events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::KnowledgeConsulted { sources, .. } => sources.first().cloned(),
                _ => None,
            })
            .fold(Vec::new(), |mut shown, article| {
                if !shown.contains(&article) {
                    shown.push(article);
                }
                shown
            }),
        sentiment_trajectory: input
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CommandsUnderstood { sentiment, .. } => *sentiment,
                _ => None,
            })
            .collect(),
        trigger,
        reason,
        customer_was_told,
        suggested_next_step,
        transcript_url: format!("/v1/conversations/{}", conversation.id),
        narrative: None,
        created_at: now,
    }
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
