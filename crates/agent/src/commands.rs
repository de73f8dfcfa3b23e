//! The one place the understood commands are changed before the engine sees them: what the
//! knowledge base supports (an answer found for a message nothing else was understood in; a
//! request for an answer it abstained on becomes one that cannot be handled), then the slots a
//! flow started now remembers from earlier in the conversation.

use crate::knowledge::Verdict;
use frontline_domain::{Command, ScoredCommand};
use serde_json::Value;

/// The commands of a turn, completed.
pub(crate) struct Completed {
    /// What the turn understood, as recorded (`CommandsUnderstood`) and reported.
    pub understood: Vec<ScoredCommand>,
    /// What the engine gets: those, and the remembered slots.
    pub for_engine: Vec<ScoredCommand>,
}

/// Complete `commands` with the knowledge base's `verdict` and the `remembered` slot values.
pub(crate) fn complete(
    mut commands: Vec<ScoredCommand>,
    verdict: Option<&Verdict>,
    remembered: &[(String, Value)],
) -> Completed {
    match verdict {
        None | Some(Verdict::Stands) => {}
        Some(Verdict::Answers { query, confidence }) => {
            commands = vec![ScoredCommand::new(
                Command::AnswerFromKnowledge {
                    query: query.clone(),
                },
                *confidence,
            )];
        }
        Some(Verdict::Abstains { reason }) => {
            for c in &mut commands {
                if matches!(c.command, Command::AnswerFromKnowledge { .. }) {
                    c.command = Command::CannotHandle {
                        reason: reason.clone(),
                    };
                }
            }
        }
    }
    let mut for_engine = commands.clone();
    for (name, value) in remembered {
        tracing::info!(slot = %name, %value, "slot remembered from earlier in the conversation");
        for_engine.push(ScoredCommand::new(
            Command::SetSlot {
                name: name.clone(),
                value: value.clone(),
            },
            1.0,
        ));
    }
    Completed {
        understood: commands,
        for_engine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cannot() -> ScoredCommand {
        ScoredCommand::new(
            Command::CannotHandle {
                reason: "nothing".into(),
            },
            0.0,
        )
    }

    #[test]
    fn the_knowledge_verdict_and_remembered_slots_complete_the_commands() {
        let answered = complete(
            vec![cannot()],
            Some(&Verdict::Answers {
                query: "do you ship to Mexico".into(),
                confidence: 0.61,
            }),
            &[],
        );
        assert_eq!(
            answered.understood,
            vec![ScoredCommand::new(
                Command::AnswerFromKnowledge {
                    query: "do you ship to Mexico".into()
                },
                0.61
            )]
        );
        let asked = ScoredCommand::new(
            Command::AnswerFromKnowledge {
                query: "warranty".into(),
            },
            0.8,
        );
        let abstained = complete(
            vec![asked.clone()],
            Some(&Verdict::Abstains {
                reason: "below the gate".into(),
            }),
            &[("order_id".into(), json!("#W0000002"))],
        );
        assert_eq!(
            abstained.understood[0].command,
            Command::CannotHandle {
                reason: "below the gate".into()
            }
        );
        assert_eq!(abstained.for_engine.len(), 2);
        assert_eq!(
            abstained.for_engine[1].command,
            Command::SetSlot {
                name: "order_id".into(),
                value: json!("#W0000002")
            }
        );
        let stands = complete(vec![asked.clone()], Some(&Verdict::Stands), &[]);
        assert_eq!(stands.understood, vec![asked]);
    }
}
