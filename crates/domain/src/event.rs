//! The append-only event log: a conversation *is* its events; every other view is a projection.

use crate::{
    ActionCall, Channel, ConversationId, ConversationStatus, EscalationSummary, Identity, OutboxId,
    ScoredCommand, Timestamp,
};
use serde::{Deserialize, Serialize};

/// One step of one flow, as the engine ran it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StepRef {
    /// The flow's id.
    pub flow: String,
    /// The step's id within it.
    pub step: String,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A customer message arrived.
    MessageReceived {
        /// Channel it arrived on.
        channel: Channel,
        /// The provider's message id.
        channel_message_id: String,
        /// Who sent it.
        sender: Identity,
        /// What they wrote.
        text: String,
        /// What a reply needs to land in the same thread (email subject and references, …).
        #[serde(default, skip_serializing_if = "crate::ThreadRef::is_empty")]
        thread: crate::ThreadRef,
        /// The language it is written in (ISO 639-1), when it carries one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
        /// The language it asks to be served in ("can we speak English?"), when it asks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefers: Option<String>,
    },
    /// Understanding proposed these commands for the last message.
    CommandsUnderstood {
        /// The commands, with confidences.
        commands: Vec<ScoredCommand>,
        /// Which understanding produced them (`rules`, `local`, `llm:<model>`).
        source: String,
        /// The message's sentiment, -1 (furious) … 1 (delighted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sentiment: Option<f32>,
        /// What the LLM cost for this turn, when one was involved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        llm: Option<LlmUsage>,
    },
    /// The decision engine refused one of the understood commands (a slot value outside its
    /// type or choices, a confirmation with nothing to confirm, a slot no active flow has), and
    /// why. Refusals by the understanding itself (an LLM's unusable output) are recorded on
    /// [`EventKind::CommandsUnderstood`] as its fallback reason.
    CommandRejected {
        /// The command.
        command: crate::Command,
        /// Why it was refused.
        reason: String,
    },
    /// The flow stack changed (started, advanced, finished, cancelled), or flow steps ran. The
    /// latest one is the dialogue state; replaying the log replays the state.
    FlowUpdated {
        /// Active flows, innermost last; empty when no flow is active.
        stack: Vec<FlowFrame>,
        /// The flow steps the engine ran on this turn, in order (step coverage in evals and
        /// analytics).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ran: Vec<StepRef>,
    },
    /// A flow finished.
    FlowEnded {
        /// Its id.
        flow_id: String,
        /// resolved, abandoned, failed or escalated.
        outcome: String,
        /// The slot values it held when it ended (what the customer told it).
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        slots: serde_json::Map<String, serde_json::Value>,
    },
    /// A backend action ran.
    ActionExecuted {
        /// The call.
        call: ActionCall,
        /// Its result, or the error.
        outcome: Result<serde_json::Value, crate::ActionError>,
    },
    /// The agent replied.
    ReplySent {
        /// Channel it goes out on.
        channel: Channel,
        /// The reply text.
        text: String,
        /// The outbox entry carrying it.
        outbox_id: OutboxId,
        /// The slot the reply asks the customer for, if it asks for one (repeated asks of the
        /// same slot are an escalation trigger).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asked: Option<String>,
    },
    /// The conversation changed hands.
    StatusChanged {
        /// Before.
        from: ConversationStatus,
        /// After.
        to: ConversationStatus,
    },
    /// The knowledge base was searched for the customer's question.
    KnowledgeConsulted {
        /// The question searched for.
        query: String,
        /// True when an answer was given; false when the knowledge base abstained.
        answered: bool,
        /// The relevance gate's evidence (best passage similarity).
        confidence: f32,
        /// The articles cited to the customer (empty when it abstained).
        sources: Vec<crate::escalation::SummaryArticle>,
        /// Why it abstained, if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        abstain_reason: Option<String>,
        /// What writing the answer with an LLM cost (LLM mode only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        llm: Option<LlmUsage>,
    },
    /// The conversation was escalated with this context.
    Escalated {
        /// The summary sent to the human.
        summary: Box<EscalationSummary>,
    },
    /// Two customer records became one (a message vouched for identities of both); the merged
    /// customer's conversations now belong to the survivor.
    CustomersMerged {
        /// The record that remains.
        survivor: crate::CustomerId,
        /// The record merged into it.
        merged: crate::CustomerId,
        /// Why.
        reason: String,
    },
    /// How sure the agent is that an identity it holds for this conversation is the
    /// customer's own; recorded when an identity first appears in the conversation and each
    /// time its level changes (a one-time code proved it).
    IdentityAssured {
        /// The identity.
        identity: Identity,
        /// Its level now.
        assurance: crate::Assurance,
        /// How it was established (`whatsapp signature`, `one-time code sent to a***@example.com`, …).
        how: String,
    },
    /// A one-time code step: a code sent to the account's own email or phone, or an attempt
    /// at it. The code itself is never logged.
    Verification {
        /// What happened: `sent`, `passed`, `wrong`, `expired`, `locked`, `rate_limited`.
        outcome: String,
        /// Where a code went, masked (`a***@example.com`); none when nothing was sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// A survey question was queued for the customer (it goes out when due, unless the customer
    /// writes again or a person takes over first).
    SurveySent {
        /// Which question.
        question: crate::SurveyQuestion,
        /// The channel it goes out on.
        channel: Channel,
        /// The outbox entry carrying it.
        outbox_id: OutboxId,
        /// What resolved the conversation: `bot` or `person`.
        resolved_by: String,
        /// When it goes out.
        due: Timestamp,
    },
    /// A survey question not yet sent was given up: the customer wrote again, or a person took
    /// over, before it was due. The conversation may be surveyed at its next resolution.
    SurveyWithdrawn {
        /// Which question.
        question: crate::SurveyQuestion,
        /// The outbox entry that will not go out.
        outbox_id: OutboxId,
        /// Why.
        reason: String,
    },
    /// The customer answered a survey question.
    SurveyAnswered {
        /// Which question.
        question: crate::SurveyQuestion,
        /// 1–5 (a thumbs up counts 5, a thumbs down 1).
        score: u8,
        /// The channel the answer came on.
        channel: Channel,
        /// Words written with the score, if any (they feed the knowledge gap report).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A human agent wrote in the conversation (a reply to the customer, or a private note).
    HumanMessage {
        /// Who wrote it (the helpdesk's agent name or id).
        author: String,
        /// What they wrote.
        text: String,
        /// A private note, not sent to the customer.
        #[serde(default)]
        private: bool,
    },
    /// The conversation's tier changed (informational, transactional, complex, emotional).
    TierChanged {
        /// The tier before (`None` on the first reading).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// The tier now.
        to: String,
        /// Why, in words.
        reason: String,
    },
    /// The language the conversation speaks changed (the customer's recent messages, or a
    /// language they asked for).
    LanguageChanged {
        /// The language before (`None` on the first reading).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// The language now (ISO 639-1).
        to: String,
        /// Why, in words.
        reason: String,
    },
    /// The conversation's quality score, judged from its log by the rubric: when it resolved
    /// (by the bot, or by a person solving the ticket), and again when its survey was answered
    /// or its customer came back within a week (the latest one stands).
    QualityScored {
        /// The score and each criterion's verdict with its reason.
        quality: crate::QualityScore,
        /// What prompted it: `resolved`, `survey_answered` or `repeat_contact`.
        occasion: String,
    },
    /// A helpdesk told frontline about the ticket a handoff opened (a person replied, solved
    /// it, reopened it). Kept so a redelivery is applied once and an older status change
    /// arriving after a newer one is not applied at all.
    HelpdeskUpdated {
        /// The helpdesk (`zendesk`, `freshdesk`, `chatwoot`).
        helpdesk: String,
        /// The helpdesk's id of the event (or a digest of the delivery when it sends none).
        event_id: String,
        /// What changed: `person_wrote`, `solved` or `reopened`.
        change: String,
        /// When the helpdesk says it happened.
        at: Timestamp,
        /// False when it was recorded but changed nothing (the conversation was already in
        /// that state, or a newer status change had been applied).
        applied: bool,
    },
}

/// What a helpdesk reports about the ticket of a handed-off conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpdeskChange {
    /// A person wrote on the ticket: a reply for the customer, or a private note.
    PersonWrote {
        /// Their name.
        author: String,
        /// What they wrote.
        text: String,
        /// A private note rather than a reply.
        private: bool,
    },
    /// The ticket was solved: the conversation is resolved (and surveyed) and the bot answers
    /// the customer's next message.
    Solved,
    /// The ticket was reopened: a person has the conversation again.
    Reopened,
    /// The helpdesk gave the conversation back to the bot without solving it (Chatwoot's
    /// hand-back).
    ReturnedToBot,
}

impl HelpdeskChange {
    /// Its name in the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            HelpdeskChange::PersonWrote { .. } => "person_wrote",
            HelpdeskChange::Solved => "solved",
            HelpdeskChange::Reopened => "reopened",
            HelpdeskChange::ReturnedToBot => "returned_to_bot",
        }
    }

    /// Whether it changes who has the conversation (so an older one arriving late is stale).
    pub fn is_status(&self) -> bool {
        !matches!(self, HelpdeskChange::PersonWrote { .. })
    }
}

impl EventKind {
    /// The kind's name, as stored (`message_received`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::MessageReceived { .. } => "message_received",
            EventKind::CustomersMerged { .. } => "customers_merged",
            EventKind::CommandsUnderstood { .. } => "commands_understood",
            EventKind::CommandRejected { .. } => "command_rejected",
            EventKind::FlowUpdated { .. } => "flow_updated",
            EventKind::FlowEnded { .. } => "flow_ended",
            EventKind::ActionExecuted { .. } => "action_executed",
            EventKind::ReplySent { .. } => "reply_sent",
            EventKind::StatusChanged { .. } => "status_changed",
            EventKind::KnowledgeConsulted { .. } => "knowledge_consulted",
            EventKind::Escalated { .. } => "escalated",
            EventKind::HumanMessage { .. } => "human_message",
            EventKind::IdentityAssured { .. } => "identity_assured",
            EventKind::Verification { .. } => "verification",
            EventKind::SurveySent { .. } => "survey_sent",
            EventKind::SurveyAnswered { .. } => "survey_answered",
            EventKind::SurveyWithdrawn { .. } => "survey_withdrawn",
            EventKind::HelpdeskUpdated { .. } => "helpdesk_updated",
            EventKind::TierChanged { .. } => "tier_changed",
            EventKind::LanguageChanged { .. } => "language_changed",
            EventKind::QualityScored { .. } => "quality_scored",
        }
    }
}

/// One active flow: where it is and what it has collected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowFrame {
    /// Flow id.
    pub flow_id: String,
    /// The step reached.
    pub step: String,
    /// The slot the flow is waiting for, if any.
    pub requested_slot: Option<String>,
    /// Slot values collected so far.
    pub slots: serde_json::Map<String, serde_json::Value>,
    /// Action results kept by name (and what called flows collected, by flow id).
    #[serde(default)]
    pub results: serde_json::Map<String, serde_json::Value>,
    /// The customer said yes to the last confirmation and nothing changed since.
    #[serde(default)]
    pub confirmed: bool,
    /// A write action of this flow has run (slot corrections are too late then).
    #[serde(default)]
    pub wrote: bool,
    /// Unique per run of the flow; part of its write actions' idempotency keys.
    #[serde(default)]
    pub instance: String,
    /// Another flow was started on top of this one mid-way; resume it with a reminder.
    #[serde(default)]
    pub interrupted: bool,
    /// Asked for in the same message as the flow above it, which goes first: this one begins
    /// when that ends (introduced as the customer's other request, not as a reminder).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
    /// Attempts of the action at `step` so far (for retries).
    #[serde(default)]
    pub attempts: u8,
    /// Slots holding a value given before it could be checked (a list whose choices come from
    /// data not fetched yet); checked when the flow reaches their `collect`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unvalidated: Vec<String>,
    /// The step of the first look-up (read action) this flow ran. A flow resuming after a
    /// digression runs again from here, so its policy is checked on what the backend says now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_lookup: Option<String>,
    /// What the flow offered for the slot it is asking (the customer's own orders that fit,
    /// their subscriptions, …), in the order shown; the customer may answer by pointing at one
    /// ("the one with the kettle", "the second one", "yes").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<Offer>,
    /// The message the flow was started on: what it already named ("return the lamp") picks
    /// among the flow's candidates and choices when they are reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<String>,
    /// Slots whose offer the customer turned down ("no, a different one"): asked with their
    /// prompt from then on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declined: Vec<String>,
    /// The question last put for `requested_slot`, as written before any rephrasing: the same
    /// question is not asked twice in the same words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
}

/// One candidate a flow offers for a slot, from the customer's own data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The slot value it stands for (`#W0000002`).
    pub value: serde_json::Value,
    /// How it is shown (`#W0000002: Desk Lamp, delivered, placed 6 Nov`).
    pub label: String,
    /// Its date (`YYYY-MM-DD`), for "my last order" and "the November one".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Its size (a total, a count), for "the big one".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
}

/// One entry of a conversation's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// 1-based position in the conversation's log; gap-free.
    pub seq: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What the LLM did and cost for one turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmUsage {
    /// Calls made (0 when the turn was understood without one, e.g. a yes at a confirmation).
    pub calls: u32,
    /// Prompt tokens over those calls.
    pub prompt_tokens: u32,
    /// Completion tokens over those calls.
    pub completion_tokens: u32,
    /// US dollars, by the configured prices.
    pub cost_usd: f64,
    /// Whether token counts are estimates (the server reported none).
    #[serde(default)]
    pub estimated: bool,
    /// Why the LLM's output was not used, when it was not (the turn fell back to local
    /// understanding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The endpoint could not be reached or did not answer in time (escalation counts these).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unavailable: bool,
}
