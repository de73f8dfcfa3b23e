//! The turn pipeline: one inbound message in, replies (and events) out.
//!
//! A turn runs as stages that hand each other values and never call back up here:
//! **intake** (claim the message once, resolve the customer from its identities, open their
//! conversation on any channel), **interpret** (understanding, knowledge, memory, and the one
//! command processor), **decide** (the flow engine, through an action runner), **escalate** (the
//! policy, and the handoff summary), **compose** (the one reply) and **commit** (every write of
//! the turn in one transaction). The stages' parts are lent to them by [`Agent`]; the turn, a
//! release, a person's message and an undeliverable reply are each one conversation operation
//! (lock, load from the kept logs, gather, commit once). Every step appends to the
//! conversation's event log, and the dialogue state is read back from it, so a conversation
//! continues on any channel and any replica.

mod actions;
mod commands;
mod compose;
mod decide;
pub mod drafts;
mod error;
mod escalate;
mod helpdesk;
mod history;
mod identify;
mod intake;
mod interpret;
mod knowledge;
mod language;
pub mod locks;
mod logs;
mod memory;
pub mod metrics;
mod operation;
mod pending;
mod quality;
mod survey;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use error::AgentError;
pub use escalate::EscalationSettings;
pub use frontline_analytics::quality::QualitySettings;
pub use helpdesk::HelpdeskApplied;
pub use intake::{Intake, IntakePass};
pub use pending::Clock;
pub use survey::{ChannelSurvey, SurveySettings};
pub use verify::VerificationSettings;

use actions::TurnActions;
use chrono::Duration;
use escalate::Escalator;
use frontline_domain::{
    ActionBackend, ConversationId, ConversationStatus, CustomerId, Event, EventKind, FlowFrame,
    InboundMessage, OutboundMessage, OutboxId, ScoredCommand, Timestamp,
};
use frontline_flows::Engine;
use frontline_store::{InboxClaim, Store, Write};
use frontline_understanding::Understanding;
use identify::Identify;
use interpret::Interpreter;
use operation::Operation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{field, Instrument};

/// Tunables of the turn pipeline.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// A customer's message joins their latest unresolved conversation if it was active within
    /// this window (any channel); otherwise a new conversation opens.
    pub continuity_window: Duration,
    /// An inbox claim not completed within this lease is taken over by a redelivery.
    pub inbox_lease: Duration,
    /// How long a redelivery waits for the first delivery's turn to finish.
    pub duplicate_wait: std::time::Duration,
    /// How many recent utterances understanding sees.
    pub recent_utterances: usize,
    /// The longest a backend action may take; past it, it counts as a backend failure (retried
    /// where the flow allows, then escalated).
    pub action_timeout: std::time::Duration,
    /// How many events of recently active conversations are kept in memory between turns (a
    /// turn then reads only what was appended since), in all. An event takes about 1–2 KB.
    pub kept_log_events: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            continuity_window: Duration::hours(72),
            inbox_lease: Duration::seconds(60),
            duplicate_wait: std::time::Duration::from_secs(5),
            recent_utterances: 10,
            action_timeout: std::time::Duration::from_secs(10),
            kept_log_events: 100_000,
        }
    }
}

/// What a survey email's one-click answer link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SurveyLinkAnswer {
    /// The answer was recorded; the next question, with its line of answer links (markdown),
    /// if there is one.
    Recorded {
        /// The next question and its links.
        next: Option<(frontline_domain::SurveyQuestion, String)>,
    },
    /// That question was answered already (a second click changes nothing).
    AlreadyAnswered,
    /// No survey waits for this answer (it was withdrawn, or never asked).
    NotAsked,
    /// The link's signature does not match, or links are not configured.
    Invalid,
}

/// One reply produced by a turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The text.
    pub text: String,
    /// Its outbox entry.
    pub outbox_id: OutboxId,
}

/// What a turn produced; also what a redelivery of the same message gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnOutcome {
    /// The conversation the message landed in.
    pub conversation_id: ConversationId,
    /// The customer behind it.
    pub customer_id: CustomerId,
    /// Who handles the conversation after this turn.
    pub status: ConversationStatus,
    /// The agent's replies (none while a human has the conversation).
    pub replies: Vec<Reply>,
    /// What understanding proposed.
    pub commands: Vec<ScoredCommand>,
    /// The active flow after the turn, if any.
    pub active_flow: Option<FlowFrame>,
    /// True when this is a redelivery answered from the first delivery's result.
    pub duplicate: bool,
}

impl TurnOutcome {
    /// The replies' texts, one per line (how tests and tools read a turn's answer).
    pub fn reply_text(&self) -> String {
        self.replies
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The agent: shared by every channel handler.
pub struct Agent {
    store: Store,
    understanding: Arc<dyn Understanding>,
    actions: Arc<dyn ActionBackend>,
    engine: Engine,
    detector: frontline_language::Detector,
    config: AgentConfig,
    clock: Clock,
    conversations: operation::Conversations,
    knowledge: Option<Arc<frontline_knowledge::KnowledgeBase>>,
    answer_writer: Option<Arc<dyn frontline_understanding::llm::AnswerWriter>>,
    escalation: EscalationSettings,
    handoff_target: Option<Arc<dyn frontline_handoff::HandoffTarget>>,
    directory: Option<Arc<dyn frontline_domain::IdentityDirectory>>,
    drafts: drafts::Drafts,
    metrics: Arc<metrics::Metrics>,
    verification: VerificationSettings,
    surveys: SurveySettings,
    quality_settings: QualitySettings,
    help_centre: Option<String>,
}

impl Agent {
    /// An agent on the system clock.
    pub fn new(
        store: Store,
        understanding: Arc<dyn Understanding>,
        actions: Arc<dyn ActionBackend>,
        engine: Engine,
        config: AgentConfig,
    ) -> Self {
        Self {
            store: store.clone(),
            understanding,
            actions,
            engine,
            detector: frontline_language::Detector::new(),
            conversations: operation::Conversations::new(store.clone(), config.kept_log_events),
            config,
            clock: Arc::new(chrono::Utc::now),
            knowledge: None,
            answer_writer: None,
            escalation: EscalationSettings::default(),
            handoff_target: None,
            directory: None,
            drafts: drafts::Drafts::default(),
            metrics: Arc::default(),
            verification: VerificationSettings::default(),
            surveys: SurveySettings::off(),
            quality_settings: QualitySettings::default(),
            help_centre: None,
        }
    }

    /// Ask the resolution survey by these settings (an agent built without them asks none).
    pub fn with_surveys(mut self, surveys: SurveySettings) -> Self {
        self.surveys = surveys;
        self
    }

    /// Judge conversation quality by these settings (each channel's response promise) instead
    /// of the defaults.
    pub fn with_quality(mut self, quality: QualitySettings) -> Self {
        self.quality_settings = quality;
        self
    }

    /// One-time codes by these settings (expiry, attempts, lock-out, rate limits) instead of
    /// the defaults.
    pub fn with_verification(mut self, verification: VerificationSettings) -> Self {
        self.verification = verification;
        self
    }

    /// Answers from the knowledge base link their source to the article in the help centre
    /// published at `base` (`https://help.shop.example`), on every channel that carries links.
    pub fn with_help_centre(mut self, base: &str) -> Self {
        self.help_centre = Some(base.trim_end_matches('/').to_string()).filter(|b| !b.is_empty());
        self
    }

    /// How conversation quality is judged.
    pub fn quality_settings(&self) -> &QualitySettings {
        &self.quality_settings
    }

    /// The flows the decision engine runs.
    pub fn flows(&self) -> &frontline_flows::FlowSet {
        self.engine.flows()
    }

    /// The backend actions flows may call.
    pub fn action_catalog(&self) -> Vec<frontline_domain::ActionSpec> {
        self.actions.catalog()
    }

    /// When the agent hands a conversation to a person.
    pub fn escalation_policy(&self) -> &frontline_escalation::EscalationPolicy {
        &self.escalation.policy
    }

    /// The agent's metrics (Prometheus).
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Where answers being written are published for channels that stream
    /// ([`frontline_domain::Channel::streams_replies`]); subscribe to show them as they form.
    pub fn drafts(&self) -> &drafts::Drafts {
        &self.drafts
    }

    /// Ask this directory (the business system's customer records) which handles belong
    /// together, so an email address and the phone number on one account are one customer from
    /// their first message on either channel.
    pub fn with_directory(
        mut self,
        directory: Arc<dyn frontline_domain::IdentityDirectory>,
    ) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Queue every handoff for this helpdesk (delivered by `frontline_handoff::dispatch`), and
    /// release conversations there too.
    pub fn with_handoff_target(
        mut self,
        target: Arc<dyn frontline_handoff::HandoffTarget>,
    ) -> Self {
        self.handoff_target = Some(target);
        self
    }

    /// Escalate by these settings (policy, routing, what the customer is told) instead of the
    /// defaults.
    pub fn with_escalation(mut self, escalation: EscalationSettings) -> Self {
        self.escalation = escalation;
        self
    }

    /// Answer informational questions from this knowledge base (without one, they are not
    /// understood and the customer is offered what the flows can do).
    pub fn with_knowledge(mut self, knowledge: Arc<frontline_knowledge::KnowledgeBase>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// Write knowledge answers with this writer (an LLM) instead of quoting the best passage;
    /// when it fails, the extractive answer is given.
    pub fn with_answer_writer(
        mut self,
        writer: Arc<dyn frontline_understanding::llm::AnswerWriter>,
    ) -> Self {
        self.answer_writer = Some(writer);
        self
    }

    /// Replace the clock (tests, evals, replays).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The knowledge base it answers from, if any.
    pub fn knowledge(&self) -> Option<&Arc<frontline_knowledge::KnowledgeBase>> {
        self.knowledge.as_ref()
    }

    /// The helpdesk handoffs go to, if one is configured.
    pub fn handoff_target(&self) -> Option<Arc<dyn frontline_handoff::HandoffTarget>> {
        self.handoff_target.clone()
    }

    /// Now, by the agent's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The store this agent writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Run one turn for an inbound message.
    pub async fn handle(&self, message: InboundMessage) -> Result<TurnOutcome, AgentError> {
        let span = tracing::info_span!(
            "turn",
            channel = %message.channel,
            channel_message_id = %message.channel_message_id,
            customer_id = field::Empty,
            conversation_id = field::Empty,
        );
        self.handle_in_span(message).instrument(span).await
    }

    async fn handle_in_span(&self, message: InboundMessage) -> Result<TurnOutcome, AgentError> {
        let (channel, id) = (message.channel, message.channel_message_id.clone());
        if let Some(done) = self.claim(&message).await? {
            return Ok(done);
        }
        let result = self.run_turn(&message).await;
        if let Err(e) = &result {
            self.metrics.turn_failed();
            tracing::error!(error = %e, "turn failed; releasing the message for redelivery");
            if let Err(release) = self.store.release_inbound(channel, &id).await {
                tracing::error!(error = %release, "could not release the message; it waits for its lease");
            }
        }
        result
    }

    /// `Some(outcome)` if this message was already handled; `None` if this call must run it.
    async fn claim(&self, message: &InboundMessage) -> Result<Option<TurnOutcome>, AgentError> {
        let deadline = tokio::time::Instant::now() + self.config.duplicate_wait;
        loop {
            let claim = self
                .store
                .claim_inbound(
                    message.channel,
                    &message.channel_message_id,
                    self.config.inbox_lease,
                    (self.clock)(),
                )
                .await?;
            match claim {
                InboxClaim::Fresh => return Ok(None),
                InboxClaim::Done { result, .. } => {
                    let mut outcome: TurnOutcome = serde_json::from_value(result).map_err(|e| {
                        AgentError::CorruptResult(message.channel_message_id.clone(), e.to_string())
                    })?;
                    outcome.duplicate = true;
                    self.metrics.duplicate(message.channel);
                    tracing::info!(
                        "duplicate delivery: answering with the first delivery's result"
                    );
                    return Ok(Some(outcome));
                }
                InboxClaim::InProgress if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                InboxClaim::InProgress => {
                    return Err(AgentError::InProgress {
                        channel: message.channel,
                        channel_message_id: message.channel_message_id.clone(),
                    })
                }
            }
        }
    }

    /// Run a claimed message's turn and commit everything it wrote, with the inbox record that
    /// it ran, in one transaction, while the customer's turns are locked.
    async fn run_turn(&self, message: &InboundMessage) -> Result<TurnOutcome, AgentError> {
        let started = std::time::Instant::now();
        let now = (self.clock)();
        // Intake: who is writing, and the conversation their message joins.
        let identify = self.identify();
        let identities = identify.vouched_identities(message).await?;
        let resolution = self
            .store
            .resolve_customer(&identities, message.display_name.as_deref(), now)
            .await?;
        let mut customer = resolution.customer;
        let assured = identify
            .assure_identities(&mut customer, &identities, message.assurance)
            .await?;
        tracing::Span::current().record("customer_id", field::display(customer.id));
        let _turn = self.conversations.lock_customer(customer.id).await;
        let conversation = self
            .store
            .open_conversation(
                customer.id,
                message.channel,
                message.conversation_hint,
                self.config.continuity_window,
                now,
            )
            .await?;
        tracing::Span::current().record("conversation_id", field::display(conversation.id));
        let mut operation = self.conversations.begin(&conversation, &self.clock).await?;
        // A conversation with nothing in its log yet is one this message opens.
        let opens_conversation = operation.log.is_empty();
        for merge in resolution.merged {
            operation.pending.log(EventKind::CustomersMerged {
                survivor: merge.survivor,
                merged: merge.merged,
                reason: merge.reason,
            });
        }
        identify::record_assurance(
            &operation.pending,
            &operation.log,
            message,
            &identities,
            &assured,
        );
        let outcome = self
            .turn(
                message,
                &customer,
                &identities[0],
                &conversation,
                &mut operation,
            )
            .await?;
        // Commit: the turn's writes and the inbox record that it ran, at once.
        let done = Write::InboxDone {
            channel: message.channel,
            channel_message_id: message.channel_message_id.clone(),
            conversation_id: Some(outcome.conversation_id),
            result: serde_json::to_value(&outcome).expect("outcome serialises"),
            at: (self.clock)(),
        };
        let appended = self.conversations.commit(operation, Some(done)).await?;
        self.metrics
            .turn(message.channel, started.elapsed().as_secs_f64(), &appended);
        if opens_conversation {
            // A new conversation: the customer's previous one, if resolved within the week,
            // was not resolved for good.
            if let Err(e) = self.score_repeat_contact(&conversation, now).await {
                tracing::warn!(error = %e, "the previous conversation's quality could not be re-scored");
            }
        }
        Ok(outcome)
    }

    /// The turn's stages after intake, each handing its value to the next; every write goes to
    /// the operation's pending writes.
    async fn turn(
        &self,
        message: &InboundMessage,
        customer: &frontline_domain::Customer,
        resolved_by: &frontline_domain::Identity,
        conversation: &frontline_domain::Conversation,
        operation: &mut Operation,
    ) -> Result<TurnOutcome, AgentError> {
        let (history, pending) = (&mut operation.log, &operation.pending);
        tracing::debug!(sender = %message.sender, text = %message.text, "message received");
        let before = language::of_conversation(history.iter());
        let heard = language::hear(
            &self.detector,
            &message.text,
            before.as_deref(),
            frontline_flows::wording::DEFAULT_LOCALE,
        );
        pending.log(EventKind::MessageReceived {
            channel: message.channel,
            channel_message_id: message.channel_message_id.clone(),
            sender: message.sender.clone(),
            text: message.text.clone(),
            thread: message.thread.clone(),
            language: heard.language.clone(),
            prefers: heard.prefers.clone(),
        });
        // The language the conversation speaks: its flows and wording in it, or a person who
        // speaks it.
        let appended = pending.appended();
        let speaking = language::speaking(
            history.iter().chain(&appended),
            &self.engine.flows().locales(),
            &heard,
        );
        let (engine, unserved) = match &speaking {
            language::Speaking::Served(l) => (self.engine.in_locale(l), None),
            language::Speaking::Unserved(l) => (self.engine.in_locale(l), Some(l.clone())),
        };
        let engine = &engine;
        let after = language::of_conversation(history.iter().chain(&appended));
        if let Some(to) = after.filter(|a| Some(a) != before.as_ref()) {
            let reason = if heard.prefers.as_deref() == Some(to.as_str()) {
                "the customer asked for it"
            } else if before.is_none() {
                "the customer's first message in a language"
            } else {
                "the customer's recent messages"
            };
            tracing::info!(from = ?before, to = %to, reason, "conversation language");
            pending.log(EventKind::LanguageChanged {
                from: before,
                to,
                reason: reason.into(),
            });
        }
        let spoken = match &speaking {
            language::Speaking::Served(l) | language::Speaking::Unserved(l) => l.clone(),
        };
        let stack = history::flow_stack(history);
        let mut outcome = TurnOutcome {
            conversation_id: conversation.id,
            customer_id: customer.id,
            status: conversation.status,
            replies: vec![],
            commands: vec![],
            active_flow: stack.last().cloned(),
            duplicate: false,
        };
        if conversation.status != ConversationStatus::Bot {
            // A human has it: record, stay silent on every channel.
            tracing::info!(status = %conversation.status, "conversation is not the bot's; no reply");
            return Ok(outcome);
        }
        let to = || survey::Addressee {
            channel: message.channel,
            recipient: &message.sender,
            thread: &message.thread,
        };
        let surveyor = self.surveyor(engine);
        let answered = if unserved.is_none() {
            surveyor.answer(pending, history, to(), &message.text)
        } else {
            None
        };
        if let Some((text, asked)) = answered {
            // The customer answered the survey: the next question, or thanks.
            let outbox_id = asked.unwrap_or_else(|| self.say(pending, message, &text, None));
            outcome.replies.push(Reply { text, outbox_id });
            self.scorer()
                .record(pending, history, "survey_answered", None);
            return Ok(outcome);
        }
        let escalator = self.escalator(engine, Some(&spoken), unserved.as_deref());
        let mut decision = match unserved.as_deref() {
            // Nobody here speaks it: the escalation policy hands it to a person who does.
            Some(code) => {
                let handoff = frontline_domain::ScoredCommand::new(
                    frontline_domain::Command::HumanHandoff {
                        reason: format!(
                            "the customer writes in {}",
                            frontline_language::name(code)
                        ),
                    },
                    1.0,
                );
                pending.log(EventKind::CommandsUnderstood {
                    commands: vec![handoff.clone()],
                    source: "language".into(),
                    sentiment: Some(
                        frontline_understanding::sentiment::score(&message.text).compound,
                    ),
                    llm: None,
                });
                outcome.commands = vec![handoff];
                decide::Decision::unchanged(stack.clone())
            }
            // "Can we speak English?" and no more: say so, in it.
            None if heard.prefers.as_deref() == Some(spoken.as_str())
                && frontline_language::language_words(&message.text).len() <= 8 =>
            {
                let mut decision = decide::Decision::unchanged(stack.clone());
                decision
                    .texts
                    .push(engine.flows().wording().say("language_switched", &[]));
                decision
            }
            None => {
                self.interpret_and_decide(
                    message,
                    customer,
                    resolved_by,
                    conversation,
                    history,
                    pending,
                    &stack,
                    engine,
                    &spoken,
                    &mut outcome,
                )
                .await
            }
        };

        // Escalate: the policy, beyond what the flows decided.
        escalator
            .apply_policy(pending, customer, history, &stack, &mut decision)
            .await?;
        if decision.stack != stack || !decision.ran.is_empty() {
            pending.log(EventKind::FlowUpdated {
                stack: decision.stack.clone(),
                ran: std::mem::take(&mut decision.ran),
            });
        }
        outcome.active_flow = decision.stack.last().cloned();

        // Compose the one reply, and queue it.
        let text = compose::compose(&decision, engine.flows(), || {
            escalator.handoff_message(message.channel, pending.now())
        });
        let asked = decision.asked.as_ref().map(|(slot, _)| slot.clone());
        let outbox_id = self.say(pending, message, &text, asked);
        outcome.replies.push(Reply { text, outbox_id });
        let resolution = decision
            .handoff
            .is_none()
            .then(|| {
                survey::resolution(
                    pending,
                    history,
                    &outcome.commands,
                    decision.stack.is_empty(),
                )
            })
            .flatten();
        surveyor.after_bot_turn(pending, history, to(), resolution);

        if let Some(handoff) = decision.handoff {
            pending.change_status(ConversationStatus::HandedOff);
            tracing::info!(trigger = %handoff.trigger, "conversation handed off");
            escalator
                .summarise_handoff(customer, pending, history, message.channel, handoff)
                .await?;
            outcome.status = ConversationStatus::HandedOff;
        }
        escalator.record_tier(pending, history);
        // The quality score, when the turn resolved what the customer came for.
        if resolution.is_some() {
            self.scorer().record(pending, history, "resolved", None);
        }
        Ok(outcome)
    }

    /// Interpret the message and decide what the flows do with it, in `engine`'s language.
    #[allow(clippy::too_many_arguments)]
    async fn interpret_and_decide(
        &self,
        message: &InboundMessage,
        customer: &frontline_domain::Customer,
        resolved_by: &frontline_domain::Identity,
        conversation: &frontline_domain::Conversation,
        history: &[Event],
        pending: &pending::Pending,
        stack: &[FlowFrame],
        engine: &Engine,
        locale: &str,
        outcome: &mut TurnOutcome,
    ) -> decide::Decision {
        let today = pending.now().date_naive();
        // Interpret.
        let interpreted = self
            .interpreter(engine, locale)
            .interpret(message, history, stack, today)
            .await;
        pending.log(interpreted.understood);
        let knowledge_answer = interpreted.knowledge.and_then(|(answer, event)| {
            pending.log(event);
            answer
        });
        outcome.commands = interpreted.commands.understood;

        // Decide.
        let actions = TurnActions {
            backend: self.actions.as_ref(),
            timeout: self.config.action_timeout,
            verifier: self.verifier(engine),
            asker: verify::Asker {
                pending,
                customer,
                sender: resolved_by,
            },
        };
        let turn = decide::TurnContext {
            conversation_id: conversation.id,
            pending,
            channel: message.channel,
            channel_message_id: &message.channel_message_id,
            opening: &interpreted.opening,
            customer,
            today,
        };
        let mut decision = decide::decide(
            engine,
            &actions,
            turn,
            stack.to_vec(),
            &interpreted.commands.for_engine,
            knowledge_answer,
        )
        .await;
        if let Some(told) = memory::telling(&interpreted.carried) {
            decision.texts.insert(0, told);
        }
        decision
    }

    /// Queue `text` as the reply to `message`, and log it (with the slot it asks for).
    fn say(
        &self,
        pending: &pending::Pending,
        message: &InboundMessage,
        text: &str,
        asked: Option<String>,
    ) -> frontline_domain::OutboxId {
        let reply = OutboundMessage {
            conversation_id: pending.conversation_id(),
            channel: message.channel,
            recipient: message.sender.clone(),
            text: text.to_string(),
            in_reply_to: Some(message.channel_message_id.clone()),
            thread: message.thread.clone(),
            choices: vec![],
            survey: None,
        };
        let outbox_id = pending.reply(reply, message.channel.replies_in_response());
        pending.log(EventKind::ReplySent {
            channel: message.channel,
            text: text.to_string(),
            outbox_id,
            asked,
        });
        outbox_id
    }

    /// A reply could not reach the customer on `channel` and never will by retrying (WhatsApp's
    /// 24-hour window closed with no template configured, say): a person must follow up another
    /// way. The conversation's flows end `escalated`, it is handed off with a summary whose
    /// reason says what could not be delivered, and the bot stays silent from then on. Returns
    /// `false` (and does nothing) when a person already has the conversation.
    pub async fn escalate_undeliverable(
        &self,
        conversation_id: ConversationId,
        channel: frontline_domain::Channel,
        reason: &str,
    ) -> Result<bool, AgentError> {
        let (_turn, conversation) = self
            .conversations
            .lock_conversation(conversation_id)
            .await?;
        if conversation.status != ConversationStatus::Bot {
            return Ok(false);
        }
        let customer = self.store.customer(conversation.customer_id).await?;
        let operation = self.conversations.begin(&conversation, &self.clock).await?;
        let spoken = language::of_conversation(&operation.log);
        let engine = self.engine_for(spoken.as_deref());
        self.escalator(&engine, spoken.as_deref(), None)
            .undeliverable(
                &operation.pending,
                &operation.log,
                &customer,
                channel,
                reason,
            )
            .await?;
        self.conversations.commit(operation, None).await?;
        Ok(true)
    }

    /// Give a handed-off conversation back to the bot (the helpdesk's "release"), and tell the
    /// helpdesk through the handoff outbox. Returns the status it had; releasing a
    /// conversation the bot already has changes nothing.
    pub async fn release(
        &self,
        conversation_id: ConversationId,
    ) -> Result<ConversationStatus, AgentError> {
        let (_turn, conversation) = self
            .conversations
            .lock_conversation(conversation_id)
            .await?;
        if conversation.status != ConversationStatus::HandedOff {
            return Ok(conversation.status);
        }
        let operation = self.conversations.begin(&conversation, &self.clock).await?;
        let from = operation.pending.change_status(ConversationStatus::Bot);
        self.escalator(&self.engine, None, None)
            .queue_releases(&operation.pending)
            .await?;
        self.scorer()
            .record(&operation.pending, &operation.log, "resolved", None);
        self.conversations.commit(operation, None).await?;
        tracing::info!(%conversation_id, "conversation released back to the bot");
        Ok(from)
    }

    /// Record what a human agent wrote in a conversation. A reply (not a private note) is also
    /// queued for the customer on the channel they last wrote from, unless that channel is a
    /// helpdesk that delivered it itself.
    pub async fn record_human_message(
        &self,
        conversation_id: ConversationId,
        author: &str,
        text: &str,
        private: bool,
    ) -> Result<Event, AgentError> {
        let (_turn, conversation) = self
            .conversations
            .lock_conversation(conversation_id)
            .await?;
        let operation = self.conversations.begin(&conversation, &self.clock).await?;
        let event = person_wrote(&operation.pending, &operation.log, author, text, private);
        self.conversations.commit(operation, None).await?;
        Ok(event)
    }

    /// Apply what a helpdesk reported about a handed-off conversation's ticket:
    /// - a person's reply is logged and queued for the customer on the channel they last used
    ///   (a private note is only logged);
    /// - a solved ticket gives the conversation back to the bot and asks the survey, resolved
    ///   by a person, on that channel (after its delay);
    /// - a reopened ticket gives it to a person again, withdrawing a survey not yet answered;
    /// - a hand-back without solving releases it ([`Agent::release`]).
    ///
    /// `event_id` makes a redelivery a [`HelpdeskApplied::Duplicate`]; a status change `at` a
    /// time before the last one applied is [`HelpdeskApplied::Stale`]. Both are recorded in
    /// the log as `helpdesk_updated`, applied or not.
    pub async fn apply_helpdesk(
        &self,
        conversation_id: ConversationId,
        helpdesk: &str,
        event_id: Option<&str>,
        at: Option<frontline_domain::Timestamp>,
        change: frontline_domain::HelpdeskChange,
    ) -> Result<HelpdeskApplied, AgentError> {
        use frontline_domain::HelpdeskChange;
        if change == HelpdeskChange::ReturnedToBot && event_id.is_none() {
            return Ok(match self.release(conversation_id).await? {
                ConversationStatus::HandedOff => HelpdeskApplied::Applied,
                _ => HelpdeskApplied::Unchanged,
            });
        }
        let (_turn, conversation) = self
            .conversations
            .lock_conversation(conversation_id)
            .await?;
        let operation = self.conversations.begin(&conversation, &self.clock).await?;
        let pending = &operation.pending;
        let at = at.unwrap_or_else(|| pending.now());
        let event_id = event_id.map(str::to_string);
        if let Some(event_id) = &event_id {
            if let Some(verdict) =
                helpdesk::verdict(&operation.log, helpdesk, event_id, &change, at)
            {
                tracing::info!(%conversation_id, helpdesk, event_id, ?verdict, "helpdesk event not applied");
                if verdict == HelpdeskApplied::Stale {
                    pending.log(EventKind::HelpdeskUpdated {
                        helpdesk: helpdesk.to_string(),
                        event_id: event_id.clone(),
                        change: change.as_str().to_string(),
                        at,
                        applied: false,
                    });
                    self.conversations.commit(operation, None).await?;
                }
                return Ok(verdict);
            }
        }
        let applied = match &change {
            HelpdeskChange::PersonWrote {
                author,
                text,
                private,
            } => {
                person_wrote(pending, &operation.log, author, text, *private);
                true
            }
            HelpdeskChange::Solved if conversation.status == ConversationStatus::HandedOff => {
                pending.change_status(ConversationStatus::Bot);
                self.survey_after_person(pending, &operation.log);
                true
            }
            HelpdeskChange::Reopened if conversation.status == ConversationStatus::Bot => {
                pending.change_status(ConversationStatus::HandedOff);
                // A survey not yet due is withdrawn; one due is the outbox worker's to hold
                // back (it sends none while a person has the conversation).
                if let survey::Standing::Awaiting {
                    question,
                    outbox_id,
                    due,
                } = survey::standing(operation.log.iter().chain(&pending.appended()))
                {
                    if due > pending.now() {
                        let reason = "the ticket was reopened";
                        pending.withdraw(outbox_id, reason);
                        pending.log(EventKind::SurveyWithdrawn {
                            question,
                            outbox_id,
                            reason: reason.into(),
                        });
                    }
                }
                true
            }
            HelpdeskChange::ReturnedToBot
                if conversation.status == ConversationStatus::HandedOff =>
            {
                pending.change_status(ConversationStatus::Bot);
                self.escalator(&self.engine, None, None)
                    .queue_releases(pending)
                    .await?;
                true
            }
            _ => false,
        };
        if let Some(event_id) = event_id {
            pending.log(EventKind::HelpdeskUpdated {
                helpdesk: helpdesk.to_string(),
                event_id,
                change: change.as_str().to_string(),
                at,
                applied,
            });
        }
        // A person resolved it (solved, or handed back): scored by the same rubric.
        let resolved = matches!(
            change,
            HelpdeskChange::Solved | HelpdeskChange::ReturnedToBot
        );
        if applied && resolved {
            self.scorer()
                .record(pending, &operation.log, "resolved", None);
        }
        self.conversations.commit(operation, None).await?;
        tracing::info!(%conversation_id, helpdesk, change = change.as_str(), applied, "helpdesk event");
        Ok(if applied {
            HelpdeskApplied::Applied
        } else {
            HelpdeskApplied::Unchanged
        })
    }

    /// A person resolved the conversation: the survey, on the channel the customer last wrote
    /// from, after that channel's delay (when it is on there and was not asked before).
    fn survey_after_person(&self, pending: &pending::Pending, log: &[Event]) {
        let Some((channel, recipient, thread)) = log.iter().rev().find_map(|e| match &e.kind {
            EventKind::MessageReceived {
                channel,
                sender,
                thread,
                ..
            } => Some((*channel, sender, thread)),
            _ => None,
        }) else {
            return;
        };
        let Some(on) = self.surveys.on(channel) else {
            return;
        };
        if survey::standing(log.iter().chain(&pending.appended())) != survey::Standing::NotAsked {
            return;
        }
        let due = pending.now() + chrono::Duration::seconds(on.delay_seconds as i64);
        let engine = self.engine_for(language::of_conversation(log).as_deref());
        self.surveyor(&engine).ask(
            pending,
            frontline_domain::SurveyQuestion::Csat,
            survey::Addressee {
                channel,
                recipient,
                thread,
            },
            "person",
            due,
        );
    }

    /// The intake stage's parts.
    fn identify(&self) -> Identify<'_> {
        Identify {
            store: &self.store,
            directory: self.directory.as_deref(),
        }
    }

    /// The engine speaking `language` when the flows have a translation for it, else the
    /// default locale's.
    fn engine_for(&self, language: Option<&str>) -> Engine {
        language.map_or_else(|| self.engine.clone(), |l| self.engine.in_locale(l))
    }

    /// The interpret stage's parts.
    fn interpreter<'a>(&'a self, engine: &'a Engine, locale: &'a str) -> Interpreter<'a> {
        let default_locale = self.engine.flows().locales()[0];
        Interpreter {
            understanding: self.understanding.as_ref(),
            desk: self.knowledge.as_deref().map(|base| knowledge::Desk {
                base,
                writer: self.answer_writer.as_deref(),
                metrics: &self.metrics,
                drafts: &self.drafts,
                help_centre: self.help_centre.as_deref(),
                locale,
                default_locale,
                fallback_note: (locale != default_locale)
                    .then(|| engine.flows().wording().say("knowledge_in_default", &[])),
                source_label: (locale != default_locale)
                    .then(|| engine.flows().wording().say("source", &[])),
            }),
            flows: engine.flows(),
            drafts: &self.drafts,
            recent_utterances: self.config.recent_utterances,
            language: (locale != default_locale).then_some(locale),
        }
    }

    /// `conversation` just opened: the customer's previous conversation, if a score stored it
    /// as resolved and its last activity is within the repeat-contact window, is scored again
    /// with the repeat contact (the customer's turn lock is held).
    async fn score_repeat_contact(
        &self,
        conversation: &frontline_domain::Conversation,
        now: frontline_domain::Timestamp,
    ) -> Result<(), AgentError> {
        let window = Duration::days(frontline_analytics::REPEAT_CONTACT_DAYS);
        let previous = self
            .store
            .conversations_of(conversation.customer_id)
            .await?
            .into_iter()
            .filter(|c| c.id != conversation.id && c.last_activity_at + window >= now)
            .max_by_key(|c| c.last_activity_at);
        let Some(previous) = previous else {
            return Ok(());
        };
        let operation = self.conversations.begin(&previous, &self.clock).await?;
        let resolved = frontline_analytics::quality::stored(&operation.log)
            .is_some_and(|q| q.verdict("resolved") == Some(frontline_domain::Verdict::Met));
        if !resolved {
            return Ok(());
        }
        self.scorer().record(
            &operation.pending,
            &operation.log,
            "repeat_contact",
            Some(conversation.id),
        );
        self.conversations.commit(operation, None).await?;
        Ok(())
    }

    /// The email survey's one-click links, when a public URL and a link secret are configured.
    fn survey_links(&self) -> Option<survey::Links<'_>> {
        let secret = self
            .surveys
            .link_secret
            .as_deref()
            .filter(|s| !s.is_empty())?;
        let base = self.escalation.public_url.as_str();
        (!base.is_empty()).then_some(survey::Links {
            base,
            secret: secret.as_bytes(),
        })
    }

    /// A customer clicked a one-click answer link of a survey email: check its signature, and
    /// record the answer when that question is the one waiting (the satisfaction question
    /// asked and not yet answered, or the effort question once satisfaction is answered). The
    /// quality score is stored again with it.
    pub async fn answer_survey_link(
        &self,
        conversation_id: ConversationId,
        question: frontline_domain::SurveyQuestion,
        score: u8,
        signature: &str,
    ) -> Result<SurveyLinkAnswer, AgentError> {
        use frontline_domain::SurveyQuestion;
        let Some(links) = self.survey_links() else {
            return Ok(SurveyLinkAnswer::Invalid);
        };
        if !(1..=5).contains(&score)
            || !survey::link_signature_ok(links.secret, conversation_id, question, signature)
        {
            return Ok(SurveyLinkAnswer::Invalid);
        }
        let (_turn, conversation) = self
            .conversations
            .lock_conversation(conversation_id)
            .await?;
        let operation = self.conversations.begin(&conversation, &self.clock).await?;
        let log = &operation.log;
        let answered = |q: SurveyQuestion| {
            log.iter().any(
                |e| matches!(&e.kind, EventKind::SurveyAnswered { question, .. } if *question == q),
            )
        };
        if answered(question) {
            return Ok(SurveyLinkAnswer::AlreadyAnswered);
        }
        let waiting = match (question, survey::standing(log.iter())) {
            (_, survey::Standing::Awaiting { question: q, .. }) => q == question,
            (SurveyQuestion::Effort, _) => answered(SurveyQuestion::Csat),
            _ => false,
        };
        if !waiting {
            return Ok(SurveyLinkAnswer::NotAsked);
        }
        let pending = &operation.pending;
        pending.log(EventKind::SurveyAnswered {
            question,
            score,
            channel: frontline_domain::Channel::Email,
            comment: None,
        });
        self.scorer().record(pending, log, "survey_answered", None);
        let next = question
            .next()
            .filter(|n| !answered(*n))
            .map(|n| (n, links.line(conversation_id, n)));
        self.conversations.commit(operation, None).await?;
        Ok(SurveyLinkAnswer::Recorded { next })
    }

    /// The quality scorer's parts.
    fn scorer(&self) -> quality::Scorer<'_> {
        quality::Scorer {
            settings: &self.quality_settings,
            notice: &self.escalation.notice,
        }
    }

    /// The survey's parts.
    fn surveyor<'a>(&'a self, engine: &'a Engine) -> survey::Surveyor<'a> {
        survey::Surveyor {
            settings: &self.surveys,
            wording: engine.flows().wording(),
            links: self.survey_links(),
        }
    }

    /// The escalate stage's parts, for a conversation in `language` (its summary's locale),
    /// which the deployment does not serve when `unserved` says so.
    fn escalator<'a>(
        &'a self,
        engine: &'a Engine,
        language: Option<&'a str>,
        unserved: Option<&'a str>,
    ) -> Escalator<'a> {
        Escalator {
            store: &self.store,
            engine,
            language,
            unserved,
            settings: &self.escalation,
            target: self.handoff_target.as_ref().map(|t| t.name()),
        }
    }

    /// What answers a `verify` step's calls.
    fn verifier<'a>(&'a self, engine: &'a Engine) -> verify::Verifier<'a> {
        verify::Verifier {
            store: &self.store,
            directory: self.directory.as_deref(),
            settings: &self.verification,
            wording: engine.flows().wording(),
        }
    }
}

/// Log what a person wrote; a reply (not a private note) is queued for the customer on the
/// channel they last wrote from, unless that channel is a helpdesk that delivered it itself.
fn person_wrote(
    pending: &pending::Pending,
    log: &[Event],
    author: &str,
    text: &str,
    private: bool,
) -> Event {
    let event = pending.log(EventKind::HumanMessage {
        author: author.to_string(),
        text: text.to_string(),
        private,
    });
    if !private {
        if let Some(reply) = history::reply_to_last_message(log, text) {
            pending.reply(reply, false);
        }
    }
    event
}
