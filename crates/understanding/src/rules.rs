//! Pattern-based understanding: the built-in intents (greeting, thanks, goodbye, asking for a
//! human) and order-status requests with their order id. It needs no model, so it is always
//! available — the floor the embedding and LLM understandings fall back to.

use crate::{DialogueContext, Understanding, UnderstandingError};
use async_trait::async_trait;
use frontline_domain::{Command, ScoredCommand, SmallTalk};
use regex::Regex;

/// The flow that order-status requests start.
pub const ORDER_STATUS_FLOW: &str = "order_status";

/// Understanding by patterns; see the module docs.
#[derive(Debug)]
pub struct RuleUnderstanding {
    order_id: Regex,
    human: Regex,
    order_status: Regex,
    greeting: Regex,
    thanks: Regex,
    goodbye: Regex,
}

impl Default for RuleUnderstanding {
    fn default() -> Self {
        let re = |p: &str| Regex::new(p).expect("built-in pattern compiles");
        Self {
            order_id: re(r"(?i)(?:^|[^\w#])#?\s?(w\d{7})\b"),
            human: re(
                r"\b(human|real person|person|agent|representative|operator|someone|somebody|manager|supervisor)\b",
            ),
            order_status: re(
                r"\b(where|status|track|tracking|shipped|ship|arrive|arrived|arriving|deliver|delivered|delivery|late|eta)\b",
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
        }
    }
}

impl RuleUnderstanding {
    /// The order id in a message, normalised to `#W1234567`.
    pub fn order_id(&self, message: &str) -> Option<String> {
        self.order_id
            .captures(message)
            .map(|c| format!("#{}", c[1].to_uppercase()))
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
        let order_id = self.order_id(message);
        let awaiting_order_id = context
            .active_flow
            .as_ref()
            .is_some_and(|f| f.requested_slot.as_deref() == Some("order_id"));
        if self.order_status.is_match(&text)
            && (order_id.is_some()
                || text.contains("order")
                || text.contains("package")
                || text.contains("parcel"))
        {
            let mut commands = vec![ScoredCommand::new(
                Command::StartFlow {
                    flow_id: ORDER_STATUS_FLOW.into(),
                },
                0.85,
            )];
            if let Some(id) = order_id {
                commands.push(ScoredCommand::new(
                    Command::SetSlot {
                        name: "order_id".into(),
                        value: id.into(),
                    },
                    0.95,
                ));
            }
            return Ok(commands);
        }
        if let Some(id) = order_id {
            // A bare order id answers the flow's question; without one it most likely asks
            // about that order.
            let set = ScoredCommand::new(
                Command::SetSlot {
                    name: "order_id".into(),
                    value: id.into(),
                },
                0.95,
            );
            if awaiting_order_id {
                return Ok(vec![set]);
            }
            return Ok(vec![
                ScoredCommand::new(
                    Command::StartFlow {
                        flow_id: ORDER_STATUS_FLOW.into(),
                    },
                    0.6,
                ),
                set,
            ]);
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
                reason: "no built-in pattern matched".into(),
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

    fn context(requested_slot: Option<&str>) -> DialogueContext {
        DialogueContext {
            channel: Channel::Rest,
            active_flow: requested_slot.map(|s| ActiveFlow {
                flow_id: ORDER_STATUS_FLOW.into(),
                requested_slot: Some(s.into()),
                slots: Default::default(),
            }),
            recent: vec![],
        }
    }

    async fn kinds(message: &str, ctx: &DialogueContext) -> Vec<Command> {
        RuleUnderstanding::default()
            .understand(message, ctx)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.command)
            .collect()
    }

    #[tokio::test]
    async fn order_status_requests_start_the_flow_with_the_order_id() {
        let ctx = context(None);
        for message in [
            "Where is my order #W0000002?",
            "hi, can you track order w0000002 please",
            "status of W0000002",
        ] {
            assert_eq!(
                kinds(message, &ctx).await,
                vec![
                    Command::StartFlow {
                        flow_id: "order_status".into()
                    },
                    Command::SetSlot {
                        name: "order_id".into(),
                        value: "#W0000002".into()
                    },
                ],
                "{message}"
            );
        }
        assert_eq!(
            kinds("where's my package?", &ctx).await,
            vec![Command::StartFlow {
                flow_id: "order_status".into()
            }]
        );
    }

    #[tokio::test]
    async fn a_bare_order_id_fills_the_slot_being_asked_for() {
        assert_eq!(
            kinds("it's W1234567", &context(Some("order_id"))).await,
            vec![Command::SetSlot {
                name: "order_id".into(),
                value: "#W1234567".into()
            }]
        );
        assert_eq!(kinds("it's W1234567", &context(None)).await.len(), 2);
    }

    #[tokio::test]
    async fn asking_for_a_human_is_recognised_in_many_phrasings() {
        for message in [
            "I want to talk to a human",
            "Can I speak with a real person?",
            "connect me to an agent!!",
            "get me a manager",
            "live agent please",
        ] {
            assert!(
                matches!(
                    kinds(message, &context(None)).await[..],
                    [Command::HumanHandoff { .. }]
                ),
                "{message}"
            );
        }
        assert!(!matches!(
            kinds("my agent number is 5", &context(None)).await[..],
            [Command::HumanHandoff { .. }]
        ));
    }

    #[tokio::test]
    async fn small_talk_and_everything_else() {
        let ctx = context(None);
        assert_eq!(
            kinds("Hello there!", &ctx).await,
            vec![Command::ChitChat {
                topic: SmallTalk::Greeting
            }]
        );
        assert_eq!(
            kinds("thanks a lot", &ctx).await,
            vec![Command::ChitChat {
                topic: SmallTalk::Thanks
            }]
        );
        assert_eq!(
            kinds("Bye!", &ctx).await,
            vec![Command::ChitChat {
                topic: SmallTalk::Goodbye
            }]
        );
        assert!(matches!(
            kinds("what is the meaning of life", &ctx).await[..],
            [Command::CannotHandle { .. }]
        ));
        // Orders ids are never mistaken in longer numbers or words.
        assert!(matches!(
            kinds("my phone is 5550123456789", &ctx).await[..],
            [Command::CannotHandle { .. }]
        ));
    }
}
