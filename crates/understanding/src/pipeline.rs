//! What every local understanding does once it knows where a message routes: the fixed
//! precedence of commands. Explicit asks for a human, a yes/no at a confirmation and "never
//! mind" come first; then a flow start with the slots the message carries; then the active
//! flow's slots (the one asked for, self-identifying ones, named ones, corrections); then small
//! talk, knowledge, and finally "cannot handle". The routers differ; this does not.

use crate::extract::{normalize, takes_up_offer, yes_no, Extractors};
use crate::router::Builtin;
use crate::DialogueContext;
use frontline_domain::{Command, ScoredCommand, SmallTalk};
use frontline_flows::compile::{CONFIRMATION, VERIFICATION_CODE};
use frontline_flows::spec::SlotType;
use frontline_flows::FlowSet;
use regex::Regex;
use serde_json::Value;
use std::sync::Arc;

/// The confidence of an explicit request for a person (the phrase matched, not a guess by
/// similarity); the LLM understanding honours it without a call.
pub(crate) const EXPLICIT_HANDOFF: f32 = 0.95;

/// Where a router sent a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// Start (or stay in) this flow.
    Flow(String, f32),
    /// Ask which of these flows.
    Clarify(Vec<String>),
    /// A built-in intent.
    Builtin(Builtin, f32),
    /// An informational question for the knowledge base.
    Knowledge(f32),
    /// Nothing recognised.
    Nothing,
}

/// The shared precedence; see the module docs.
#[derive(Debug)]
pub struct Pipeline {
    flows: Arc<FlowSet>,
    switch_threshold: f32,
    extractors: Extractors,
    human: Regex,
    greeting: Regex,
    thanks: Regex,
    goodbye: Regex,
    cancel: Regex,
    /// A one-time code: six digits, maybe split in two groups of three.
    code: Regex,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

impl Pipeline {
    /// The pipeline over these flows.
    pub fn new(flows: Arc<FlowSet>) -> Self {
        Self {
            code: re(r"(?:^|[^\d])(\d{3})[ -]?(\d{3})(?:[^\d]|$)"),
            flows,
            switch_threshold: 0.0,
            extractors: Extractors::new(),
            human: re(concat!(
                r"\b(human|real person|person|agent|representative|operator|someone|somebody|manager|supervisor",
                // Spanish and German (the shipped translations).
                r"|persona|humano|agente|representante|encargado|encargada|supervisor|alguien",
                r"|mensch|menschen|mitarbeiter|mitarbeiterin|kollegen|kollegin|vorgesetzten|jemand|jemandem|berater)\b",
            )),
            greeting: re(concat!(
                r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings",
                r"|hola|buenas|buenos días|buenas tardes|buenas noches|hallo|guten (morgen|tag|abend)|servus|moin)",
                r"( there| team| all)?$",
            )),
            thanks: re(
                r"\b(thanks|thank you|thank u|thx|ty|cheers|much appreciated|appreciate it|gracias|muchas gracias|danke|vielen dank|dankeschön)\b",
            ),
            goodbye: re(concat!(
                r"^(bye|goodbye|bye bye|see you|see ya|that'?s all|that is all|nothing else|have a (good|nice) (day|one)",
                r"|adiós|adios|hasta luego|chao|eso es todo|nada más|tschüss|tschüs|auf wiedersehen|bis dann|das wars?|das war's)$",
            )),
            // "never mind", "actually, forget it", "ok stop this please", "I don't want to do
            // this anymore": fillers around one stop phrase, nothing else.
            cancel: re(concat!(
                r"^((actually|oh|ok|okay|um|umm|well|hmm|sorry|wait|no|erm) )*",
                r"(never ?mind|forget (it|about it|that|this)|cancel (that|it|this)|cancel|stop|stop (that|it|this|here)",
                // "forget the cancellation", "never mind about the return", "scratch that",
                // "don't cancel it after all".
                r"|(forget|never ?mind)( about)? (the|my) (cancellation|return|exchange|refund|request|address change)",
                r"|scratch that|don'?t (cancel|return|exchange) (it|that|them|anything)( after all)?",
                r"|i('ve| have)? changed my mind|don'?t bother|no thanks?",
                r"|let'?s (stop|not)|i don'?t want to (do|continue) (this|that|it)( anymore| any more)?",
                r"|olvídalo|olvidalo|olvídelo|olvidelo|déjalo|dejalo|déjelo|dejelo|da igual|mejor no",
                r"|vergessen sie es|vergiss es|lassen wir das|schon gut|egal)",
                r"( (then|please|thanks|thank you|anyway|for now))*$"
            )),
        }
    }

    /// Below this routing score, a message that answers the question being asked is taken as
    /// the answer rather than a switch to another flow.
    pub fn with_switch_threshold(mut self, threshold: f32) -> Self {
        self.switch_threshold = threshold;
        self
    }

    /// The flows understood.
    pub fn flows(&self) -> &Arc<FlowSet> {
        &self.flows
    }

    /// The typed extractors.
    pub fn extractors(&self) -> &Extractors {
        &self.extractors
    }

    /// An explicit ask for a human, by pattern ("can I talk to a real person?").
    pub fn asks_for_human(&self, message: &str) -> bool {
        let text = normalize(message);
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
            "hablar con",
            "hable con",
            "pásame",
            "páseme",
            "pásenme",
            "comunicarme con",
            "quiero un",
            "quiero una",
            "necesito un",
            "necesito una",
            "sprechen",
            "verbinden sie mich",
            "möchte einen",
            "möchte eine",
            "will einen",
            "brauche einen",
        ];
        (self.human.is_match(&text) && asks.iter().any(|a| text.contains(a)))
            || text.contains("human agent")
            || text.contains("live agent")
            || text.contains("customer service representative")
    }

    /// A message that is nothing but a greeting, thanks or goodbye.
    pub fn only_small_talk(&self, message: &str) -> Option<SmallTalk> {
        let text = normalize(message);
        let thanks_only = self.thanks.find(&text).is_some_and(|m| {
            let rest = format!("{} {}", &text[..m.start()], &text[m.end()..]);
            rest.split_whitespace().all(|w| {
                matches!(
                    w,
                    "ok" | "okay"
                        | "great"
                        | "perfect"
                        | "so"
                        | "much"
                        | "a"
                        | "lot"
                        | "very"
                        | "again"
                        | "vale"
                        | "perfecto"
                        | "genial"
                        | "por"
                        | "todo"
                        | "muy"
                        | "amable"
                        | "super"
                        | "toll"
                        | "perfekt"
                        | "sehr"
                        | "nochmal"
                        | "schön"
                )
            })
        });
        if self.greeting.is_match(&text) {
            Some(SmallTalk::Greeting)
        } else if self.goodbye.is_match(&text) {
            Some(SmallTalk::Goodbye)
        } else if thanks_only {
            Some(SmallTalk::Thanks)
        } else {
            None
        }
    }

    /// Small talk recognised by pattern.
    pub fn small_talk(&self, message: &str) -> Option<SmallTalk> {
        let text = normalize(message);
        if self.greeting.is_match(&text) {
            Some(SmallTalk::Greeting)
        } else if self.goodbye.is_match(&text) {
            Some(SmallTalk::Goodbye)
        } else if self.thanks.is_match(&text) && text.split(' ').count() <= 6 {
            Some(SmallTalk::Thanks)
        } else {
            None
        }
    }

    /// Commands for `message` given where it routed. `asked_fallback`: a value for the slot
    /// being asked that the caller found some other way (an enum by embedding similarity),
    /// used when the typed extractor finds none.
    pub fn commands(
        &self,
        message: &str,
        context: &DialogueContext,
        route: Route,
        asked_fallback: Option<Value>,
    ) -> Vec<ScoredCommand> {
        let text = normalize(message);
        let explicit = self.asks_for_human(message);
        let active = context.active_flow.as_ref();
        // Whether the message answers the question being asked.
        let answers = || {
            active.is_some_and(|a| {
                let mut probe = Vec::new();
                self.slots_for(
                    &a.flow_id,
                    a.requested_slot.as_deref(),
                    message,
                    context,
                    &mut probe,
                );
                !probe.is_empty()
            })
        };
        // The router's "a person, please" is only a guess by similarity: a message that answers
        // the question being asked (an email address when asked for one) is that answer.
        let routed_to_human = matches!(route, Route::Builtin(Builtin::Human, _)) && !answers();
        if explicit || routed_to_human {
            // The pattern is certain; the router's similarity is as sure as it says.
            let confidence = match route {
                Route::Builtin(Builtin::Human, s) if !explicit => s,
                _ => EXPLICIT_HANDOFF,
            };
            return vec![ScoredCommand::new(
                Command::HumanHandoff {
                    reason: "the customer asked for a human".into(),
                },
                confidence,
            )];
        }
        // Only a greeting, thanks or goodbye ("muchas gracias", "Guten Tag!"), with no flow
        // going on: small talk, whatever the router found close to it.
        if active.is_none() {
            if let Some(topic) = self.only_small_talk(message) {
                if !(topic == SmallTalk::Thanks && takes_up_offer(message)) {
                    return vec![ScoredCommand::new(Command::ChitChat { topic }, 0.9)];
                }
            }
        }
        let requested = active.and_then(|f| f.requested_slot.as_deref());
        // A yes to the one flow the last reply offered ("Would you like me to help you return
        // items…?") starts it.
        if let ([offered], None) = (context.offered_flows.as_slice(), active) {
            if takes_up_offer(message) && self.flows.get(offered).is_some() {
                let mut commands = vec![ScoredCommand::new(
                    Command::start_flow(offered.clone()),
                    0.9,
                )];
                self.slots_for(offered, None, message, context, &mut commands);
                return commands;
            }
        }
        // A reply pointing at one of the offers made for the slot being asked ("the one with
        // the kettle", "the second one", "yes"), or turning a proposal down.
        if let (Some(slot), Some(active)) = (requested, active) {
            use frontline_flows::candidates::{refers, resolve, Pick};
            // A flow the router is sure of is a new request; anything else that points at an
            // order is an answer, if an unclear one, and is asked about again.
            let switching = matches!(&route, Route::Flow(id, score)
                if *id != active.flow_id && *score >= self.switch_threshold);
            let text = || Some(Value::String(message.trim().to_string()));
            let value = if !active.offered.is_empty() {
                match resolve(message, &active.offered) {
                    Pick::One(value) => Some(value),
                    Pick::Declined | Pick::Narrowed(_) => text(),
                    Pick::Unclear if !switching && refers(message, &active.offered) => text(),
                    Pick::Unclear => None,
                }
            } else {
                // Nothing offered (turned down, or none fits): "the one with the lamp" for an
                // order number is still an answer, not a new request.
                let takes_candidates = self
                    .flows
                    .get(&active.flow_id)
                    .and_then(|f| f.slots.get(slot))
                    .is_some_and(|s| s.candidates.is_some());
                (takes_candidates && !switching && refers(message, &[]) && !answers())
                    .then(text)
                    .flatten()
            };
            if let Some(value) = value {
                return vec![ScoredCommand::new(
                    Command::SetSlot {
                        name: slot.to_string(),
                        value,
                    },
                    0.95,
                )];
            }
        }
        if requested == Some(CONFIRMATION) {
            if let Some(yes) = yes_no(message) {
                return vec![ScoredCommand::new(
                    Command::SetSlot {
                        name: CONFIRMATION.into(),
                        value: Value::Bool(yes),
                    },
                    0.95,
                )];
            }
        }
        if requested == Some(VERIFICATION_CODE) {
            if let Some(code) = self.one_time_code(message) {
                return vec![ScoredCommand::new(
                    Command::SetSlot {
                        name: VERIFICATION_CODE.into(),
                        value: Value::String(code),
                    },
                    0.95,
                )];
            }
        }
        if active.is_some() && self.cancel.is_match(&text) {
            return vec![ScoredCommand::new(Command::CancelFlow, 0.9)];
        }

        let mut commands = Vec::new();
        // A message that answers the question is not a switch to a flow the router is unsure
        // of ("Springfield" for the city is not a new request).
        let route = match route {
            Route::Flow(id, score)
                if score < self.switch_threshold
                    && active.is_some_and(|a| a.flow_id != id)
                    && answers() =>
            {
                Route::Nothing
            }
            other => other,
        };
        let started = match &route {
            Route::Clarify(options) => {
                // A message that answers the question being asked is not ambiguous.
                if !answers() {
                    return vec![ScoredCommand::new(
                        Command::Clarify {
                            options: options.clone(),
                        },
                        0.5,
                    )];
                }
                None
            }
            Route::Flow(id, score) => {
                if active.is_none_or(|a| &a.flow_id != id) {
                    commands.push(ScoredCommand::new(Command::start_flow(id.clone()), *score));
                }
                self.slots_for(id, None, message, context, &mut commands);
                Some(id.clone())
            }
            _ => None,
        };
        if let Some(active) = active {
            // The question being asked is answered only when the message is not something
            // else: another flow; and for free text, small talk or a knowledge question too.
            let free_text = active
                .requested_slot
                .as_deref()
                .and_then(|name| self.flows.get(&active.flow_id)?.slots.get(name))
                .is_some_and(|slot| matches!(slot.spec.kind, SlotType::String | SlotType::List));
            let other_intent = started.as_deref().is_some_and(|s| s != active.flow_id)
                || (free_text && matches!(route, Route::Builtin(..) | Route::Knowledge(_)));
            let requested = if other_intent {
                None
            } else {
                active.requested_slot.as_deref()
            };
            let before = commands.len();
            self.slots_for(&active.flow_id, requested, message, context, &mut commands);
            if let (Some(name), Some(value)) = (requested, asked_fallback) {
                if !commands[before..].iter().any(|c| is_set(c, name)) {
                    commands.push(ScoredCommand::new(
                        Command::SetSlot {
                            name: name.to_string(),
                            value,
                        },
                        0.7,
                    ));
                }
            }
        }
        if !commands.is_empty() {
            return commands;
        }
        let small_talk = match route {
            Route::Builtin(Builtin::Greeting, _) => Some(SmallTalk::Greeting),
            Route::Builtin(Builtin::Thanks, _) => Some(SmallTalk::Thanks),
            Route::Builtin(Builtin::Goodbye, _) => Some(SmallTalk::Goodbye),
            _ => self.small_talk(message),
        };
        if let Some(topic) = small_talk {
            return vec![ScoredCommand::new(Command::ChitChat { topic }, 0.9)];
        }
        if let Route::Knowledge(score) = route {
            return vec![ScoredCommand::new(
                Command::AnswerFromKnowledge {
                    query: message.trim().to_string(),
                },
                score,
            )];
        }
        vec![ScoredCommand::new(
            Command::CannotHandle {
                reason: "no flow, built-in intent or knowledge matched".into(),
            },
            0.5,
        )]
    }

    /// The one-time code in `message` ("123456", "123 456", "my code is 123-456"), if it has
    /// exactly one.
    pub fn one_time_code(&self, message: &str) -> Option<String> {
        let mut found = self.code.captures_iter(message);
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some(format!("{}{}", &first[1], &first[2]))
    }

    /// Slot values in `message` for `flow_id`: the slot being asked (`requested`) by its type;
    /// the others when the message names them or their value identifies itself; and, when the
    /// message reads as a correction, a new value for a slot already filled.
    fn slots_for(
        &self,
        flow_id: &str,
        requested: Option<&str>,
        message: &str,
        context: &DialogueContext,
        out: &mut Vec<ScoredCommand>,
    ) {
        let Some(flow) = self.flows.get(flow_id) else {
            return;
        };
        let today = context.today;
        let named = self
            .extractors
            .named_values(flow.slots.iter(), message, today);
        let named_any = !named.is_empty();
        // A whole address given at once fills every part the flow asks for.
        let address = self
            .extractors
            .postal_address(message)
            .into_iter()
            .flatten();
        for (name, value) in address.filter(|(name, _)| flow.slots.contains_key(*name)) {
            if !out.iter().any(|c| is_set(c, name)) {
                let value = Value::String(value);
                let name = name.to_string();
                out.push(ScoredCommand::new(Command::SetSlot { name, value }, 0.9));
            }
        }
        for (name, value) in named {
            if !out.iter().any(|c| is_set(c, &name)) {
                out.push(ScoredCommand::new(Command::SetSlot { name, value }, 0.85));
            }
        }
        let filled = context
            .active_flow
            .as_ref()
            .filter(|a| a.flow_id == flow_id)
            .map(|a| &a.slots);
        let correcting = filled.is_some() && self.extractors.is_correction(message);
        let mut corrections = Vec::new();
        let mut answer = None;
        for (name, slot) in &flow.slots {
            if out.iter().any(|c| is_set(c, name)) {
                continue;
            }
            let asked = requested == Some(name.as_str());
            if asked && named_any && matches!(slot.spec.kind, SlotType::String | SlotType::List) {
                // "ZIP code is 60601" while the city is asked: the message answers something else.
                continue;
            }
            let current = filled.and_then(|f| f.get(name));
            // A correction names a new value for a typed slot filled before ("sorry, I
            // meant Tuesday"); free text is only taken when asked.
            let corrected = correcting
                && current.is_some()
                && !matches!(
                    slot.spec.kind,
                    SlotType::String | SlotType::List | SlotType::Bool
                );
            if !(asked || corrected || Extractors::self_identifying(slot)) {
                continue;
            }
            if asked
                && matches!(slot.spec.kind, SlotType::String)
                && message.trim_end().ends_with('?')
                && message.split_whitespace().count() >= 4
            {
                // A question is not an answer.
                continue;
            }
            let Some(value) = self
                .extractors
                .value(slot, message, asked || corrected, today)
            else {
                continue;
            };
            if current == Some(&value) && !asked {
                // Repeating a known value changes nothing.
                continue;
            }
            let command = ScoredCommand::new(
                Command::SetSlot {
                    name: name.clone(),
                    value,
                },
                if asked { 0.9 } else { 0.8 },
            );
            if asked {
                answer = Some(command);
            } else if Extractors::self_identifying(slot) {
                out.push(command);
            } else {
                corrections.push(command);
            }
        }
        // "Make it 3" with two number slots filled: which one is unknowable; ask again instead.
        if corrections.len() == 1 {
            out.append(&mut corrections);
        }
        // A correction of an earlier answer is not also the answer to the current question
        // ("sorry, make that 3" while the weight is asked).
        let corrected_earlier = correcting
            && out.iter().any(|c| match &c.command {
                Command::SetSlot { name, .. } => filled.is_some_and(|f| f.contains_key(name)),
                _ => false,
            });
        if let Some(answer) = answer.filter(|_| !corrected_earlier) {
            out.push(answer);
        }
    }
}

fn is_set(command: &ScoredCommand, slot: &str) -> bool {
    matches!(&command.command, Command::SetSlot { name, .. } if name == slot)
}
