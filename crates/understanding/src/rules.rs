//! Pattern-based understanding, driven by the loaded flows so it works for any flow a CX team
//! writes: a flow starts when a message covers most content words of one of its `examples`;
//! slots are read by their declared type (order ids by their pattern, enums by synonyms, yes/no,
//! emails, phones, numbers, dates, free text for the slot being asked). Built-in intents
//! (greeting, thanks, goodbye, asking for a human) need no flow. No model: always available,
//! and the floor the embedding and LLM understandings fall back to.

use crate::{DialogueContext, Understanding, UnderstandingError};
use async_trait::async_trait;
use frontline_domain::{
    Command, Identity, IdentityKind, NormalizeOptions, ScoredCommand, SmallTalk,
};
use frontline_flows::compile::{CompiledSlot, CONFIRMATION};
use frontline_flows::spec::{SlotType, Starts};
use frontline_flows::FlowSet;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Share of an example's content words a message must contain to start its flow.
const ROUTE_THRESHOLD: f32 = 0.6;
/// How far ahead the best flow must be; closer than this, ask which one.
const ROUTE_MARGIN: f32 = 0.15;

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "i", "i'd", "i'm", "me", "my", "mine", "you", "your", "we", "our", "it",
    "it's", "is", "are", "was", "be", "to", "of", "for", "on", "in", "at", "and", "or", "please",
    "can", "could", "would", "will", "do", "does", "did", "want", "wanna", "like", "need", "hi",
    "hello", "hey", "this", "that", "with", "some", "just", "there", "what", "what's", "how",
    "pls", "thanks", "get", "have", "has", "so",
];

/// Understanding by patterns and flow examples; see the module docs.
#[derive(Debug)]
pub struct RuleUnderstanding {
    flows: Arc<FlowSet>,
    examples: Vec<(String, Vec<BTreeSet<String>>)>,
    human: Regex,
    greeting: Regex,
    thanks: Regex,
    goodbye: Regex,
    cancel: Regex,
    email: Regex,
    phone: Regex,
    number: Regex,
    date: Regex,
}

fn content_words(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .replace('’', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        // Ids (anything with a digit) say which thing, not what to do with it.
        .filter(|w| {
            !w.is_empty() && !STOPWORDS.contains(w) && !w.chars().any(|c| c.is_ascii_digit())
        })
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Lowercase, apostrophes unified, punctuation and extra spaces removed.
fn normalize(message: &str) -> String {
    let lowered = message.to_lowercase().replace('’', "'");
    let cleaned: String = lowered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '#' {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl RuleUnderstanding {
    /// Understanding for the flows in `flows`.
    pub fn new(flows: Arc<FlowSet>) -> Self {
        let re = |p: &str| Regex::new(p).expect("built-in pattern compiles");
        let examples = flows
            .iter()
            .filter(|f| f.spec.starts == Starts::Customer && !f.spec.id.starts_with("pattern_"))
            .map(|f| {
                (
                    f.spec.id.clone(),
                    f.spec
                        .examples
                        .iter()
                        .map(|e| content_words(e))
                        .filter(|w| !w.is_empty())
                        .collect(),
                )
            })
            .collect();
        Self {
            flows,
            examples,
            human: re(
                r"\b(human|real person|person|agent|representative|operator|someone|somebody|manager|supervisor)\b",
            ),
            greeting: re(
                r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)( there| team| all)?$",
            ),
            thanks: re(
                r"\b(thanks|thank you|thank u|thx|ty|cheers|much appreciated|appreciate it)\b",
            ),
            goodbye: re(
                r"^(bye|goodbye|bye bye|see you|see ya|that'?s all|that is all|nothing else|have a (good|nice) (day|one))$",
            ),
            cancel: re(
                r"^(never ?mind|forget (it|about it)|cancel( that| it)?|stop( that| it)?|i changed my mind|don'?t bother|no thanks?)$",
            ),
            email: re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
            phone: re(r"\+?\d[\d\s().-]{6,}\d"),
            number: re(r"[-+]?\$?\d+(?:[.,]\d+)?"),
            date: re(r"\b\d{4}-\d{2}-\d{2}\b"),
        }
    }

    fn wants_human(&self, text: &str) -> bool {
        let asks = [
            "talk to",
            "speak to",
            "speak with",
            "talk with",
            "connect me",
            "transfer me",
            "get me",
            "want a",
            "need a",
            "want to talk",
            "put me through",
        ];
        (self.human.is_match(text) && asks.iter().any(|a| text.contains(a)))
            || text.contains("human agent")
            || text.contains("live agent")
            || text.contains("customer service representative")
    }

    /// (flow id, score), best first.
    fn route(&self, message: &str) -> Vec<(String, f32)> {
        let words = content_words(message);
        let mut scores: Vec<(String, f32)> = self
            .examples
            .iter()
            .map(|(id, examples)| {
                let best = examples
                    .iter()
                    .map(|ex| {
                        ex.iter().filter(|w| words.contains(*w)).count() as f32 / ex.len() as f32
                    })
                    .fold(0.0, f32::max);
                (id.clone(), best)
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scores
    }

    /// A value for `slot` in `message`, read by the slot's type. Free text only when asked.
    fn extract(&self, slot: &CompiledSlot, message: &str, asked: bool) -> Option<Value> {
        let spec = &slot.spec;
        match spec.kind {
            SlotType::Pattern => message
                .split(|c: char| c.is_whitespace() || ",;:!?()\"'".contains(c))
                .find_map(|token| slot.pattern_value(token.trim_end_matches('.')))
                .map(Value::String),
            SlotType::Enum => {
                let text = format!(" {} ", normalize(message));
                spec.values
                    .iter()
                    .flat_map(|(canonical, synonyms)| {
                        std::iter::once(canonical)
                            .chain(synonyms)
                            .map(move |p| (canonical, normalize(p)))
                    })
                    .filter(|(_, phrase)| {
                        !phrase.is_empty() && text.contains(&format!(" {phrase} "))
                    })
                    .max_by_key(|(_, phrase)| phrase.len())
                    .map(|(canonical, _)| Value::String(canonical.clone()))
            }
            SlotType::Email => self
                .email
                .find(message)
                .map(|m| Value::String(m.as_str().to_string())),
            SlotType::Phone => self.phone.find_iter(message).find_map(|m| {
                Identity::parse(
                    IdentityKind::Phone,
                    m.as_str(),
                    &NormalizeOptions::default(),
                )
                .ok()
                .map(|i| Value::String(i.value))
            }),
            SlotType::Bool => yes_no(message).map(Value::Bool),
            SlotType::Date => self
                .date
                .find(message)
                .map(|m| Value::String(m.as_str().to_string())),
            SlotType::Integer | SlotType::Number | SlotType::Money if asked => self
                .number
                .find(message)
                .map(|m| Value::String(m.as_str().replace(',', "."))),
            // List slots are matched against their choices by the engine, which has the data.
            SlotType::String | SlotType::List if asked => {
                let text = message.trim();
                (!text.is_empty()).then(|| Value::String(text.to_string()))
            }
            _ => None,
        }
    }

    /// Slot values in `message` for `flow_id`: the slot being asked by its type; others only
    /// when their value identifies itself (patterns, emails, enum phrases).
    fn slots_for(
        &self,
        flow_id: &str,
        requested: Option<&str>,
        message: &str,
        out: &mut Vec<ScoredCommand>,
    ) {
        let Some(flow) = self.flows.get(flow_id) else {
            return;
        };
        for (name, slot) in &flow.slots {
            let asked = requested == Some(name.as_str());
            let self_identifying = match slot.spec.kind {
                SlotType::Email | SlotType::Enum => true,
                // `#W\d{7}` or `SUB-\d{4}` announce themselves; `[A-Z]{2}` would match "my".
                SlotType::Pattern => {
                    slot.spec.prefix.is_some()
                        || slot
                            .spec
                            .pattern
                            .as_deref()
                            .and_then(|p| p.chars().next())
                            .is_some_and(|c| c.is_alphanumeric() || c == '#')
                }
                _ => false,
            };
            if !(asked || self_identifying)
                || out
                    .iter()
                    .any(|c| matches!(&c.command, Command::SetSlot { name: n, .. } if n == name))
            {
                continue;
            }
            if let Some(value) = self.extract(slot, message, asked) {
                out.push(ScoredCommand::new(
                    Command::SetSlot {
                        name: name.clone(),
                        value,
                    },
                    if asked { 0.9 } else { 0.8 },
                ));
            }
        }
    }
}

/// Yes or no in its common forms.
pub fn yes_no(message: &str) -> Option<bool> {
    let text = normalize(message);
    const YES: &[&str] = &[
        "yes",
        "y",
        "yeah",
        "yep",
        "yup",
        "sure",
        "ok",
        "okay",
        "correct",
        "right",
        "confirm",
        "go ahead",
        "do it",
        "please do",
        "absolutely",
        "that's right",
        "sounds good",
    ];
    const NO: &[&str] = &[
        "no",
        "n",
        "nope",
        "nah",
        "don't",
        "do not",
        "stop",
        "wait",
        "not now",
        "never mind",
        "cancel",
    ];
    let starts = |words: &[&str]| {
        words
            .iter()
            .any(|w| text == *w || text.starts_with(&format!("{w} ")))
    };
    match (starts(YES), starts(NO)) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

#[async_trait]
impl Understanding for RuleUnderstanding {
    fn name(&self) -> String {
        "rules".into()
    }

    async fn understand(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError> {
        let text = normalize(message);
        if self.wants_human(&text) {
            return Ok(vec![ScoredCommand::new(
                Command::HumanHandoff {
                    reason: "the customer asked for a human".into(),
                },
                0.95,
            )]);
        }
        let active = context.active_flow.as_ref();
        let requested = active.and_then(|f| f.requested_slot.as_deref());
        if requested == Some(CONFIRMATION) {
            if let Some(yes) = yes_no(message) {
                return Ok(vec![ScoredCommand::new(
                    Command::SetSlot {
                        name: CONFIRMATION.into(),
                        value: Value::Bool(yes),
                    },
                    0.95,
                )]);
            }
        }
        if active.is_some() && self.cancel.is_match(&text) {
            return Ok(vec![ScoredCommand::new(Command::CancelFlow, 0.9)]);
        }

        let mut commands = Vec::new();
        let routes = self.route(message);
        let started = match routes.as_slice() {
            [(best, s), (second, s2), ..]
                if *s >= ROUTE_THRESHOLD && *s2 >= ROUTE_THRESHOLD && s - s2 < ROUTE_MARGIN =>
            {
                return Ok(vec![ScoredCommand::new(
                    Command::Clarify {
                        options: vec![best.clone(), second.clone()],
                    },
                    0.5,
                )]);
            }
            [(best, s), ..] if *s >= ROUTE_THRESHOLD => Some(best.clone()),
            _ => None,
        };
        if let Some(flow_id) = &started {
            if active.is_none_or(|a| &a.flow_id != flow_id) {
                commands.push(ScoredCommand::new(
                    Command::StartFlow {
                        flow_id: flow_id.clone(),
                    },
                    routes[0].1,
                ));
            }
            self.slots_for(flow_id, None, message, &mut commands);
        }
        if let Some(active) = active {
            // Free text answers the question only when the message is not something else.
            let requested = if started.is_none() {
                active.requested_slot.as_deref()
            } else {
                None
            };
            self.slots_for(&active.flow_id, requested, message, &mut commands);
        }
        if !commands.is_empty() {
            return Ok(commands);
        }
        let small_talk = if self.greeting.is_match(&text) {
            Some(SmallTalk::Greeting)
        } else if self.goodbye.is_match(&text) {
            Some(SmallTalk::Goodbye)
        } else if self.thanks.is_match(&text) && text.split(' ').count() <= 6 {
            Some(SmallTalk::Thanks)
        } else {
            None
        };
        if let Some(topic) = small_talk {
            return Ok(vec![ScoredCommand::new(Command::ChitChat { topic }, 0.9)]);
        }
        Ok(vec![ScoredCommand::new(
            Command::CannotHandle {
                reason: "no flow example or built-in pattern matched".into(),
            },
            0.5,
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActiveFlow;
    use frontline_domain::Channel;
    use serde_json::json;

    fn understanding() -> RuleUnderstanding {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
        RuleUnderstanding::new(Arc::new(
            FlowSet::load(&dir, &frontline_shop::actions::catalog()).unwrap(),
        ))
    }

    fn context(flow: Option<(&str, Option<&str>)>) -> DialogueContext {
        DialogueContext {
            channel: Channel::Rest,
            active_flow: flow.map(|(id, slot)| ActiveFlow {
                flow_id: id.into(),
                requested_slot: slot.map(str::to_string),
                slots: Default::default(),
            }),
            recent: vec![],
        }
    }

    async fn commands(u: &RuleUnderstanding, message: &str, ctx: &DialogueContext) -> Vec<Command> {
        u.understand(message, ctx)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.command)
            .collect()
    }

    fn start(id: &str) -> Command {
        Command::StartFlow { flow_id: id.into() }
    }
    fn set(name: &str, value: Value) -> Command {
        Command::SetSlot {
            name: name.into(),
            value,
        }
    }

    #[tokio::test]
    async fn messages_start_the_flow_whose_examples_they_cover_with_the_slots_they_carry() {
        let u = understanding();
        let none = context(None);
        assert_eq!(
            commands(&u, "Where is my order #W0000002?", &none).await,
            [start("order_status"), set("order_id", json!("#W0000002"))]
        );
        assert_eq!(
            commands(
                &u,
                "I'd like to cancel order w0000001, I ordered it by mistake",
                &none
            )
            .await,
            [
                start("cancel_order"),
                set("order_id", json!("#W0000001")),
                set("reason", json!("ordered by mistake")),
            ]
        );
        assert_eq!(
            commands(&u, "please cancel my subscription SUB-1000", &none).await,
            [
                start("cancel_subscription"),
                set("subscription_id", json!("SUB-1000"))
            ]
        );
        assert_eq!(
            commands(&u, "I moved, can you change my shipping address?", &none).await,
            [start("change_shipping_address")]
        );
        assert!(matches!(
            commands(&u, "what is the meaning of life", &none).await[..],
            [Command::CannotHandle { .. }]
        ));
    }

    #[tokio::test]
    async fn the_slot_being_asked_is_read_by_its_type() {
        let u = understanding();
        assert_eq!(
            commands(
                &u,
                "it's W1234567",
                &context(Some(("order_status", Some("order_id"))))
            )
            .await,
            [set("order_id", json!("#W1234567"))]
        );
        assert_eq!(
            commands(
                &u,
                "I just don't need it anymore",
                &context(Some(("cancel_order", Some("reason"))))
            )
            .await,
            [set("reason", json!("no longer needed"))]
        );
        assert_eq!(
            commands(
                &u,
                "12 Analytical Way",
                &context(Some(("change_shipping_address", Some("address1"))))
            )
            .await,
            [set("address1", json!("12 Analytical Way"))]
        );
        assert_eq!(
            commands(
                &u,
                "ada@example.com",
                &context(Some(("authenticate", Some("email"))))
            )
            .await,
            [set("email", json!("ada@example.com"))]
        );
        // Free text is not taken for a slot nobody asked for.
        assert!(matches!(
            commands(
                &u,
                "12 Analytical Way",
                &context(Some(("change_shipping_address", Some("zip"))))
            )
            .await[..],
            [Command::CannotHandle { .. }]
        ));
    }

    #[tokio::test]
    async fn confirmations_corrections_and_cancelling() {
        let u = understanding();
        let confirming = context(Some(("cancel_order", Some("confirmation"))));
        for (message, yes) in [
            ("yes please", true),
            ("Yep, go ahead", true),
            ("no", false),
            ("nope, wait", false),
        ] {
            assert_eq!(
                commands(&u, message, &confirming).await,
                [set("confirmation", json!(yes))],
                "{message}"
            );
        }
        assert_eq!(
            commands(&u, "sorry, I meant #W0000005", &confirming).await,
            [set("order_id", json!("#W0000005"))]
        );
        // At a confirmation, "never mind" is a no; elsewhere in a flow it stops the flow.
        assert_eq!(
            commands(&u, "never mind", &confirming).await,
            [set("confirmation", json!(false))]
        );
        assert_eq!(
            commands(
                &u,
                "never mind",
                &context(Some(("cancel_order", Some("reason"))))
            )
            .await,
            [Command::CancelFlow]
        );
        assert!(matches!(
            commands(&u, "never mind", &context(None)).await[..],
            [Command::CannotHandle { .. }]
        ));
    }

    #[tokio::test]
    async fn asking_for_a_human_and_small_talk() {
        let u = understanding();
        let ctx = context(None);
        for message in [
            "I want to talk to a human",
            "Can I speak with a real person?",
            "connect me to an agent!!",
            "get me a manager",
            "live agent please",
        ] {
            assert!(
                matches!(
                    commands(&u, message, &ctx).await[..],
                    [Command::HumanHandoff { .. }]
                ),
                "{message}"
            );
        }
        assert_eq!(
            commands(&u, "Hello there!", &ctx).await,
            [Command::ChitChat {
                topic: SmallTalk::Greeting
            }]
        );
        assert_eq!(
            commands(&u, "thanks a lot", &ctx).await,
            [Command::ChitChat {
                topic: SmallTalk::Thanks
            }]
        );
        assert_eq!(
            commands(&u, "Bye!", &ctx).await,
            [Command::ChitChat {
                topic: SmallTalk::Goodbye
            }]
        );
    }
}
