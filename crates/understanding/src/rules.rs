//! Pattern-based understanding, driven by the loaded flows so it works for any flow a CX team
//! writes: a flow starts when a message covers most content words of one of its `examples`;
//! slots are read by their declared type (order ids by their pattern, enums by synonyms, yes/no,
//! emails, phones, numbers, dates, free text for the slot being asked). Built-in intents
//! (greeting, thanks, goodbye, asking for a human) need no flow. No model: always available,
//! and the floor the embedding and LLM understandings fall back to.

use crate::pipeline::{Pipeline, Route};
use crate::{DialogueContext, Understanding, UnderstandingError};
use async_trait::async_trait;
use frontline_domain::ScoredCommand;
use frontline_flows::spec::Starts;
use frontline_flows::FlowSet;
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
    pipeline: Pipeline,
    examples: Vec<(String, Vec<BTreeSet<String>>)>,
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

impl RuleUnderstanding {
    /// Understanding for the flows in `flows`.
    pub fn new(flows: Arc<FlowSet>) -> Self {
        let examples = flows
            .iter()
            .filter(|f| f.spec.starts == Starts::Customer && !f.spec.id.starts_with("pattern_"))
            .map(|f| {
                (
                    f.spec.id.clone(),
                    f.spec
                        .examples
                        .iter()
                        .chain(&f.spec.translated_examples)
                        .map(|e| content_words(e))
                        .filter(|w| !w.is_empty())
                        .collect(),
                )
            })
            .collect();
        Self {
            pipeline: Pipeline::new(flows),
            examples,
        }
    }

    /// (flow id, score), best first.
    fn rank(&self, message: &str) -> Vec<(String, f32)> {
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

    fn route(&self, message: &str) -> Route {
        match self.rank(message).as_slice() {
            [(best, s), (second, s2), ..]
                if *s >= ROUTE_THRESHOLD && *s2 >= ROUTE_THRESHOLD && s - s2 < ROUTE_MARGIN =>
            {
                Route::Clarify(vec![best.clone(), second.clone()])
            }
            [(best, s), ..] if *s >= ROUTE_THRESHOLD => Route::Flow(best.clone(), *s),
            _ => Route::Nothing,
        }
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
        let route = self.route(message);
        Ok(self.pipeline.commands(message, context, route, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActiveFlow;
    use frontline_domain::{Channel, Command, SmallTalk};
    use serde_json::{json, Value};

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
                ..Default::default()
            }),
            recent: vec![],
            today: "2026-11-21".parse().unwrap(),
            offered_flows: vec![],
            language: None,
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
        Command::start_flow(id)
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
        for stop in [
            "actually never mind",
            "Oh, forget it then.",
            "ok stop this please",
            "I don't want to do this anymore",
            "I've changed my mind",
        ] {
            assert_eq!(
                commands(&u, stop, &context(Some(("cancel_order", Some("order_id"))))).await,
                [Command::CancelFlow],
                "{stop}"
            );
        }
        // A stop phrase inside a request is not a stop.
        assert_ne!(
            commands(
                &u,
                "stop my order before it ships",
                &context(Some(("cancel_order", Some("order_id"))))
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
