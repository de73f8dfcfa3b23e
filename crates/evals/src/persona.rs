//! Scripted personas: deterministic simulated customers. Each opens with its goal's message and
//! then answers whatever the agent asks for from the goal, in its own manner, until the agent
//! asks nothing more, hands off, or the persona runs out of patience.

use crate::case::{Persona, PersonaStyle, Step};
use crate::run::StepRun;
use frontline_domain::{Channel, ConversationStatus};
use std::collections::{HashMap, HashSet};

/// The slot a yes/no question asks for.
const CONFIRMATION: &str = "confirmation";

/// Plays one persona through one conversation.
pub struct Player<'a> {
    persona: &'a Persona,
    sent: usize,
    asked: HashMap<String, usize>,
    mistaken: HashSet<String>,
    correction: Option<String>,
}

impl<'a> Player<'a> {
    /// A player at the start of the conversation.
    pub fn new(persona: &'a Persona) -> Self {
        Player {
            persona,
            sent: 0,
            asked: HashMap::new(),
            mistaken: HashSet::new(),
            correction: None,
        }
    }

    /// Whether an LLM plays this persona.
    pub fn is_llm(&self) -> bool {
        self.persona.style == PersonaStyle::Llm
    }

    /// The next message an LLM writes for the customer, from the goal and the conversation so
    /// far; `None` when the persona is done (patience, a handoff, nothing asked, or the model
    /// says DONE).
    pub async fn next_by_llm(
        &mut self,
        llm: &frontline_llm::LlmClient,
        steps: &[StepRun],
    ) -> Result<Option<Step>, frontline_llm::LlmError> {
        if self.sent >= self.persona.max_turns {
            return Ok(None);
        }
        let text = match steps.last() {
            None => self.persona.goal.opening.clone(),
            Some(last) if last.status != ConversationStatus::Bot || last.asked.is_none() => {
                return Ok(None)
            }
            Some(_) => {
                let completion = llm.complete_text(&self.simulator_prompt(steps)).await?;
                let text = completion.text.trim().to_string();
                if text.is_empty() || text.contains("DONE") {
                    return Ok(None);
                }
                text
            }
        };
        self.sent += 1;
        Ok(Some(self.step(text)))
    }

    fn simulator_prompt(&self, steps: &[StepRun]) -> Vec<frontline_llm::Message> {
        let goal = &self.persona.goal;
        let facts: Vec<String> = goal
            .answers
            .iter()
            .map(|(slot, value)| format!("- {}: {value}", slot.replace('_', " ")))
            .collect();
        let mut messages = vec![frontline_llm::Message::system(format!(
            "You are a customer writing to an online shop's support. You want: {}\nWhat you know:\n{}\nReply as the customer, in one or two short sentences, answering what the agent asks from what you know. Never invent order numbers. When you have what you wanted, reply DONE.",
            goal.opening,
            facts.join("\n")
        ))];
        for step in steps {
            // The model plays the customer: its own lines are the assistant's.
            messages.push(frontline_llm::Message::assistant(step.text.clone()));
            messages.push(frontline_llm::Message::user(step.replies.join("\n")));
        }
        messages
    }

    fn step(&self, text: String) -> Step {
        Step {
            channel: Some(self.channel()),
            from: None,
            assurance: None,
            text: Some(text),
            payload: None,
            code_from: None,
            at: None,
            commands: None,
            expect: vec![],
        }
    }

    /// The next message, given how the last one went; `None` when the persona is done.
    pub fn next(&mut self, last: Option<&StepRun>) -> Option<Step> {
        if self.sent >= self.persona.max_turns {
            return None;
        }
        let text = match last {
            None => self.opening(),
            Some(last) if last.status != ConversationStatus::Bot => return None,
            Some(_) if self.correction.is_some() => self.correction.take()?,
            Some(last) => self.answer(last.asked.as_deref()?),
        };
        let step = self.step(text);
        self.sent += 1;
        Some(step)
    }

    fn channel(&self) -> Channel {
        if self.persona.style != PersonaStyle::SwitchesChannel {
            return self
                .persona
                .channels
                .first()
                .copied()
                .unwrap_or(Channel::WebChat);
        }
        let default = [Channel::WebChat, Channel::Email, Channel::Sms];
        let channels: &[Channel] = if self.persona.channels.is_empty() {
            &default
        } else {
            &self.persona.channels
        };
        channels[self.sent % channels.len()]
    }

    fn opening(&self) -> String {
        let opening = &self.persona.goal.opening;
        match self.persona.style {
            PersonaStyle::Impatient => format!("{opening}. Quickly please, I don't have all day"),
            PersonaStyle::Angry => {
                format!("{opening}. This is ridiculous, your service is terrible and I'm furious")
            }
            _ => opening.clone(),
        }
    }

    fn answer(&mut self, slot: &str) -> String {
        let times = self.asked.entry(slot.to_string()).or_default();
        *times += 1;
        let first_time = *times == 1;
        let known = self
            .persona
            .goal
            .answers
            .get(slot)
            .cloned()
            .or_else(|| (slot == CONFIRMATION).then(|| "yes".to_string()));
        let Some(value) = known else {
            return "I don't know, sorry".into();
        };
        match self.persona.style {
            PersonaStyle::Vague if first_time && slot != CONFIRMATION => {
                "hmm, the usual one I think".into()
            }
            PersonaStyle::CorrectsThemselves => match self.persona.goal.mistakes.get(slot) {
                Some(wrong) if self.mistaken.insert(slot.to_string()) => {
                    self.correction = Some(format!("sorry, I meant {value}"));
                    wrong.clone()
                }
                _ => value,
            },
            PersonaStyle::Impatient => format!("{value}, come on"),
            PersonaStyle::Angry => format!("{value}. Honestly this is awful, I'm so angry"),
            _ => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Goal;
    use frontline_domain::ConversationId;

    fn persona(style: PersonaStyle) -> Persona {
        Persona {
            style,
            goal: Goal {
                opening: "cancel my order".into(),
                answers: [("order_id".to_string(), "#W0000001".to_string())].into(),
                mistakes: [("order_id".to_string(), "#W0000009".to_string())].into(),
            },
            max_turns: 6,
            channels: vec![],
        }
    }

    fn asked(slot: Option<&str>) -> StepRun {
        StepRun {
            text: String::new(),
            channel: Channel::WebChat,
            replies: vec![],
            latency_ms: 0.0,
            conversation: ConversationId::new(),
            understood: vec![],
            expected: None,
            expected_exact: false,
            expected_flow: None,
            started: vec![],
            asked: slot.map(str::to_string),
            status: ConversationStatus::Bot,
            events: vec![],
        }
    }

    fn text(step: Option<Step>) -> String {
        step.and_then(|s| s.text).unwrap_or_default()
    }

    #[test]
    fn a_cooperative_customer_answers_what_is_asked_and_stops_when_nothing_is() {
        let p = persona(PersonaStyle::Cooperative);
        let mut player = Player::new(&p);
        assert_eq!(text(player.next(None)), "cancel my order");
        assert_eq!(
            text(player.next(Some(&asked(Some("order_id"))))),
            "#W0000001"
        );
        assert_eq!(text(player.next(Some(&asked(Some("confirmation"))))), "yes");
        assert_eq!(
            text(player.next(Some(&asked(Some("reason"))))),
            "I don't know, sorry"
        );
        assert!(player.next(Some(&asked(None))).is_none());
    }

    #[test]
    fn the_vague_one_answers_properly_the_second_time() {
        let p = persona(PersonaStyle::Vague);
        let mut player = Player::new(&p);
        player.next(None);
        assert!(text(player.next(Some(&asked(Some("order_id"))))).contains("usual"));
        assert_eq!(
            text(player.next(Some(&asked(Some("order_id"))))),
            "#W0000001"
        );
    }

    #[test]
    fn one_who_corrects_themselves_sends_the_wrong_value_then_the_right_one() {
        let p = persona(PersonaStyle::CorrectsThemselves);
        let mut player = Player::new(&p);
        player.next(None);
        assert_eq!(
            text(player.next(Some(&asked(Some("order_id"))))),
            "#W0000009"
        );
        assert_eq!(
            text(player.next(Some(&asked(Some("confirmation"))))),
            "sorry, I meant #W0000001"
        );
        assert_eq!(text(player.next(Some(&asked(Some("confirmation"))))), "yes");
    }

    #[test]
    fn the_channel_switcher_moves_on_with_every_message_and_patience_runs_out() {
        let mut p = persona(PersonaStyle::SwitchesChannel);
        p.max_turns = 3;
        let mut player = Player::new(&p);
        let channels: Vec<Channel> = std::iter::from_fn(|| {
            player
                .next(Some(&asked(Some("order_id"))))
                .and_then(|s| s.channel)
        })
        .collect();
        assert_eq!(channels, [Channel::WebChat, Channel::Email, Channel::Sms]);
    }

    #[test]
    fn a_handed_off_conversation_ends_the_persona() {
        let p = persona(PersonaStyle::Angry);
        let mut player = Player::new(&p);
        assert!(text(player.next(None)).contains("furious"));
        let mut last = asked(Some("order_id"));
        last.status = ConversationStatus::HandedOff;
        assert!(player.next(Some(&last)).is_none());
    }
}
