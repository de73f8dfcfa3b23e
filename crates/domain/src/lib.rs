//! frontline's vocabulary: the data every other crate speaks.
//!
//! Pure data and validation, no IO: stores, channels and the engine all depend on this crate and
//! it depends on none of them.

pub mod action;
pub mod assurance;
pub mod channel;
pub mod command;
pub mod conversation;
pub mod customer;
pub mod escalation;
pub mod event;
pub mod identity;
pub mod ids;
pub mod message;
pub mod quality;
pub mod survey;
pub mod wire;

pub use action::{
    ActionBackend, ActionCall, ActionError, ActionKind, ActionSpec, IdentityDirectory,
};
pub use assurance::Assurance;
pub use channel::Channel;
pub use command::{Command, ScoredCommand, SmallTalk};
pub use conversation::{Conversation, ConversationStatus};
pub use customer::{Customer, IdentityRecord};
pub use escalation::{
    EscalationOverride, EscalationSummary, EscalationTrigger, Priority, RoutingHint,
};
pub use event::{Event, EventKind, FlowFrame, HelpdeskChange, LlmUsage, Offer, StepRef};
pub use identity::{Identity, IdentityError, IdentityKind, NormalizeOptions};
pub use ids::{ConversationId, CustomerId, OutboxId};
pub use message::{InboundMessage, OutboundMessage, ThreadRef};
pub use quality::{QualityItem, QualityScore, Verdict};
pub use survey::{Choice, SurveyQuestion};
pub use wire::UnknownName;

/// Timestamps everywhere are UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
