//! Escalation: when to hand a conversation to a human, where to, what the customer hears, and
//! the context the human receives.
//!
//! Everything here is pure and works on the conversation's event log, so the same decision is
//! reached live, in a replay and in an eval:
//! - [`policy`]: the triggers (sentiment, low confidence, repeated failure, VIP policy, agent
//!   errors), each with a reason code, configurable service-wide and per flow;
//! - [`trajectory`]: the customer's sentiment over the conversation;
//! - [`routing`]: rules mapping VIP, trigger, flow, tier, language and channel to a queue, team,
//!   assignee and priority;
//! - [`notice`]: what the customer is told (who takes over, on which channel, and when, from
//!   business hours and per-channel response times);
//! - [`summary`]: the structured summary built from the log, its completeness (every field
//!   backed by evidence), its JSON Schema check, and the readable markdown note.

pub mod notice;
pub mod policy;
pub mod routing;
pub mod summary;
pub mod tier;
pub mod trajectory;

pub use notice::{BusinessHours, HandoffNotice, ResponseTimes};
pub use policy::{
    prior_flows, Escalation, EscalationPolicy, Gauge, PriorFlow, StartedFlow, TurnFacts,
};
pub use routing::{RouteFacts, RouteWhen, Routing, RoutingRule};
pub use summary::{
    build_summary, completeness, render_note, validate_summary, validate_summary_json,
    Completeness, SummaryError, SummaryInput,
};
pub use tier::{recorded_tier, TierReading, TierRules};
pub use trajectory::Trajectory;
