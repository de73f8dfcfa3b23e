//! The escalate stage: ask the policy whether a human should take over (beyond what the flows
//! decided), and when one does, build the context summary from the log, check it against its
//! schema, record it and queue it for the helpdesk. Also what a person's side of a handoff
//! needs of it: the handoff of an undeliverable reply, and the release back to the bot.

use crate::decide::{ended_slots, record_flow_ended};
use crate::decide::{Decision, Handoff};
use crate::error::AgentError;
use crate::pending::Pending;
use frontline_domain::escalation::SummaryPriorContact;
use frontline_domain::{
    Channel, Conversation, ConversationId, Customer, EscalationSummary, EscalationTrigger, Event,
    EventKind, FlowFrame, Timestamp,
};
use frontline_escalation::{
    build_summary, completeness, policy::prior_flows, validate_summary, EscalationPolicy,
    HandoffNotice, PriorFlow, RouteFacts, Routing, StartedFlow, SummaryInput, TierReading,
    Trajectory, TurnFacts,
};
use frontline_flows::wording::Wording;
use frontline_flows::{Effect, Engine};
use frontline_handoff::dispatch::RELEASE;
use frontline_store::Store;

/// How the agent escalates: the policy, routing rules and what the customer is told.
#[derive(Clone, Debug)]
pub struct EscalationSettings {
    /// When to hand off.
    pub policy: EscalationPolicy,
    /// Where handoffs go.
    pub routing: Routing,
    /// What the customer hears.
    pub notice: HandoffNotice,
    /// The customers' language when nothing says otherwise (BCP 47).
    pub default_locale: Option<String>,
    /// Base URL of this service, for transcript links in summaries (empty: relative links).
    pub public_url: String,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self {
            policy: EscalationPolicy::default(),
            routing: Routing::default(),
            notice: HandoffNotice::default(),
            default_locale: Some("en".into()),
            public_url: String::new(),
        }
    }
}

/// What the customer hears first when the policy (not a flow) hands off.
fn acknowledgement(trigger: EscalationTrigger, wording: &Wording) -> Option<String> {
    let key = match trigger {
        EscalationTrigger::NegativeSentiment => "ack_frustration",
        EscalationTrigger::LowConfidence | EscalationTrigger::RepeatedFailure => "ack_circles",
        EscalationTrigger::AgentError => "agent_error",
        EscalationTrigger::ExplicitRequest | EscalationTrigger::Policy => return None,
    };
    Some(wording.say(key, &[]))
}

/// What escalating works with: the store (earlier conversations, the helpdesk's tickets), the
/// engine (to end flows `escalated`, and its wording), the settings, and the name of the
/// helpdesk handoffs are queued for, if one is configured.
pub(crate) struct Escalator<'a> {
    pub store: &'a Store,
    pub engine: &'a Engine,
    /// The conversation's language (its summary's locale), when one was read.
    pub language: Option<&'a str>,
    /// The conversation's language when the deployment does not serve it: the policy hands
    /// it to a person who speaks it.
    pub unserved: Option<&'a str>,
    pub settings: &'a EscalationSettings,
    pub target: Option<&'a str>,
}

impl Escalator<'_> {
    /// The conversation's tier at run time over `events` (the policy's tier rules, the flows'
    /// labels).
    pub(crate) fn tier_of<'e>(
        &self,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Option<TierReading> {
        let flows = self.engine.flows();
        self.settings.policy.tiers.read(events, |id| {
            flows
                .get(id)
                .filter(|_| !flows.is_called(id))
                .map(|f| f.spec.tier.as_str())
        })
    }

    /// Record the conversation's tier when this turn changed it (`tier_changed`).
    pub(crate) fn record_tier(&self, pending: &Pending, history: &[Event]) {
        let appended = pending.appended();
        let Some(reading) = self.tier_of(history.iter().chain(&appended)) else {
            return;
        };
        let before = frontline_escalation::recorded_tier(history.iter().chain(&appended));
        if before == Some(reading.tier.as_str()) {
            return;
        }
        tracing::info!(from = ?before, to = %reading.tier, reason = %reading.reason, "tier changed");
        pending.log(EventKind::TierChanged {
            from: before.map(str::to_string),
            to: reading.tier,
            reason: reading.reason,
        });
    }

    fn is_vip(&self, customer: &Customer) -> bool {
        self.settings
            .policy
            .is_vip(customer.identities.iter().map(|r| &r.identity))
    }

    /// The flows of the customer's other conversations active within the repeat-contact window.
    async fn prior_contacts(
        &self,
        customer: &Customer,
        current: ConversationId,
        now: Timestamp,
    ) -> Result<Vec<(Conversation, Vec<PriorFlow>)>, AgentError> {
        let days = self.settings.policy.repeated_failure.repeat_contact_days;
        let since = now - chrono::Duration::days(days.into());
        let mut out = vec![];
        for conversation in self.store.conversations_of(customer.id).await? {
            if conversation.id == current || conversation.last_activity_at < since {
                continue;
            }
            let events = self.store.events(conversation.id).await?;
            let flows = prior_flows(conversation.last_activity_at, &events);
            out.push((conversation, flows));
        }
        Ok(out)
    }

    /// Apply the escalation policy to a decided turn: when it calls for a human, the flows end
    /// `escalated` and the decision becomes a handoff.
    ///
    /// `history` is the log as the turn read it; this turn's events are appended to it while
    /// the policy reads it, and taken off again (no copy of the whole log per turn).
    pub(crate) async fn apply_policy(
        &self,
        pending: &Pending,
        customer: &Customer,
        history: &mut Vec<Event>,
        stack_before: &[FlowFrame],
        decision: &mut Decision,
    ) -> Result<(), AgentError> {
        if decision.handoff.is_some() {
            return Ok(());
        }
        let read = history.len();
        history.extend(pending.appended());
        let assessed = self
            .assess(pending, customer, history, stack_before, decision)
            .await;
        history.truncate(read);
        let Some(escalation) = assessed? else {
            return Ok(());
        };
        tracing::info!(trigger = %escalation.trigger, reason = %escalation.reason, "escalation policy hands off");
        let before = decision.stack.clone();
        let effects = self.engine.escalate(
            &mut decision.stack,
            escalation.trigger,
            escalation.reason.clone(),
        );
        for effect in effects {
            match effect {
                Effect::FlowEnded { flow_id, outcome } => {
                    let slots = ended_slots(&before, &decision.stack, &flow_id);
                    record_flow_ended(pending, flow_id, outcome, slots)
                }
                Effect::Escalate {
                    trigger,
                    reason,
                    queue,
                    flow,
                } => decision.handoff = Some(Handoff::escalated(trigger, reason, queue, flow)),
                _ => {}
            }
        }
        // What the flows said stays (a result, a refusal); the question they were about to ask
        // goes, and the acknowledgement leads.
        if let Some((_, question)) = decision.asked.take() {
            decision.texts.retain(|t| t != &question);
        }
        if let Some(ack) = acknowledgement(escalation.trigger, self.engine.flows().wording()) {
            decision.texts.insert(0, ack);
        }
        Ok(())
    }

    /// What the escalation policy makes of the turn: `events` is the whole log, this turn's
    /// events included.
    async fn assess(
        &self,
        pending: &Pending,
        customer: &Customer,
        events: &[Event],
        stack_before: &[FlowFrame],
        decision: &Decision,
    ) -> Result<Option<frontline_escalation::Escalation>, AgentError> {
        if let Some(code) = self.unserved {
            return Ok(Some(frontline_escalation::Escalation {
                trigger: EscalationTrigger::Policy,
                reason: format!(
                    "The customer writes in {} ({code}), which this deployment does not serve; a colleague who speaks it should reply.",
                    frontline_language::name(code)
                ),
            }));
        }
        let conversation_id = pending.conversation_id();
        let now = pending.now();
        let spec_of = |id: &str| self.engine.flows().get(id).map(|f| &f.spec);
        let started: Vec<StartedFlow<'_>> = decision
            .started
            .iter()
            .filter_map(|id| {
                let spec = spec_of(id)?;
                Some(StartedFlow {
                    flow_id: id,
                    tier: spec.tier.as_str(),
                    frame: decision.stack.iter().rev().find(|f| &f.flow_id == id),
                    vip_to_human: spec.escalation.as_ref().and_then(|o| o.vip_to_human),
                })
            })
            .collect();
        let prior: Vec<PriorFlow> = if started.is_empty() {
            vec![]
        } else {
            self.prior_contacts(customer, conversation_id, now)
                .await?
                .into_iter()
                .flat_map(|(_, flows)| flows)
                .collect()
        };
        // The thresholds of the flow the customer is in (or was in, if it ended this turn).
        let flow_now = decision
            .stack
            .last()
            .map(|f| f.flow_id.as_str())
            .or_else(|| stack_before.last().map(|f| f.flow_id.as_str()));
        let policy = match flow_now
            .and_then(spec_of)
            .and_then(|s| s.escalation.as_ref())
        {
            Some(o) => self.settings.policy.with_override(o),
            None => self.settings.policy.clone(),
        };
        let tier = self.tier_of(events).map(|r| r.tier);
        let facts = TurnFacts {
            events,
            asked: decision.asked.as_ref().map(|(slot, _)| slot.as_str()),
            started: &started,
            vip: self.is_vip(customer),
            prior_flows: &prior,
            tier: tier.as_deref(),
            now,
        };
        Ok(policy.assess(&facts))
    }

    /// The customer-facing handoff message for `channel`, at `now` (open hours).
    pub(crate) fn handoff_message(&self, channel: Channel, now: Timestamp) -> String {
        let wording = self.engine.flows().wording();
        self.settings
            .notice
            .message(channel, now, &|key, vars| wording.say(key, vars))
    }

    /// Build, check and record the summary of a handoff (the reply has been logged already).
    pub(crate) async fn summarise_handoff(
        &self,
        customer: &Customer,
        pending: &Pending,
        history: &[Event],
        channel: Channel,
        handoff: Handoff,
    ) -> Result<EscalationSummary, AgentError> {
        let now = pending.now();
        let conversation_id = pending.conversation_id();
        let mut events = history.to_vec();
        events.extend(pending.appended());
        let mut conversation = self.store.conversation(conversation_id).await?;
        conversation.status = pending.status();
        let vip = self.is_vip(customer);
        // The conversation's tier before this handoff (what the issue is), else its flow's.
        let reading = self.tier_of(&events);
        let tier = reading.as_ref().map(|r| r.tier.as_str()).or_else(|| {
            handoff
                .flow
                .as_ref()
                .and_then(|f| self.engine.flows().get(&f.flow_id))
                .map(|f| f.spec.tier.as_str())
        });
        let locale = self
            .language
            .map(str::to_string)
            .or_else(|| self.settings.default_locale.clone());
        let routing = self.settings.routing.route(&RouteFacts {
            vip,
            trigger: handoff.trigger,
            flow: handoff.flow.as_ref().map(|f| f.flow_id.as_str()),
            flow_queue: handoff.queue.as_deref(),
            tier,
            locale: locale.as_deref(),
            channel,
            sentiment: Trajectory::from_events(&events).current(),
        });
        let prior_contacts = self
            .prior_contacts(customer, conversation_id, now)
            .await?
            .into_iter()
            .map(|(c, flows)| SummaryPriorContact {
                conversation_id: c.id,
                last_activity_at: c.last_activity_at,
                flows: flows
                    .iter()
                    .map(|f| format!("{} ({})", f.flow_id, f.outcome))
                    .collect(),
            })
            .collect();
        let summary = build_summary(SummaryInput {
            customer,
            vip,
            locale,
            conversation: &conversation,
            events: &events,
            current_channel: channel,
            flow: handoff.flow.as_ref(),
            flow_tier: tier,
            trigger: handoff.trigger,
            reason: handoff.reason,
            routing,
            prior_contacts,
            transcript_base: &self.settings.public_url,
            now,
        });
        // Context-transfer completeness, exported with every handoff (a metric for dashboards
        // reading the logs; 1.0 means every required field is backed by the log).
        let complete = completeness(&summary, &events);
        tracing::info!(
            trigger = %summary.trigger,
            completeness = complete.ratio(),
            missing = ?complete.missing(),
            "handoff summary built"
        );
        if let Err(e) = validate_summary(&summary) {
            // Code builds every field, so this is a bug; the conversation is still handed off
            // (the team sees it in frontline), but nothing unchecked is sent to the helpdesk.
            tracing::error!(error = %e, "escalation summary fails its schema; not sent");
        }
        let escalated = pending.log(EventKind::Escalated {
            summary: Box::new(summary.clone()),
        });
        if let Some(target) = self.target {
            let id = format!("{conversation_id}-{}", escalated.seq);
            match frontline_handoff::HandoffRequest::new(id.clone(), summary.clone()) {
                Ok(request) => {
                    let request = serde_json::to_value(&request).expect("a request serialises");
                    pending.handoff(id, target, request);
                }
                Err(e) => tracing::error!(error = %e, "handoff not queued"),
            }
        }
        Ok(summary)
    }

    /// Hand the conversation of `pending` over because a reply could not reach the customer on
    /// `channel` and never will by retrying (`reason`): its flows end `escalated`, its status
    /// becomes handed off, and the summary says what could not be delivered.
    pub(crate) async fn undeliverable(
        &self,
        pending: &Pending,
        log: &[Event],
        customer: &Customer,
        channel: Channel,
        reason: &str,
    ) -> Result<(), AgentError> {
        use frontline_domain::ConversationStatus;
        let mut stack = crate::history::flow_stack(log);
        let before = stack.clone();
        let reason = format!("a reply could not be delivered on {channel}: {reason}");
        let mut handoff = Handoff {
            trigger: EscalationTrigger::Policy,
            reason: reason.clone(),
            queue: None,
            flow: None,
        };
        for effect in self
            .engine
            .escalate(&mut stack, EscalationTrigger::Policy, reason)
        {
            match effect {
                Effect::FlowEnded { flow_id, outcome } => {
                    let slots = ended_slots(&before, &stack, &flow_id);
                    record_flow_ended(pending, flow_id, outcome, slots)
                }
                Effect::Escalate { queue, flow, .. } => {
                    handoff.queue = queue;
                    handoff.flow = flow.map(|f| *f);
                }
                _ => {}
            }
        }
        if stack != before {
            pending.log(EventKind::FlowUpdated { stack, ran: vec![] });
        }
        pending.change_status(ConversationStatus::HandedOff);
        tracing::warn!(conversation_id = %pending.conversation_id(), %channel, reason = %handoff.reason, "reply undeliverable; conversation handed off");
        self.summarise_handoff(customer, pending, log, channel, handoff)
            .await?;
        Ok(())
    }

    /// Tell the helpdesk that the conversation of `pending` is the bot's again, where it has a
    /// bot state (Chatwoot: `pending`): one release per ticket, through the handoff outbox,
    /// committed with the status change, so the agent makes no HTTP call and a helpdesk that is
    /// down is told when it is back.
    pub(crate) async fn queue_releases(&self, pending: &Pending) -> Result<(), AgentError> {
        let Some(target) = self.target else {
            return Ok(());
        };
        // The status change's place in the log makes each release's id its own.
        let seq = pending.appended().last().map_or(0, |e| e.seq);
        for entry in self.store.handoffs_of(pending.conversation_id()).await? {
            let Some(reference) = entry.reference.filter(|_| !is_release(&entry.request)) else {
                continue;
            };
            let id = format!("{}-release-{seq}", entry.id);
            pending.handoff(id, target, serde_json::json!({ RELEASE: reference }));
        }
        Ok(())
    }
}

/// Whether a handoff outbox entry is a release rather than a handoff.
fn is_release(request: &serde_json::Value) -> bool {
    request.get(RELEASE).is_some()
}
