//! Commands: what understanding (local or LLM) may propose. Only the decision engine acts on
//! them, after validation; no command calls a backend action directly.

use serde::{Deserialize, Serialize};

/// Built-in conversational intents that need no flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallTalk {
    /// "hi", "hello there".
    Greeting,
    /// "thanks!", "cheers".
    Thanks,
    /// "bye", "that's all".
    Goodbye,
}

/// One thing the customer's message asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Start (or switch to) the flow with this id.
    StartFlow {
        /// The flow's id, e.g. `order_status`.
        flow_id: String,
        /// The words of the message that ask for this flow, when the message asks for more
        /// than one thing ("a refund for the chair" of "a refund for the chair, and where is
        /// my backpack?"): what the flow reads for the order or items it names. `None`: the
        /// whole message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
    },
    /// Fill or correct a slot of the active (or just started) flow.
    SetSlot {
        /// The slot's name.
        name: String,
        /// Its value, typed by the slot's type.
        value: serde_json::Value,
    },
    /// Stop the active flow.
    CancelFlow,
    /// Answer an informational question from the knowledge base.
    AnswerFromKnowledge {
        /// The question to search for.
        query: String,
    },
    /// Ask the customer to choose between these flows/answers.
    Clarify {
        /// Flow ids (or knowledge topics) that were too close to call.
        options: Vec<String>,
    },
    /// Small talk that needs a polite answer and nothing else.
    ChitChat {
        /// Which kind.
        topic: SmallTalk,
    },
    /// The customer asked for a human.
    HumanHandoff {
        /// Why, in the understanding's words.
        reason: String,
    },
    /// Nothing here the agent can handle.
    CannotHandle {
        /// Why (out of scope, low confidence, …).
        reason: String,
    },
}

impl Command {
    /// Start the flow `flow_id`, on the whole message.
    pub fn start_flow(flow_id: impl Into<String>) -> Self {
        Command::StartFlow {
            flow_id: flow_id.into(),
            part: None,
        }
    }

    /// The command's type name, as in JSON (`start_flow`, `set_slot`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Command::StartFlow { .. } => "start_flow",
            Command::SetSlot { .. } => "set_slot",
            Command::CancelFlow => "cancel_flow",
            Command::AnswerFromKnowledge { .. } => "answer_from_knowledge",
            Command::Clarify { .. } => "clarify",
            Command::ChitChat { .. } => "chit_chat",
            Command::HumanHandoff { .. } => "human_handoff",
            Command::CannotHandle { .. } => "cannot_handle",
        }
    }
}

/// A command with the understanding's confidence in it (0.0–1.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredCommand {
    /// The command.
    #[serde(flatten)]
    pub command: Command,
    /// How sure the understanding is, 0.0–1.0.
    pub confidence: f32,
}

impl ScoredCommand {
    /// Pair a command with a confidence, clamped into 0.0–1.0.
    pub fn new(command: Command, confidence: f32) -> Self {
        Self {
            command,
            confidence: confidence.clamp(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_have_a_tagged_json_form() {
        let c = ScoredCommand::new(
            Command::SetSlot {
                name: "order_id".into(),
                value: "#W1000001".into(),
            },
            1.7,
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "set_slot", "name": "order_id", "value": "#W1000001", "confidence": 1.0})
        );
        let back: ScoredCommand = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.command.kind(), "set_slot");
    }
}
