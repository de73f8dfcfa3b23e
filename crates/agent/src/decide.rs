//! The decide stage: hand the completed commands to the flow engine, run the actions it asks
//! for through an [`ActionRunner`], and turn its effects into a [`Decision`]: what to say, the
//! flow stack after, and whether a flow hands off. The engine decides; this stage only carries
//! out and words.

use crate::actions::ActionRunner;
use crate::pending::Pending;
use chrono::NaiveDate;
use frontline_domain::{
    Channel, Command, ConversationId, Customer, EscalationTrigger, EventKind, FlowFrame,
    IdentityKind, ScoredCommand, SmallTalk, StepRef,
};
use frontline_flows::wording::Wording;
use frontline_flows::{Effect, Engine, Env, Input};
use serde_json::{json, Value};

/// A decision to hand the conversation to a human.
pub(crate) struct Handoff {
    pub trigger: EscalationTrigger,
    pub reason: String,
    /// The queue a flow's `escalate` step named.
    pub queue: Option<String>,
    /// The innermost flow as it stood when handed over.
    pub flow: Option<FlowFrame>,
}

impl Handoff {
    /// The handoff an engine's `Effect::Escalate` asks for.
    pub(crate) fn escalated(
        trigger: EscalationTrigger,
        reason: String,
        queue: Option<String>,
        flow: Option<Box<FlowFrame>>,
    ) -> Handoff {
        Handoff {
            trigger,
            reason,
            queue,
            flow: flow.map(|f| *f),
        }
    }
}

/// What the decision step wants done.
pub(crate) struct Decision {
    /// What to say, in order; joined into one reply, since SMS and email want one message.
    pub texts: Vec<String>,
    pub stack: Vec<FlowFrame>,
    pub handoff: Option<Handoff>,
    /// The slot the reply asks for, and the question.
    pub asked: Option<(String, String)>,
    /// Flows started on this turn, in order.
    pub started: Vec<String>,
    /// The flow steps the engine ran, in order.
    pub ran: Vec<frontline_domain::StepRef>,
}

impl Decision {
    /// Nothing decided: the flows stand as they were, nothing said yet.
    pub(crate) fn unchanged(stack: Vec<FlowFrame>) -> Self {
        Decision {
            texts: vec![],
            stack,
            handoff: None,
            asked: None,
            started: vec![],
            ran: vec![],
        }
    }
}

/// What flows may know of the customer: the handles they are proven to write from (a claimed
/// handle is not one: it may be anybody's), and the accounts proven theirs.
fn customer_facts(customer: &Customer) -> Value {
    let proven = || customer.identities.iter().filter(|r| r.verified);
    let first = |kinds: &[IdentityKind]| {
        proven()
            .find(|r| {
                kinds.contains(&r.identity.kind)
                    && (r.identity.kind != IdentityKind::Whatsapp
                        || r.identity.phone_number().is_some())
            })
            .map(|r| r.identity.value.clone())
    };
    let accounts: Vec<&str> = proven()
        .filter(|r| r.identity.kind == IdentityKind::AccountId)
        .map(|r| r.identity.value.as_str())
        .collect();
    json!({
        "email": first(&[IdentityKind::Email]),
        "phone": first(&[IdentityKind::Phone, IdentityKind::Whatsapp]),
        "verified": proven().next().is_some(),
        "verified_accounts": accounts,
        "name": customer.display_name,
    })
}

fn small_talk(topic: SmallTalk, customer: &Customer, wording: &Wording) -> String {
    match topic {
        SmallTalk::Greeting => match customer.display_name.as_deref() {
            Some(name) => wording.say("greeting_named", &[("name", name)]),
            None => wording.say("greeting", &[]),
        },
        SmallTalk::Thanks => wording.say("thanks", &[]),
        SmallTalk::Goodbye => wording.say("goodbye", &[]),
    }
}

/// The turn's context for the engine.
pub(crate) struct TurnContext<'a> {
    pub conversation_id: ConversationId,
    /// Where the turn's writes gather.
    pub pending: &'a Pending,
    pub channel: Channel,
    pub channel_message_id: &'a str,
    /// What a flow started this turn opens on: the message, after the question that led to
    /// the offer it accepts, if it accepts one.
    pub opening: &'a str,
    pub customer: &'a Customer,
    /// Today, for dates in flows.
    pub today: NaiveDate,
}

/// Advance the engine on `commands` from `stack`, running the actions it calls with `actions`,
/// until it waits for the customer; `knowledge_answer` is said where the engine leaves an answer
/// from knowledge to the agent.
pub(crate) async fn decide(
    engine: &Engine,
    actions: &impl ActionRunner,
    turn: TurnContext<'_>,
    mut stack: Vec<FlowFrame>,
    commands: &[ScoredCommand],
    knowledge_answer: Option<String>,
) -> Decision {
    let mut knowledge_answer = knowledge_answer;
    let env = Env {
        today: turn.today,
        channel: turn.channel,
        customer: customer_facts(turn.customer),
        // Stable across reprocessing of the same message, so write keys repeat and dedupe.
        turn_id: format!(
            "{}:{}:{}",
            turn.conversation_id, turn.channel, turn.channel_message_id
        ),
        message: turn.opening.to_string(),
    };
    // The stack before the engine's last advance: where an ended flow's slots are read from.
    let mut before = stack.clone();
    let (mut effects, mut ran) =
        engine.advance_traced(&mut stack, Input::Commands(commands.to_vec()), &env);
    let (mut texts, mut greetings, mut handoff, mut asked) = (Vec::new(), Vec::new(), None, None);
    let mut started = Vec::new();
    loop {
        let mut call = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Say(text) => texts.push(text),
                Effect::Ask { slot, text } => {
                    texts.push(text.clone());
                    asked = Some((slot, text));
                }
                Effect::CallAction { call: c, .. } => call = Some(c),
                Effect::Escalate {
                    trigger,
                    reason,
                    queue,
                    flow,
                } => handoff = Some(Handoff::escalated(trigger, reason, queue, flow)),
                Effect::Unhandled(Command::ChitChat { topic }) => {
                    greetings.push(small_talk(topic, turn.customer, engine.flows().wording()))
                }
                // The answer leads; a flow's pending question (re-asked by the engine) follows.
                Effect::Unhandled(Command::AnswerFromKnowledge { .. }) => {
                    greetings.extend(knowledge_answer.take())
                }
                // Nothing else to say is handled below: "not understood".
                Effect::Unhandled(_) => {}
                Effect::FlowEnded { flow_id, outcome } => {
                    let slots = ended_slots(&before, &stack, &flow_id);
                    record_flow_ended(turn.pending, flow_id, outcome, slots)
                }
                Effect::FlowStarted { flow_id } => {
                    tracing::info!(%flow_id, "flow started");
                    started.push(flow_id);
                }
                Effect::Rejected { command, reason } => {
                    tracing::info!(command = command.kind(), %reason, "command rejected");
                    turn.pending.log(EventKind::CommandRejected {
                        command: crate::verify::redacted_command(&command),
                        reason,
                    });
                }
            }
        }
        let Some(call) = call else { break };
        let outcome = actions.run(call, turn.pending).await;
        before = stack.clone();
        let (more, steps) = engine.advance_traced(&mut stack, Input::ActionOutcome(outcome), &env);
        effects = more;
        ran.extend(steps);
    }
    greetings.append(&mut texts);
    Decision {
        texts: greetings,
        stack,
        handoff,
        asked,
        started,
        ran: ran
            .into_iter()
            .map(|(flow, step)| StepRef { flow, step })
            .collect(),
    }
}

/// The slots of a flow that ended during an advance: its frame as it stood before, unless it is
/// still on the stack (then it ended a frame started within the advance, which held nothing the
/// stack does not).
pub(crate) fn ended_slots(
    before: &[FlowFrame],
    after: &[FlowFrame],
    flow_id: &str,
) -> serde_json::Map<String, Value> {
    before
        .iter()
        .rev()
        .find(|f| f.flow_id == flow_id && !after.iter().any(|a| a.instance == f.instance))
        .map(|f| {
            f.slots
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Log a flow's end, with the slot values it held.
pub(crate) fn record_flow_ended(
    pending: &Pending,
    flow_id: String,
    outcome: frontline_flows::Outcome,
    slots: serde_json::Map<String, Value>,
) {
    let outcome = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    tracing::info!(%flow_id, %outcome, "flow ended");
    pending.log(EventKind::FlowEnded {
        flow_id,
        outcome,
        slots,
    });
}
