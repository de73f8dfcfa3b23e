//! What the customer already told this conversation: the latest value of every slot any flow
//! held. A flow whose slot is marked `remember` starts with that value instead of asking again
//! ("where is #W0000002?" … "and can I return it?"). The customer can still change it.
//!
//! A value a write acted on is spent for choosing: once #W0000001 is cancelled, "I also want to
//! send something back" must not start a return of #W0000001. A slot the new flow offers
//! candidates for is not carried when its remembered value is spent, so the customer is offered
//! the orders that fit instead.

use frontline_domain::{Command, Event, EventKind, ScoredCommand};
use frontline_flows::FlowSet;
use serde_json::{Map, Value};

/// What the conversation remembers: the latest value of every slot its flows held.
#[derive(Debug, Default)]
pub(crate) struct Memory<'a> {
    /// Slot name → its latest value.
    pub slots: Map<String, Value>,
    /// The log it was read from (what the writes acted on is read from it when needed).
    events: &'a [Event],
}

/// The latest value of every slot the conversation's flows held, active or ended.
pub(crate) fn remembered(events: &[Event]) -> Memory<'_> {
    let mut slots = Map::new();
    for event in events {
        let held: Box<dyn Iterator<Item = (&String, &Value)>> = match &event.kind {
            EventKind::FlowUpdated { stack, .. } => Box::new(stack.iter().flat_map(|f| &f.slots)),
            EventKind::FlowEnded { slots, .. } => Box::new(slots.iter()),
            _ => continue,
        };
        for (name, value) in held.filter(|(_, v)| !v.is_null()) {
            slots.insert(name.clone(), value.clone());
        }
    }
    Memory { slots, events }
}

impl Memory<'_> {
    /// Whether a successful write acted on `value` (it was among the call's arguments).
    fn spent(&self, value: &Value) -> bool {
        let Some(value) = value.as_str() else {
            return false;
        };
        self.events.iter().any(|e| {
            matches!(&e.kind, EventKind::ActionExecuted { call, outcome: Ok(_) }
                if call.writes() && call.acts_on(value))
        })
    }
}

/// The remembered values to give the flows this turn starts: for each flow started (and not
/// already running), each `remember` slot the message does not set itself, except a slot the
/// flow offers candidates for whose value a write already acted on.
pub(crate) fn carry_over(
    commands: &[ScoredCommand],
    running: &[String],
    flows: &FlowSet,
    memory: &Memory<'_>,
) -> Vec<(String, Value)> {
    let set_now: Vec<&str> = commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::SetSlot { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut carried: Vec<(String, Value)> = Vec::new();
    for command in commands {
        let Command::StartFlow { flow_id, .. } = &command.command else {
            continue;
        };
        let Some(flow) = flows.get(flow_id) else {
            continue;
        };
        if running.contains(flow_id) {
            continue;
        }
        for (name, slot) in &flow.slots {
            let Some(value) = memory.slots.get(name) else {
                continue;
            };
            if !slot.spec.remember
                || set_now.contains(&name.as_str())
                || carried.iter().any(|(n, _)| n == name)
            {
                continue;
            }
            // An order already cancelled (say) is not carried into a flow that offers orders.
            if slot.candidates.is_some() && memory.spent(value) {
                continue;
            }
            carried.push((name.clone(), value.clone()));
        }
    }
    carried
}

/// What the customer is told: which remembered values are used, so they can change them.
pub(crate) fn telling(carried: &[(String, Value)]) -> Option<String> {
    let parts: Vec<String> = carried
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("the {} {value}", name.replace('_', " "))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "I'll use {} you gave earlier (tell me if you meant another).",
            parts.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::{ConversationId, FlowFrame};
    use serde_json::json;

    fn event(kind: EventKind) -> Event {
        Event {
            conversation_id: ConversationId::new(),
            seq: 0,
            at: chrono::Utc::now(),
            kind,
        }
    }

    #[test]
    fn the_latest_value_of_each_slot_is_remembered_from_active_and_ended_flows() {
        let mut frame = FlowFrame {
            flow_id: "cancel_order".into(),
            ..Default::default()
        };
        frame.slots.insert("order_id".into(), json!("#W0000001"));
        frame.slots.insert("reason".into(), Value::Null);
        let events = [
            event(EventKind::FlowUpdated {
                stack: vec![frame],
                ran: vec![],
            }),
            event(EventKind::FlowEnded {
                flow_id: "order_status".into(),
                outcome: "resolved".into(),
                slots: [("order_id".to_string(), json!("#W0000002"))]
                    .into_iter()
                    .collect(),
            }),
        ];
        let memory = remembered(&events);
        assert_eq!(memory.slots.get("order_id"), Some(&json!("#W0000002")));
        assert!(!memory.slots.contains_key("reason"));
        assert_eq!(
            telling(&[("order_id".into(), json!("#W0000002"))]).unwrap(),
            "I'll use the order id #W0000002 you gave earlier (tell me if you meant another)."
        );
        assert_eq!(telling(&[]), None);
    }
}
