//! The turn pipeline: one inbound message in, replies (and events) out.
//!
//! inbox claim (dedupe) → identity resolution → the customer's open conversation, whatever the
//! channel → understand → decide → act → escalate → reply through the outbox. Every step appends
//! to the conversation's event log, and the dialogue state (the flow stack) is read back from it,
//! so a conversation continues on any channel and any replica.

mod commands;
mod decide;
pub mod drafts;
mod escalate;
mod intake;
mod knowledge;
pub mod locks;
mod logs;
mod memory;
pub mod metrics;
mod operation;
mod pending;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use escalate::EscalationSettings;
pub use intake::{Intake, IntakePass};
pub use verify::VerificationSettings;

use chrono::Duration;
use frontline_domain::{
    ActionBackend, Channel, Command, ConversationId, ConversationStatus, CustomerId,
    EscalationTrigger, Event, EventKind, FlowFrame, InboundMessage, OutboundMessage, OutboxId,
    ScoredCommand, Timestamp,
};
use frontline_flows::Engine;
use frontline_store::{InboxClaim, Store, StoreError, Write};
use frontline_understanding::{ActiveFlow, DialogueContext, Speaker, Understanding, Utterance};
use pending::Pending;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{field, Instrument};

/// What can stop a turn.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store failed; the message is released so a redelivery runs the turn again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The same message is being processed by another request right now.
    #[error("message {channel_message_id} on {channel} is still being processed; retry shortly")]
    InProgress {
        /// The channel.
        channel: Channel,
        /// The provider's message id.
        channel_message_id: String,
    },
    /// A stored turn result could not be read back.
    #[error("stored result of message {0} is unreadable: {1}")]
    CorruptResult(String, String),
}

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

/// A source of "now"; injectable so tests and evals are deterministic.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

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
    config: AgentConfig,
    clock: Clock,
    locks: locks::CustomerLocks,
    logs: logs::Logs,
    knowledge: Option<Arc<frontline_knowledge::KnowledgeBase>>,
    answer_writer: Option<Arc<dyn frontline_understanding::llm::AnswerWriter>>,
    escalation: EscalationSettings,
    handoff_target: Option<Arc<dyn frontline_handoff::HandoffTarget>>,
    directory: Option<Arc<dyn frontline_domain::IdentityDirectory>>,
    drafts: drafts::Drafts,
    metrics: Arc<metrics::Metrics>,
    verification: VerificationSettings,
}

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
            store,
            understanding,
            actions,
            engine,
            logs: logs::Logs::new(config.kept_log_events),
            config,
            clock: Arc::new(chrono::Utc::now),
            locks: locks::CustomerLocks::default(),
            knowledge: None,
            answer_writer: None,
            escalation: EscalationSettings::default(),
            handoff_target: None,
            directory: None,
            drafts: drafts::Drafts::default(),
            metrics: Arc::default(),
            verification: VerificationSettings::default(),
        }
    }

    /// One-time codes by these settings (expiry, attempts, lock-out, rate limits) instead of
    /// the defaults.
    pub fn with_verification(mut self, verification: VerificationSettings) -> Self {
        self.verification = verification;
        self
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
        let identities = self.vouched_identities(message).await?;
        let resolution = self
            .store
            .resolve_customer(&identities, message.display_name.as_deref(), now)
            .await?;
        let mut customer = resolution.customer;
        let assured = self
            .assure_identities(&mut customer, &identities, message.assurance)
            .await?;
        tracing::Span::current().record("customer_id", field::display(customer.id));
        let _turn = self.locks.lock(customer.id).await;
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
        let mut operation = self.begin(&conversation).await?;
        for merge in resolution.merged {
            self.log(
                &operation.pending,
                EventKind::CustomersMerged {
                    survivor: merge.survivor,
                    merged: merge.merged,
                    reason: merge.reason,
                },
            );
        }
        self.record_assurance(
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
                &mut operation.log,
                &operation.pending,
            )
            .await?;
        let done = Write::InboxDone {
            channel: message.channel,
            channel_message_id: message.channel_message_id.clone(),
            conversation_id: Some(outcome.conversation_id),
            result: serde_json::to_value(&outcome).expect("outcome serialises"),
            at: (self.clock)(),
        };
        let appended = self.commit(operation, Some(done)).await?;
        self.metrics
            .turn(message.channel, started.elapsed().as_secs_f64(), &appended);
        Ok(outcome)
    }

    /// The turn itself: every write goes to `pending`.
    async fn turn(
        &self,
        message: &InboundMessage,
        customer: &frontline_domain::Customer,
        resolved_by: &frontline_domain::Identity,
        conversation: &frontline_domain::Conversation,
        history: &mut Vec<Event>,
        pending: &Pending,
    ) -> Result<TurnOutcome, AgentError> {
        tracing::debug!(sender = %message.sender, text = %message.text, "message received");
        self.log(
            pending,
            EventKind::MessageReceived {
                channel: message.channel,
                channel_message_id: message.channel_message_id.clone(),
                sender: message.sender.clone(),
                text: message.text.clone(),
                thread: message.thread.clone(),
            },
        );
        let stack = flow_stack(history);
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

        let context = DialogueContext {
            channel: message.channel,
            active_flow: stack.last().map(|f| ActiveFlow {
                flow_id: f.flow_id.clone(),
                requested_slot: f.requested_slot.clone(),
                slots: f.slots.clone(),
                offered: f.offered.clone(),
            }),
            recent: recent_utterances(history, self.config.recent_utterances),
            today: (self.clock)().date_naive(),
            offered_flows: offered_flows(history),
        };
        // An answer the understanding writes itself is shown piece by piece while it does, on
        // a channel that shows replies as they form (the understanding knows the channel).
        let drafts = self.drafts();
        let mut on_answer = |piece: &str| drafts.publish(&message.sender, piece);
        let understood = self
            .understanding
            .interpret_streaming(&message.text, &context, &mut on_answer)
            .await;
        let (understood, mut source, llm, drafted) = match understood {
            Ok(understood) => (
                understood.commands,
                understood.source,
                understood.llm,
                understood.answer,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "understanding failed; treating the message as not understood");
                (
                    vec![ScoredCommand::new(
                        Command::CannotHandle {
                            reason: e.to_string(),
                        },
                        0.0,
                    )],
                    "fallback".into(),
                    None,
                    None,
                )
            }
        };
        let sentiment = frontline_understanding::sentiment::score(&message.text).compound;
        let consulted = knowledge::consult(self, message, &understood, drafted).await;
        if consulted.is_some() {
            source.push_str("+knowledge");
        }
        // Flows that remember a slot start with what the customer already said.
        let running: Vec<String> = stack.iter().map(|f| f.flow_id.clone()).collect();
        let carried = memory::carry_over(
            &understood,
            &running,
            self.engine.flows(),
            &memory::remembered(history),
        );
        let completed =
            commands::complete(understood, consulted.as_ref().map(|c| &c.verdict), &carried);
        let commands = completed.understood;
        self.log(
            pending,
            EventKind::CommandsUnderstood {
                commands: verify::redacted(&commands),
                source,
                sentiment: Some(sentiment),
                llm,
            },
        );
        let knowledge_answer = match consulted {
            Some(consulted) => {
                let answer = consulted.answer.clone();
                self.log(pending, consulted.event);
                answer
            }
            None => None,
        };
        outcome.commands = commands.clone();

        let opening = match offer_question(history, &commands) {
            Some(question) => format!("{question}\n{}", message.text),
            None => message.text.clone(),
        };
        let turn = decide::TurnContext {
            conversation_id: conversation.id,
            pending,
            channel: message.channel,
            channel_message_id: &message.channel_message_id,
            opening: &opening,
            customer,
            resolved_by,
        };
        let mut decision = decide::decide(
            self,
            turn,
            stack.clone(),
            &completed.for_engine,
            knowledge_answer,
        )
        .await?;
        if let Some(told) = memory::telling(&carried) {
            decision.texts.insert(0, told);
        }
        self.apply_policy(pending, customer, history, &stack, &mut decision)
            .await?;
        if decision.stack != stack || !decision.ran.is_empty() {
            self.log(
                pending,
                EventKind::FlowUpdated {
                    stack: decision.stack.clone(),
                    ran: std::mem::take(&mut decision.ran),
                },
            );
        }
        outcome.active_flow = decision.stack.last().cloned();

        let text = if decision.handoff.is_some() {
            let mut parts = decision.texts.clone();
            parts.push(self.handoff_message(message.channel));
            parts.join("\n\n")
        } else if decision.texts.is_empty() {
            decide::not_understood(self.engine.flows())
        } else {
            decision.texts.join("\n\n")
        };
        let reply = OutboundMessage {
            conversation_id: conversation.id,
            channel: message.channel,
            recipient: message.sender.clone(),
            text: text.clone(),
            in_reply_to: Some(message.channel_message_id.clone()),
            thread: message.thread.clone(),
        };
        let now = (self.clock)();
        let outbox_id = pending.reply(reply, now, message.channel.replies_in_response());
        self.log(
            pending,
            EventKind::ReplySent {
                channel: message.channel,
                text: text.clone(),
                outbox_id,
                asked: decision.asked.as_ref().map(|(slot, _)| slot.clone()),
            },
        );
        outcome.replies.push(Reply { text, outbox_id });

        if let Some(handoff) = decision.handoff {
            self.change_status(pending, ConversationStatus::HandedOff);
            tracing::info!(trigger = %handoff.trigger, "conversation handed off");
            self.summarise_handoff(customer, pending, history, message.channel, handoff)
                .await?;
            outcome.status = ConversationStatus::HandedOff;
        }
        Ok(outcome)
    }

    /// The identities a message resolves its customer by. A proven sender brings the message's
    /// other identities and what the directory links to them (the account id, the account's
    /// email and phone); a directory failure costs only the links. A claimed sender (an email
    /// without an SPF or DKIM pass) vouches for nothing else, and when its handle belongs to a
    /// customer with a proven identity, it is served as a guest of its own
    /// ([`verify::guest`]): a stranger never joins that customer's conversations.
    async fn vouched_identities(
        &self,
        message: &InboundMessage,
    ) -> Result<Vec<frontline_domain::Identity>, AgentError> {
        if !message.assurance.is_verified() {
            let sender = message.sender.clone();
            if let Some(owner) = self.store.identity_owner(&sender).await? {
                let owner = self.store.customer(owner).await?;
                if owner.identities.iter().any(|r| r.verified) {
                    return Ok(vec![verify::guest(&sender)]);
                }
            }
            return Ok(vec![sender]);
        }
        let mut identities: Vec<_> = message.identities().cloned().collect();
        let Some(directory) = &self.directory else {
            return Ok(identities);
        };
        for identity in message.identities() {
            match directory.linked(identity).await {
                Ok(linked) => {
                    for found in linked {
                        if !identities.contains(&found) {
                            identities.push(found);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%identity, error = %e, "identity directory failed; continuing without its links")
                }
            }
        }
        Ok(identities)
    }

    /// Raise the stored assurance of the identities a proven message vouched for to its level;
    /// returns those raised. Only the first message at a level writes anything.
    async fn assure_identities(
        &self,
        customer: &mut frontline_domain::Customer,
        identities: &[frontline_domain::Identity],
        assurance: frontline_domain::Assurance,
    ) -> Result<Vec<frontline_domain::Identity>, AgentError> {
        let mut raised = Vec::new();
        if !assurance.is_verified() {
            return Ok(raised);
        }
        for record in customer.identities.iter_mut() {
            if record.assurance < assurance && identities.contains(&record.identity) {
                self.store
                    .assure_identity(&record.identity, assurance)
                    .await?;
                record.assurance = assurance;
                record.verified = true;
                raised.push(record.identity.clone());
            }
        }
        Ok(raised)
    }

    /// Log each identity's assurance the first time it appears in this conversation, and again
    /// when the message raised it.
    fn record_assurance(
        &self,
        pending: &Pending,
        history: &[Event],
        message: &InboundMessage,
        identities: &[frontline_domain::Identity],
        raised: &[frontline_domain::Identity],
    ) {
        for identity in identities {
            let logged = history.iter().any(|e| {
                matches!(&e.kind, EventKind::IdentityAssured { identity: i, .. } if i == identity)
            });
            if logged && !raised.contains(identity) {
                continue;
            }
            let how = if identity == &message.sender || message.also_known_as.contains(identity) {
                match message.assurance {
                    frontline_domain::Assurance::Claimed => {
                        format!("claimed on {}: the channel proves nothing", message.channel)
                    }
                    _ => format!("proven by the {} channel", message.channel),
                }
            } else if message.assurance.is_verified() {
                format!("on the account of {}", message.sender)
            } else {
                format!("stands in for {} until it is proven", message.sender)
            };
            self.log(
                pending,
                EventKind::IdentityAssured {
                    identity: identity.clone(),
                    assurance: message.assurance,
                    how,
                },
            );
        }
    }

    /// Set a conversation's status and log the change; returns the status it had.
    pub(crate) fn change_status(
        &self,
        pending: &Pending,
        to: ConversationStatus,
    ) -> ConversationStatus {
        pending.change_status((self.clock)(), to)
    }

    /// Append an event to the operation's pending writes, stamped now.
    pub(crate) fn log(&self, pending: &Pending, kind: EventKind) -> Event {
        pending.event((self.clock)(), kind)
    }

    /// Run an action within the configured timeout.
    pub(crate) async fn run_action(
        &self,
        call: &frontline_domain::ActionCall,
    ) -> Result<serde_json::Value, frontline_domain::ActionError> {
        match tokio::time::timeout(self.config.action_timeout, self.actions.execute(call)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(action = %call.name, timeout = ?self.config.action_timeout, "action timed out");
                Err(frontline_domain::ActionError::Backend {
                    message: format!(
                        "`{}` timed out after {:?}",
                        call.name, self.config.action_timeout
                    ),
                })
            }
        }
    }
}

/// The dialogue state is the latest flow snapshot in the log.
pub(crate) fn flow_stack(events: &[Event]) -> Vec<FlowFrame> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::FlowUpdated { stack, .. } => Some(stack.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn recent_utterances(events: &[Event], limit: usize) -> Vec<Utterance> {
    let mut lines: Vec<Utterance> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageReceived { text, .. } => Some(Utterance {
                speaker: Speaker::Customer,
                text: text.clone(),
            }),
            EventKind::ReplySent { text, .. } => Some(Utterance {
                speaker: Speaker::Agent,
                text: text.clone(),
            }),
            _ => None,
        })
        .collect();
    let skip = lines.len().saturating_sub(limit);
    lines.drain(..skip);
    lines
}

/// The flows the last turn offered or asked to choose between (its understanding clarified):
/// a yes to a single one starts it.
/// The message that led to the last reply's offer of a flow ("can I return something I've
/// used?" before "Would you like me to help you return items?"), when this turn starts that
/// flow: what it named is the new flow's opening as much as the "yes" is.
fn offer_question(events: &[Event], commands: &[ScoredCommand]) -> Option<String> {
    let offered = offered_flows(events);
    let accepted = commands.iter().any(|c| {
        matches!(&c.command, frontline_domain::Command::StartFlow { flow_id } if offered.contains(flow_id))
    });
    if !accepted {
        return None;
    }
    let understood = events
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::CommandsUnderstood { .. }))?;
    events[..understood]
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::MessageReceived { text, .. } => Some(text.clone()),
            _ => None,
        })
}

fn offered_flows(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::CommandsUnderstood { commands, .. } => Some(
                commands
                    .iter()
                    .find_map(|c| match &c.command {
                        frontline_domain::Command::Clarify { options } => Some(options.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}
