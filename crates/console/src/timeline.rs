//! One conversation's log as people read it: customer and agent messages with their channel,
//! and between them what the agent understood, decided and did.

use frontline_domain::{Channel, Command, ConversationStatus, Event, EventKind, ScoredCommand};
use maud::{html, Markup};

/// A channel's small icon (inline SVG, labelled for screen readers and tests).
pub fn channel_icon(channel: Channel) -> Markup {
    let path = match channel {
        Channel::WebChat => "M3 4h18v12H8l-5 4z",
        Channel::Email => "M3 5h18v14H3z M3 5l9 8 9-8",
        Channel::Sms => "M7 2h10v20H7z M10 18h4",
        Channel::Whatsapp => "M12 3a9 9 0 1 1-4.6 16.7L3 21l1.4-4.3A9 9 0 0 1 12 3z",
        Channel::Chatwoot => "M4 4h16v11H9l-5 4z M8 9h8",
        Channel::Messenger => "M12 3c5 0 9 3.7 9 8.3s-4 8.3-9 8.3c-.9 0-1.8-.1-2.6-.3L5 21v-3.6C3.8 15.9 3 14.2 3 11.3 3 6.7 7 3 12 3z M7 13l3-3 3 2 4-3",
        Channel::Telegram => "M3 11l18-7-3 16-6-5-3 4v-5l9-8-11 7z",
        Channel::Rest => "M4 7h16M4 12h16M4 17h10",
    };
    html! {
        span.channel data-channel=(channel.to_string()) title=(channel_name(channel)) {
            svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" {
                path d=(path) fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" {}
            }
            span.channel-name { (channel_name(channel)) }
        }
    }
}

/// A channel as people name it.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::WebChat => "web chat",
        Channel::Email => "email",
        Channel::Sms => "SMS",
        Channel::Whatsapp => "WhatsApp",
        Channel::Chatwoot => "Chatwoot",
        Channel::Messenger => "Messenger",
        Channel::Telegram => "Telegram",
        Channel::Rest => "API",
    }
}

/// A status as people name it.
pub fn status_name(status: ConversationStatus) -> &'static str {
    match status {
        ConversationStatus::Bot => "with the agent",
        ConversationStatus::HandedOff => "handed off",
        ConversationStatus::Resolved => "resolved",
    }
}

/// A command in one line: `start_flow order_status (0.92)`.
pub fn command_line(scored: &ScoredCommand) -> String {
    format!(
        "{} ({:.2})",
        command_text(&scored.command),
        scored.confidence
    )
}

/// A command in one line, without its confidence: `set_slot order_id = #W0000001`.
pub fn command_text(command: &Command) -> String {
    match command {
        Command::StartFlow { flow_id, .. } => format!("start_flow {flow_id}"),
        Command::SetSlot { name, value } => format!("set_slot {name} = {}", plain(value)),
        Command::CancelFlow => "cancel_flow".into(),
        Command::AnswerFromKnowledge { query } => format!("answer_from_knowledge “{query}”"),
        Command::Clarify { options } => format!("clarify between {}", options.join(", ")),
        Command::ChitChat { topic } => format!("chit_chat {}", plain(&serde_json::json!(topic))),
        Command::HumanHandoff { reason } => format!("human_handoff ({reason})"),
        Command::CannotHandle { reason } => format!("cannot_handle ({reason})"),
    }
}

/// A JSON value without quotes around strings.
pub fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn slots_line(slots: &serde_json::Map<String, serde_json::Value>) -> String {
    slots
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k} = {}", plain(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One event as a timeline entry (`li`), with its sequence number as the element's data.
pub fn entry(event: &Event) -> Markup {
    let at = event.at.format("%Y-%m-%d %H:%M:%S").to_string();
    let kind = event.kind.name();
    html! {
        li.event.(kind) data-seq=(event.seq) {
            time datetime=(event.at.to_rfc3339()) { (at) }
            div.what { (body(&event.kind)) }
        }
    }
}

fn body(kind: &EventKind) -> Markup {
    match kind {
        EventKind::MessageReceived {
            channel,
            sender,
            text,
            ..
        } => html! {
            div.bubble.customer {
                div.meta { (channel_icon(*channel)) " " span.who { (sender.to_string()) } }
                p { (text) }
            }
        },
        EventKind::ReplySent {
            channel,
            text,
            asked,
            ..
        } => html! {
            div.bubble.agent {
                div.meta { (channel_icon(*channel)) " agent"
                    @if let Some(slot) = asked { " · asks for " code { (slot) } } }
                p { (text) }
            }
        },
        EventKind::HumanMessage {
            author,
            text,
            private,
        } => html! {
            div.bubble.human {
                div.meta { (author) @if *private { " · private note" } }
                p { (text) }
            }
        },
        EventKind::CommandsUnderstood {
            commands,
            source,
            sentiment,
            llm,
        } => html! {
            div.note.understood {
                span.label { "understood" }
                " by " code { (source) }
                @if let Some(s) = sentiment { " · sentiment " span.sentiment { (format!("{s:+.2}")) } }
                @if let Some(u) = llm {
                    " · LLM " (u.calls) " call(s), " (u.prompt_tokens + u.completion_tokens) " tokens"
                    @if let Some(why) = &u.fallback { " · fell back: " (why) }
                }
                ul.commands { @for c in commands { li { code { (command_line(c)) } } } }
            }
        },
        EventKind::CommandRejected { command, reason } => html! {
            div.note.rejected {
                span.label { "refused" } " " code { (command_text(command)) } " · " span.failed { (reason) }
            }
        },
        EventKind::FlowUpdated { stack, ran } => html! {
            div.note.flow {
                span.label { "flow" }
                @if stack.is_empty() { " no flow active" }
                @for frame in stack {
                    " " a href=(format!("/console/flows/{}", frame.flow_id)) { (frame.flow_id) }
                    " at " code { (frame.step) }
                    @let slots = slots_line(&frame.slots);
                    @if !slots.is_empty() { " · " span.slots { (slots) } }
                }
                @if !ran.is_empty() {
                    div.ran { "ran: " @for (i, s) in ran.iter().enumerate() {
                        @if i > 0 { " → " } code { (s.flow) "/" (s.step) } } }
                }
            }
        },
        EventKind::FlowEnded {
            flow_id, outcome, ..
        } => html! {
            div.note.flow { span.label { "flow ended" } " " (flow_id) " · " strong { (outcome) } }
        },
        EventKind::ActionExecuted { call, outcome } => html! {
            div.note.action {
                span.label { "action" } " " code { (call.name) "(" (call.args.to_string()) ")" }
                @match outcome {
                    Ok(result) => { " → " span.ok { "ok" } details { summary { "result" } pre { (serde_json::to_string_pretty(result).unwrap_or_default()) } } }
                    Err(e) => { " → " span.failed { "failed: " (e.to_string()) } }
                }
            }
        },
        EventKind::KnowledgeConsulted {
            query,
            answered,
            confidence,
            sources,
            abstain_reason,
            ..
        } => html! {
            div.note.knowledge {
                span.label { "knowledge" } " “" (query) "” · evidence " (format!("{confidence:.2}")) " · "
                @if *answered {
                    "answered citing "
                    @for (i, s) in sources.iter().enumerate() { @if i > 0 { ", " } cite { (s.title) } }
                } @else {
                    span.failed { "abstained" } @if let Some(why) = abstain_reason { " (" (why) ")" }
                }
            }
        },
        EventKind::SurveySent {
            question,
            channel,
            resolved_by,
            due,
            ..
        } => html! {
            div.note.survey { span.label { "survey" } " " (channel_icon(*channel)) " asks " strong { (question.as_str()) }
                " (resolved by " (resolved_by) ") · due " time datetime=(due.to_rfc3339()) { (due.format("%H:%M").to_string()) } }
        },
        EventKind::SurveyAnswered {
            question,
            score,
            comment,
            ..
        } => html! {
            div.note.survey { span.label { "survey" } " " (question.as_str()) " " strong.score { (score) "/5" }
                @if let Some(c) = comment { " · “" (c) "”" } }
        },
        EventKind::SurveyWithdrawn {
            question, reason, ..
        } => html! {
            div.note.survey { span.label { "survey" } " " (question.as_str()) " withdrawn · " (reason) }
        },
        EventKind::QualityScored { quality, occasion } => html! {
            div.note.quality {
                span.label { "quality" } " "
                strong { (quality.score.map_or("—".to_string(), |s| format!("{s:.2}"))) }
                " · " (occasion.replace('_', " "))
                @let missed: Vec<&str> = quality.missed().map(|m| m.criterion.as_str()).collect();
                @if !missed.is_empty() { " · missed: " (missed.join(", ").replace('_', " ")) }
            }
        },
        EventKind::TierChanged { from, to, reason } => html! {
            div.note.tier {
                span.label { "tier" } " "
                @if let Some(from) = from { (from) " → " }
                strong { (to) } " · " (reason)
            }
        },
        EventKind::LanguageChanged { from, to, reason } => html! {
            div.note.language {
                span.label { "language" } " "
                @if let Some(from) = from { (from) " → " }
                strong { (to) } " · " (reason)
            }
        },
        EventKind::HelpdeskUpdated {
            helpdesk,
            change,
            applied,
            ..
        } => html! {
            div.note.status {
                span.label { "helpdesk" } " " (helpdesk) ": " (change.replace('_', " "))
                @if !*applied { " · " span.failed { "changed nothing" } }
            }
        },
        EventKind::StatusChanged { from, to } => html! {
            div.note.status { span.label { "status" } " " (status_name(*from)) " → " strong { (status_name(*to)) } }
        },
        EventKind::Escalated { summary } => html! {
            div.escalation {
                h3 { "Handed to a person: " (summary.trigger.code()) }
                p { (summary.reason) }
                p { "The person received this note:" }
                pre.summary-note { (frontline_escalation::render_note(summary)) }
                details { summary { "structured summary (JSON)" }
                    pre { (serde_json::to_string_pretty(summary).unwrap_or_default()) } }
            }
        },
        EventKind::CustomersMerged {
            survivor,
            merged,
            reason,
        } => html! {
            div.note.merge { span.label { "customers merged" } " "
                a href=(format!("/console/customers/{merged}")) { (merged) } " into "
                a href=(format!("/console/customers/{survivor}")) { (survivor) } " · " (reason) }
        },
        EventKind::IdentityAssured {
            identity,
            assurance,
            how,
        } => html! {
            div.note.identity { span.label { "identity" } " " code { (identity.to_string()) }
                " · " strong { (assurance.as_str()) } " · " (how) }
        },
        EventKind::Verification {
            outcome,
            destination,
        } => html! {
            div.note.identity { span.label { "one-time code" } " " strong { (outcome) }
                @if let Some(to) = destination { " · to " (to) } }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_text_is_escaped_not_markup() {
        let event = Event {
            conversation_id: Default::default(),
            seq: 1,
            at: chrono::Utc::now(),
            kind: EventKind::MessageReceived {
                channel: Channel::Sms,
                channel_message_id: "m".into(),
                sender: frontline_domain::Identity {
                    kind: frontline_domain::IdentityKind::Phone,
                    value: "+15551234567".into(),
                },
                text: "<script>alert(1)</script>".into(),
                thread: Default::default(),
                language: None,
                prefers: None,
            },
        };
        let html = entry(&event).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains(r#"data-channel="sms""#), "{html}");
    }
}
