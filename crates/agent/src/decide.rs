//! The decision step, in its first honest form: small talk, handoff on request, and the order
//! status flow (ask for the order id, look the order up, check it belongs to the customer, tell
//! its status). The YAML flow engine replaces this module; the pipeline around it stays.

use crate::{Agent, AgentError, Decision};
use frontline_domain::{
    ActionCall, ActionError, Channel, Command, ConversationId, Customer, EscalationTrigger,
    EventKind, FlowFrame, Identity, IdentityKind, NormalizeOptions, ScoredCommand, SmallTalk,
};
use serde_json::Value;

const ORDER_STATUS: &str = "order_status";
const ORDER_ID: &str = "order_id";
const ASK_ORDER_ID: &str =
    "Which order should I check? Please send its order number (it looks like #W1234567).";
const NOT_UNDERSTOOD: &str = "Sorry, I'm not sure I understood. I can check on an order (just send its number, like #W1234567), or connect you with a colleague.";

/// How a channel is named to the customer.
pub(crate) fn channel_phrase(channel: Channel) -> &'static str {
    match channel {
        Channel::Rest | Channel::WebChat | Channel::Chatwoot => "right here in this chat",
        Channel::Email => "by email, in this thread",
        Channel::Sms => "by text message",
        Channel::Whatsapp => "here on WhatsApp",
    }
}

pub(crate) async fn decide(
    agent: &Agent,
    conversation_id: ConversationId,
    channel: Channel,
    customer: &Customer,
    mut stack: Vec<FlowFrame>,
    commands: &[ScoredCommand],
) -> Result<Decision, AgentError> {
    if let Some(reason) = commands.iter().find_map(|c| match &c.command {
        Command::HumanHandoff { reason } => Some(reason.clone()),
        _ => None,
    }) {
        return Ok(Decision {
            texts: vec![format!(
                "I'm handing this over to a colleague now. They'll reply {}, and they'll see everything we've discussed, so you won't need to repeat yourself.",
                channel_phrase(channel)
            )],
            stack,
            handoff: Some((EscalationTrigger::ExplicitRequest, reason)),
        });
    }

    let mut texts = Vec::new();
    for scored in commands {
        match &scored.command {
            Command::StartFlow { flow_id } if flow_id == ORDER_STATUS => {
                if stack.last().is_none_or(|f| f.flow_id != ORDER_STATUS) {
                    stack.push(FlowFrame {
                        flow_id: ORDER_STATUS.into(),
                        step: "collect_order_id".into(),
                        requested_slot: Some(ORDER_ID.into()),
                        ..Default::default()
                    });
                }
            }
            Command::SetSlot { name, value } if name == ORDER_ID => {
                match stack.last_mut() {
                    Some(top) if top.flow_id == ORDER_STATUS => {
                        top.slots.insert(ORDER_ID.into(), value.clone());
                    }
                    // A slot for no active flow: nothing to fill (validation drops it).
                    _ => tracing::debug!("order_id given with no order flow active; ignored"),
                }
            }
            Command::ChitChat { topic } => texts.push(small_talk(*topic, customer).to_string()),
            Command::CannotHandle { .. }
            | Command::Clarify { .. }
            | Command::AnswerFromKnowledge { .. } => {
                if stack.is_empty() {
                    texts.push(NOT_UNDERSTOOD.into());
                }
            }
            Command::CancelFlow => {
                if stack.pop().is_some() {
                    texts.push(
                        "No problem, I've stopped that. Anything else I can help with?".into(),
                    );
                }
            }
            other => tracing::debug!(
                command = other.kind(),
                "command not handled before the flow engine exists"
            ),
        }
    }

    if stack.last().is_some_and(|f| f.flow_id == ORDER_STATUS) {
        let frame = stack.pop().expect("checked");
        match frame.slots.get(ORDER_ID).and_then(Value::as_str) {
            Some(order_id) => {
                let (text, keep, failure) =
                    look_up_order(agent, conversation_id, customer, order_id).await?;
                texts.push(text);
                if keep {
                    stack.push(FlowFrame {
                        slots: Default::default(),
                        ..frame
                    });
                }
                if let Some(reason) = failure {
                    return Ok(Decision {
                        texts,
                        stack,
                        handoff: Some((EscalationTrigger::AgentError, reason)),
                    });
                }
            }
            None => {
                texts.push(ASK_ORDER_ID.into());
                stack.push(frame);
            }
        }
    }
    if texts.is_empty() {
        texts.push(NOT_UNDERSTOOD.into());
    }
    Ok(Decision {
        texts,
        stack,
        handoff: None,
    })
}

fn small_talk(topic: SmallTalk, customer: &Customer) -> String {
    match topic {
        SmallTalk::Greeting => match customer.display_name.as_deref() {
            Some(name) => format!("Hi {name}! I can check on your orders, and a colleague is always one message away. How can I help?"),
            None => "Hi! I can check on your orders, and a colleague is always one message away. How can I help?".into(),
        },
        SmallTalk::Thanks => "You're welcome! Is there anything else I can help with?".into(),
        SmallTalk::Goodbye => "Thanks for getting in touch. Have a great day!".into(),
    }
}

/// Run an action and record it in the log.
async fn act(
    agent: &Agent,
    conversation_id: ConversationId,
    name: &str,
    args: Value,
) -> Result<Result<Value, ActionError>, AgentError> {
    let call = ActionCall {
        name: name.into(),
        args,
        idempotency_key: None,
    };
    let outcome = agent.actions().execute(&call).await;
    agent
        .append(
            conversation_id,
            EventKind::ActionExecuted {
                call,
                outcome: outcome.clone(),
            },
        )
        .await?;
    Ok(outcome)
}

/// (reply, keep asking for an order id, failure that needs a human)
async fn look_up_order(
    agent: &Agent,
    conversation_id: ConversationId,
    customer: &Customer,
    order_id: &str,
) -> Result<(String, bool, Option<String>), AgentError> {
    let order = match act(
        agent,
        conversation_id,
        "get_order_details",
        serde_json::json!({ "order_id": order_id }),
    )
    .await?
    {
        Ok(order) => order,
        Err(ActionError::NotFound { .. }) => {
            return Ok((format!("I couldn't find an order {order_id}. Could you check the number? It looks like #W1234567."), true, None));
        }
        Err(e) => {
            return Ok((
                backend_apology(),
                false,
                Some(format!("looking up order {order_id} failed: {e}")),
            ))
        }
    };
    let owner = order["user_id"].as_str().unwrap_or_default().to_string();
    let user = match act(
        agent,
        conversation_id,
        "get_user_details",
        serde_json::json!({ "user_id": owner }),
    )
    .await?
    {
        Ok(user) => user,
        Err(e) => {
            return Ok((
                backend_apology(),
                false,
                Some(format!(
                    "looking up the owner of order {order_id} failed: {e}"
                )),
            ))
        }
    };
    if !belongs_to(customer, &owner, &user) {
        // Never disclose another person's order, nor confirm that it exists.
        return Ok((
            format!("I can't find {order_id} among the orders linked to the contact details you're writing from, so I can't share its status. Could you check the number, or write from the email or phone number you ordered with?"),
            true,
            None,
        ));
    }
    Ok((describe_order(&order), false, None))
}

fn backend_apology() -> String {
    "Sorry, I can't reach our order system right now. I'm passing this to a colleague who will follow up with you.".into()
}

/// Whether the shop user is this customer: an identity of theirs matches the account id, the
/// account's email or its phone.
fn belongs_to(customer: &Customer, user_id: &str, user: &Value) -> bool {
    let opts = NormalizeOptions::default();
    let mut handles = vec![Identity {
        kind: IdentityKind::AccountId,
        value: user_id.to_string(),
    }];
    if let Some(email) = user["email"]
        .as_str()
        .and_then(|e| Identity::parse(IdentityKind::Email, e, &opts).ok())
    {
        handles.push(email);
    }
    if let Some(phone) = user["phone"]
        .as_str()
        .and_then(|p| Identity::parse(IdentityKind::Phone, p, &opts).ok())
    {
        handles.push(Identity {
            kind: IdentityKind::Whatsapp,
            value: phone.value.clone(),
        });
        handles.push(phone);
    }
    customer
        .identities
        .iter()
        .any(|r| handles.contains(&r.identity))
}

fn describe_order(order: &Value) -> String {
    let id = order["order_id"].as_str().unwrap_or("your order");
    let items: Vec<&str> = order["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    let items = if items.is_empty() {
        String::new()
    } else {
        format!(" Items: {}.", items.join(", "))
    };
    let tracking: Vec<&str> = order["fulfillments"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["tracking_id"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        })
        .unwrap_or_default();
    let placed = order["placed_on"]
        .as_str()
        .map(|d| format!(" (placed on {d})"))
        .unwrap_or_default();
    let status = match order["status"].as_str().unwrap_or("unknown") {
        "pending" | "pending (item modified)" => format!("Order {id}{placed} hasn't shipped yet; it's being prepared."),
        "processed" => format!(
            "Order {id}{placed} has shipped{}.",
            if tracking.is_empty() { String::new() } else { format!(" (tracking number {})", tracking.join(", ")) }
        ),
        "delivered" => match order["delivered_on"].as_str() {
            Some(d) => format!("Order {id} was delivered on {d}."),
            None => format!("Order {id} has been delivered."),
        },
        "cancelled" => format!("Order {id} was cancelled and refunded to the original payment method."),
        "return requested" => format!("A return is open for order {id}; you'll get an email explaining how to send the items back."),
        "exchange requested" => format!("An exchange is open for order {id}; you'll get an email explaining how to send the items back."),
        other => format!("Order {id} is {other}."),
    };
    format!("{status}{items}")
}
