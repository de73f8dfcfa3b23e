//! Backend actions: the only way the agent changes anything in the business's systems.
//!
//! A backend (the demo shop, or a real connector) publishes a catalog of named actions with
//! typed arguments; the decision engine calls them. Write actions carry an idempotency key so a
//! retried turn never refunds twice.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whether an action only reads or also changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Safe to repeat; needs no confirmation.
    Read,
    /// Changes state; flows must confirm before it and pass an idempotency key.
    Write,
}

/// One entry of a backend's catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// Its name, as flows refer to it (`cancel_order`).
    pub name: String,
    /// Read or write.
    pub kind: ActionKind,
    /// One line for flow authors.
    pub description: String,
    /// The argument names it requires.
    pub required_args: Vec<String>,
    /// It changes a customer's account or discloses its data (orders, addresses, payment
    /// hints, subscriptions): a flow must prove the account is the customer's own (a `verify`
    /// step) on every path before it.
    #[serde(default)]
    pub owner_only: bool,
}

/// A request to run one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionCall {
    /// The action's name.
    pub name: String,
    /// Its arguments, a JSON object.
    pub args: serde_json::Value,
    /// Required for write actions: the same key twice runs the action once.
    pub idempotency_key: Option<String>,
}

impl ActionCall {
    /// Whether it writes (a write carries an idempotency key).
    pub fn writes(&self) -> bool {
        self.idempotency_key.is_some()
    }

    /// Whether `value` is one of its arguments' strings, however deep (the order a cancellation
    /// acted on, say).
    pub fn acts_on(&self, value: &str) -> bool {
        fn holds(v: &serde_json::Value, value: &str) -> bool {
            match v {
                serde_json::Value::String(s) => s == value,
                serde_json::Value::Array(items) => items.iter().any(|v| holds(v, value)),
                serde_json::Value::Object(fields) => fields.values().any(|v| holds(v, value)),
                _ => false,
            }
        }
        holds(&self.args, value)
    }
}

/// Why an action did not produce a result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ActionError {
    /// No action by that name.
    #[error("unknown action `{name}`")]
    UnknownAction {
        /// The name asked for.
        name: String,
    },
    /// Arguments missing or of the wrong type.
    #[error("invalid arguments for `{action}`: {reason}")]
    InvalidArguments {
        /// The action.
        action: String,
        /// What is wrong, naming the argument.
        reason: String,
    },
    /// A write action called without an idempotency key.
    #[error("write action `{action}` needs an idempotency key")]
    MissingIdempotencyKey {
        /// The action.
        action: String,
    },
    /// The thing referred to does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `order #W1234567`.
        what: String,
    },
    /// The backend refused on business grounds (the reason can be told to the customer).
    #[error("refused: {reason}")]
    Refused {
        /// Why, e.g. `order #W1234567 is delivered; only pending orders can be cancelled`.
        reason: String,
    },
    /// The backend is unavailable or failed; the turn should escalate or apologise.
    #[error("backend failure: {message}")]
    Backend {
        /// What failed (never shown to the customer verbatim).
        message: String,
    },
}

/// A business backend the agent can act on.
#[async_trait]
pub trait ActionBackend: Send + Sync {
    /// Every action this backend offers.
    fn catalog(&self) -> Vec<ActionSpec>;

    /// Run one action. Write actions are idempotent on `call.idempotency_key`: a repeat returns
    /// the first result without acting again.
    async fn execute(&self, call: &ActionCall) -> Result<serde_json::Value, ActionError>;
}

/// The business system's customer directory: which handles it knows belong together (the
/// account behind an email address or a phone number, and that account's other handles). The
/// agent asks it before resolving a message's sender, so a customer who chatted by email this
/// morning and texts from the phone number on their account now is one customer, in one
/// conversation.
#[async_trait]
pub trait IdentityDirectory: Send + Sync {
    /// The identities linked to `identity` (the account id first), or none if it is unknown.
    async fn linked(&self, identity: &crate::Identity)
        -> Result<Vec<crate::Identity>, ActionError>;
}
