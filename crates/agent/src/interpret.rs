//! The interpret stage: what the message means, as commands the engine can take. Understanding
//! (local or LLM) proposes commands; the knowledge base is consulted when they ask for an
//! answer or nothing else was understood; memory finds the slots a flow started now already
//! has from earlier in the conversation; and the one command processor
//! ([`crate::commands::complete`]) completes them. Nothing is written here: the stage hands its
//! result, with the events to record, to the next.

use crate::commands::{self, Completed};
use crate::drafts::Drafts;
use crate::history::{offer_question, offered_flows, recent_utterances};
use crate::knowledge::{self, Consulted, Desk};
use crate::memory;
use chrono::NaiveDate;
use frontline_domain::{
    Command, Event, EventKind, FlowFrame, InboundMessage, LlmUsage, ScoredCommand,
};
use frontline_flows::FlowSet;
use frontline_understanding::{ActiveFlow, DialogueContext, Understanding};
use serde_json::Value;

/// What interpreting works with.
pub(crate) struct Interpreter<'a> {
    pub understanding: &'a dyn Understanding,
    /// The knowledge base, when the agent answers from one.
    pub desk: Option<Desk<'a>>,
    pub flows: &'a FlowSet,
    /// Where an answer the understanding writes itself is shown as it forms.
    pub drafts: &'a Drafts,
    /// How many recent utterances understanding sees.
    pub recent_utterances: usize,
    /// The language the conversation speaks, when it is not the default one.
    pub language: Option<&'a str>,
}

/// What the message means.
pub(crate) struct Interpreted {
    /// The commands: as understood (and recorded), and as the engine gets them.
    pub commands: Completed,
    /// The `CommandsUnderstood` event to record.
    pub understood: EventKind,
    /// The knowledge base's answer, if it gave one, and what consulting it recorded.
    pub knowledge: Option<(Option<String>, EventKind)>,
    /// Slot values carried over from earlier in the conversation.
    pub carried: Vec<(String, Value)>,
    /// What a flow started this turn opens on: the message, after the question that led to the
    /// offer it accepts, if it accepts one.
    pub opening: String,
}

impl Interpreter<'_> {
    /// Interpret `message`, with the conversation's `history` (before it) and flow `stack`.
    pub async fn interpret(
        &self,
        message: &InboundMessage,
        history: &[Event],
        stack: &[FlowFrame],
        today: NaiveDate,
    ) -> Interpreted {
        let context = DialogueContext {
            channel: message.channel,
            active_flow: stack.last().map(|f| ActiveFlow {
                flow_id: f.flow_id.clone(),
                requested_slot: f.requested_slot.clone(),
                slots: f.slots.clone(),
                offered: f.offered.clone(),
            }),
            recent: recent_utterances(history, self.recent_utterances),
            today,
            offered_flows: offered_flows(history),
            language: self.language.map(str::to_string),
        };
        // An answer the understanding writes itself is shown piece by piece while it does, on
        // a channel that shows replies as they form (the understanding knows the channel).
        let drafts = self.drafts;
        let mut on_answer = |piece: &str| drafts.publish(&message.sender, piece);
        let understood = self
            .understanding
            .interpret_streaming(&message.text, &context, &mut on_answer)
            .await;
        let (understood, mut source, llm, drafted) = match understood {
            Ok(understood) => (
                understood.commands,
                understood.source,
                understood.llm,
                understood.answer,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "understanding failed; treating the message as not understood");
                (
                    vec![ScoredCommand::new(
                        Command::CannotHandle {
                            reason: e.to_string(),
                        },
                        0.0,
                    )],
                    "fallback".into(),
                    None::<LlmUsage>,
                    None,
                )
            }
        };
        let sentiment = frontline_understanding::sentiment::score(&message.text).compound;
        let consulted: Option<Consulted> = match &self.desk {
            Some(desk) => knowledge::consult(desk, message, &understood, drafted).await,
            None => None,
        };
        if consulted.is_some() {
            source.push_str("+knowledge");
        }
        // Flows that remember a slot start with what the customer already said.
        let running: Vec<String> = stack.iter().map(|f| f.flow_id.clone()).collect();
        let carried = memory::carry_over(
            &understood,
            &running,
            self.flows,
            &memory::remembered(history),
        );
        let completed =
            commands::complete(understood, consulted.as_ref().map(|c| &c.verdict), &carried);
        let opening = match offer_question(history, &completed.understood) {
            Some(question) => format!("{question}\n{}", message.text),
            None => message.text.clone(),
        };
        Interpreted {
            understood: EventKind::CommandsUnderstood {
                commands: crate::verify::redacted(&completed.understood),
                source,
                sentiment: Some(sentiment),
                llm,
            },
            commands: completed,
            knowledge: consulted.map(|c| (c.answer, c.event)),
            carried,
            opening,
        }
    }
}
