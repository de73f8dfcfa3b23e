//! What a turn reads of a conversation's log: the dialogue state (the flow stack), the recent
//! utterances understanding sees, and the flows the last reply offered.

use frontline_domain::{Event, EventKind, FlowFrame, OutboundMessage, ScoredCommand};
use frontline_understanding::{Speaker, Utterance};

/// The dialogue state is the latest flow snapshot in the log.
pub(crate) fn flow_stack(events: &[Event]) -> Vec<FlowFrame> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::FlowUpdated { stack, .. } => Some(stack.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

pub(crate) fn recent_utterances(events: &[Event], limit: usize) -> Vec<Utterance> {
    let mut lines: Vec<Utterance> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageReceived { text, .. } => Some(Utterance {
                speaker: Speaker::Customer,
                text: text.clone(),
            }),
            EventKind::ReplySent { text, .. } => Some(Utterance {
                speaker: Speaker::Agent,
                text: text.clone(),
            }),
            _ => None,
        })
        .collect();
    let skip = lines.len().saturating_sub(limit);
    lines.drain(..skip);
    lines
}

/// The message that led to the last reply's offer of a flow ("can I return something I've
/// used?" before "Would you like me to help you return items?"), when this turn starts that
/// flow: what it named is the new flow's opening as much as the "yes" is.
pub(crate) fn offer_question(events: &[Event], commands: &[ScoredCommand]) -> Option<String> {
    let offered = offered_flows(events);
    let accepted = commands.iter().any(|c| {
        matches!(&c.command, frontline_domain::Command::StartFlow { flow_id, .. } if offered.contains(flow_id))
    });
    if !accepted {
        return None;
    }
    let understood = events
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::CommandsUnderstood { .. }))?;
    events[..understood]
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::MessageReceived { text, .. } => Some(text.clone()),
            _ => None,
        })
}

/// The flows the last turn offered or asked to choose between (its understanding clarified):
/// a yes to a single one starts it.
pub(crate) fn offered_flows(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::CommandsUnderstood { commands, .. } => Some(
                commands
                    .iter()
                    .find_map(|c| match &c.command {
                        frontline_domain::Command::Clarify { options } => Some(options.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// A person's reply `text` to the customer, on the channel they last wrote from, in reply to
/// that message; `None` when they never wrote, or when that channel is a helpdesk that
/// delivers its people's replies itself.
pub(crate) fn reply_to_last_message(events: &[Event], text: &str) -> Option<OutboundMessage> {
    let (conversation_id, channel, in_reply_to, recipient, thread) =
        events.iter().rev().find_map(|e| match &e.kind {
            EventKind::MessageReceived {
                channel,
                channel_message_id,
                sender,
                thread,
                ..
            } => Some((
                e.conversation_id,
                *channel,
                channel_message_id,
                sender,
                thread,
            )),
            _ => None,
        })?;
    if channel.delivers_human_replies() {
        return None;
    }
    Some(OutboundMessage {
        conversation_id,
        channel,
        recipient: recipient.clone(),
        text: text.to_string(),
        in_reply_to: Some(in_reply_to.clone()),
        thread: thread.clone(),
        choices: vec![],
        survey: None,
    })
}
