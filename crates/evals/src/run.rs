//! Running cases on the real agent: each case gets its own SQLite conversation store and its own
//! copy of the shop, on a clock the case moves; the flows, the understanding and the knowledge
//! base are shared.

use crate::case::{Assertion, Case, CustomerFixture, Step, Suite};
use crate::persona::Player;
use crate::simulated::Customer;
use crate::EvalError;
use async_trait::async_trait;
use frontline_agent::{Agent, AgentConfig, EscalationSettings};
use frontline_domain::{
    ActionBackend, ActionCall, ActionError, ActionKind, ActionSpec, Assurance, Channel,
    ConversationId, ConversationStatus, EscalationSummary, Event, EventKind, Identity,
    IdentityDirectory, IdentityKind, InboundMessage, NormalizeOptions, Timestamp,
};
use frontline_flows::{Engine, FlowSet};
use frontline_knowledge::KnowledgeBase;
use frontline_shop::{Shop, ShopData};
use frontline_store::Store;
use frontline_understanding::llm::AnswerWriter;
use frontline_understanding::Understanding;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What every case shares.
#[derive(Clone)]
pub struct World {
    /// The flows under test.
    pub flows: Arc<FlowSet>,
    /// The understanding under test (local or LLM).
    pub understanding: Arc<dyn Understanding>,
    /// The knowledge base, if any.
    pub knowledge: Option<Arc<KnowledgeBase>>,
    /// The writer of grounded answers (LLM mode).
    pub answer_writer: Option<Arc<dyn AnswerWriter>>,
    /// The shop's data every case starts from.
    pub shop: ShopData,
    /// The escalation settings; a suite's VIP fixtures are added to them.
    pub escalation: EscalationSettings,
    /// When every case starts.
    pub start: Timestamp,
    /// How many cases run at once.
    pub concurrency: usize,
    /// The LLM that plays `llm` personas, if an endpoint is configured.
    pub user_simulator: Option<Arc<frontline_llm::LlmClient>>,
    /// When and where the resolution survey is asked.
    pub surveys: frontline_agent::SurveySettings,
}

/// One step as it ran.
#[derive(Clone, Debug)]
pub struct StepRun {
    /// What the customer sent.
    pub text: String,
    /// On which channel.
    pub channel: Channel,
    /// The agent's replies.
    pub replies: Vec<String>,
    /// How long the turn took, in milliseconds.
    pub latency_ms: f64,
    /// The conversation it landed in.
    pub conversation: ConversationId,
    /// The command kinds understanding produced.
    pub understood: Vec<String>,
    /// The command kinds expected, when the case says or implies them.
    pub expected: Option<Vec<String>>,
    /// True when the step lists its commands in full (`commands:`), so any other command
    /// understood counts against precision.
    pub expected_exact: bool,
    /// The flow the case expected to start here, if it says.
    pub expected_flow: Option<String>,
    /// Flows that started on this step.
    pub started: Vec<String>,
    /// The slot the agent asked for at the end of the step, if any.
    pub asked: Option<String>,
    /// Who has the conversation after the step.
    pub status: ConversationStatus,
    /// The events this step appended.
    pub events: Vec<Event>,
}

/// One case as it ran.
#[derive(Clone, Debug)]
pub struct CaseRun {
    /// Its suite.
    pub suite: String,
    /// Its name.
    pub name: String,
    /// Where it is written.
    pub file: PathBuf,
    /// The line it starts on.
    pub line: usize,
    /// Whether a persona played it.
    pub persona: bool,
    /// What did not hold (empty: passed).
    pub failures: Vec<String>,
    /// Its steps.
    pub steps: Vec<StepRun>,
    /// Every event of every conversation it touched, in order.
    pub events: Vec<Event>,
    /// The handoff trigger it expects (`none`: no handoff), if it says.
    pub expected_trigger: Option<String>,
    /// The known limitation it meets, if its case names one.
    pub limitation: Option<String>,
    /// What a simulated customer made of it, when one played it.
    pub simulated: Option<SimulatedRun>,
}

/// A simulated customer's account of a case.
#[derive(Clone, Debug)]
pub struct SimulatedRun {
    /// The goal it came for.
    pub goal: String,
    /// Questions whose answer it had already given.
    pub repeated: Vec<String>,
    /// Questions it could not place or had no answer for.
    pub unanswerable: Vec<String>,
    /// Messages it sent until its task was done: up to the last expected write, or all of
    /// them when the task writes nothing; `None` when the expected writes did not all happen.
    pub turns_to_goal: Option<usize>,
}

impl CaseRun {
    /// True when every assertion held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The escalation summary, if it was handed off.
    pub fn escalation(&self) -> Option<&EscalationSummary> {
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::Escalated { summary } => Some(&**summary),
            _ => None,
        })
    }
}

/// The shop, with some actions failing as in an outage.
struct Outage {
    shop: Shop,
    down: Vec<String>,
}

#[async_trait]
impl ActionBackend for Outage {
    fn catalog(&self) -> Vec<ActionSpec> {
        self.shop.catalog()
    }

    async fn execute(&self, call: &ActionCall) -> Result<Value, ActionError> {
        if self.down.contains(&call.name) {
            return Err(ActionError::Backend {
                message: format!("{} is unreachable (connection refused)", call.name),
            });
        }
        self.shop.execute(call).await
    }
}

#[async_trait]
impl IdentityDirectory for Outage {
    async fn linked(&self, identity: &Identity) -> Result<Vec<Identity>, ActionError> {
        self.shop.linked(identity).await
    }
}

/// Run every case of these suites, `world.concurrency` at a time; `progress` is called after
/// each case with the number done.
pub async fn run_suites(
    world: &World,
    suites: &[Suite],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<CaseRun>, EvalError> {
    let cases: Vec<(&Suite, &Case)> = suites
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut runs: Vec<(usize, CaseRun)> =
        futures_util::stream::iter(cases.iter().enumerate().map(|(i, (suite, case))| {
            let done = &done;
            async move {
                let run = run_case(world, suite, case).await;
                progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                run.map(|r| (i, r))
            }
        }))
        .buffer_unordered(world.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    runs.sort_by_key(|(i, _)| *i);
    Ok(runs.into_iter().map(|(_, r)| r).collect())
}

/// Run one case.
pub async fn run_case(world: &World, suite: &Suite, case: &Case) -> Result<CaseRun, EvalError> {
    let dir = tempfile::tempdir().map_err(|e| EvalError::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let fail = |what: &str, e: String| EvalError::Setup(format!("{}: {what}: {e}", case.name));
    let shop = Shop::open(&dir.path().join("shop.db"))
        .await
        .map_err(|e| fail("opening the shop", e.to_string()))?;
    let data = match &case.fixtures.shop {
        None => None,
        Some(patch) => {
            let mut data = serde_json::to_value(&world.shop)
                .map_err(|e| fail("reading the shop", e.to_string()))?;
            crate::case::merge_patch(&mut data, patch);
            Some(
                serde_json::from_value::<ShopData>(data)
                    .map_err(|e| fail("the shop fixture", e.to_string()))?,
            )
        }
    };
    shop.load(data.as_ref().unwrap_or(&world.shop))
        .await
        .map_err(|e| fail("loading the shop", e.to_string()))?;
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("conv.db").display()
    ))
    .await
    .map_err(|e| fail("opening the store", e.to_string()))?;
    let now = Arc::new(Mutex::new(world.start));
    let clock = now.clone();
    let mut escalation = world.escalation.clone();
    escalation
        .policy
        .vip
        .identities
        .extend(case.fixtures.vip.iter().cloned());
    escalation
        .policy
        .vip
        .to_human_on_tiers
        .extend(case.fixtures.vip_tiers.iter().cloned());
    let backend = Arc::new(Outage {
        shop,
        down: case.fixtures.outage.clone(),
    });
    let mut agent = Agent::new(
        store.clone(),
        world.understanding.clone(),
        backend.clone(),
        Engine::new(world.flows.clone()),
        AgentConfig {
            // A case's outages are its fixtures (`outage:`); a busy machine must not add one by
            // letting an action's wall-clock deadline pass while the other cases run.
            action_timeout: std::time::Duration::from_secs(600),
            ..AgentConfig::default()
        },
    )
    .with_escalation(escalation)
    .with_surveys(world.surveys.clone())
    .with_directory(backend)
    .with_clock(Arc::new(move || *clock.lock().unwrap()));
    if let Some(kb) = &world.knowledge {
        agent = agent.with_knowledge(kb.clone());
    }
    if let Some(writer) = &world.answer_writer {
        agent = agent.with_answer_writer(writer.clone());
    }
    let customer = case.fixtures.customer.clone().unwrap_or_default();
    let writes: BTreeSet<String> = frontline_shop::actions::catalog()
        .into_iter()
        .filter(|a| a.kind == ActionKind::Write)
        .map(|a| a.name)
        .collect();

    let mut run = CaseRun {
        suite: suite.name.clone(),
        name: case.name.clone(),
        file: suite.file.clone(),
        line: case.position.line,
        persona: case.persona.is_some(),
        failures: vec![],
        steps: vec![],
        events: vec![],
        expected_trigger: expected_trigger(case),
        limitation: case.limitation.clone(),
        simulated: None,
    };
    let mut seen: HashMap<ConversationId, usize> = HashMap::new();
    let mut player = case.persona.as_ref().map(Player::new);
    let mut simulated = case
        .simulated
        .as_ref()
        .map(|goal| Customer::new(goal, customer.clone()));
    let mut index = 0;
    loop {
        let step: Step = match (&mut simulated, &mut player) {
            (Some(simulated), _) => match simulated.next(run.steps.last()) {
                Some(step) => step,
                None => break,
            },
            (None, player) => match player {
                Some(player) if player.is_llm() => {
                    let simulator = world.user_simulator.as_ref().ok_or_else(|| {
                        fail(
                            "persona",
                            "an `llm` persona needs an LLM endpoint (set [llm] base_url)".into(),
                        )
                    })?;
                    match player.next_by_llm(simulator, &run.steps).await {
                        Ok(Some(step)) => step,
                        Ok(None) => break,
                        Err(e) => {
                            run.failures.push(format!("the user simulator failed: {e}"));
                            break;
                        }
                    }
                }
                Some(player) => match player.next(run.steps.last()) {
                    Some(step) => step,
                    None => break,
                },
                None => match case.steps.get(index) {
                    Some(step) => step.clone(),
                    None => break,
                },
            },
        };
        let delay = step.delay().map_err(|e| fail("step", e))?;
        let received_at = {
            let mut now = now.lock().unwrap();
            *now += delay;
            *now
        };
        let channel = step.channel.unwrap_or(Channel::WebChat);
        let (sender, also_known_as) = sender(&customer, channel, step.from.as_deref())
            .map_err(|e| fail(&format!("step {}", index + 1), e))?;
        let text = match &step.code_from {
            Some(handles) => code_sent_to_any(&store, handles)
                .await
                .map_err(|e| fail(&format!("step {}", index + 1), e))?,
            None => step.message().to_string(),
        };
        let started_at = Instant::now();
        let outcome = agent
            .handle(InboundMessage {
                channel,
                channel_message_id: format!("eval-{}-{index}", case.name),
                sender,
                also_known_as,
                assurance: step.assurance.unwrap_or(Assurance::Channel),
                display_name: customer.name.clone(),
                text: text.clone(),
                received_at,
                conversation_hint: None,
                thread: Default::default(),
            })
            .await
            .map_err(|e| fail(&format!("step {}", index + 1), e.to_string()))?;
        let latency_ms = started_at.elapsed().as_secs_f64() * 1000.0;
        let all = store
            .events(outcome.conversation_id)
            .await
            .map_err(|e| fail("reading the log", e.to_string()))?;
        let from = seen.insert(outcome.conversation_id, all.len()).unwrap_or(0);
        let mut events: Vec<Event> = all[from.min(all.len())..].to_vec();
        // What the turn wrote to the customer's earlier conversations (a repeat contact
        // re-scores the last one).
        for (conversation, read) in seen.iter_mut() {
            if *conversation == outcome.conversation_id {
                continue;
            }
            let all = store
                .events(*conversation)
                .await
                .map_err(|e| fail("reading the log", e.to_string()))?;
            events.extend(all[(*read).min(all.len())..].iter().cloned());
            *read = all.len();
        }
        let before = stack_flows(&run.events);
        run.events.extend(events.iter().cloned());
        let started = started_flows(&world.flows, &before, &events);
        let asked = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::ReplySent { asked, .. } => Some(asked.clone()),
            _ => None,
        });
        run.steps.push(StepRun {
            text,
            channel,
            replies: outcome.replies.iter().map(|r| r.text.clone()).collect(),
            latency_ms,
            conversation: outcome.conversation_id,
            understood: outcome
                .commands
                .iter()
                .map(|c| c.command.kind().to_string())
                .collect(),
            expected: step.expected_commands(),
            expected_exact: step.commands.is_some(),
            expected_flow: step.expect.iter().find_map(|a| match a {
                Assertion::FlowStarted(f) => Some(f.clone()),
                _ => None,
            }),
            started,
            asked: asked.flatten(),
            status: outcome.status,
            events,
        });
        for assertion in &step.expect {
            if let Err(why) = check(assertion, &run, &writes, false) {
                run.failures
                    .push(format!("step {} `{}`: {why}", index + 1, assertion.name()));
            }
        }
        index += 1;
    }
    if run.steps.is_empty() {
        run.failures.push("no step ran".into());
    } else {
        for assertion in &case.expect {
            if let Err(why) = check(assertion, &run, &writes, true) {
                run.failures
                    .push(format!("end `{}`: {why}", assertion.name()));
            }
        }
    }
    if let Some(customer) = simulated {
        run.simulated = Some(SimulatedRun {
            goal: case
                .simulated
                .as_ref()
                .expect("a simulated case")
                .goal
                .clone(),
            turns_to_goal: turns_to_goal(case, &run, &writes),
            repeated: customer.repeated,
            unanswerable: customer.unanswerable,
        });
    }
    store.close().await;
    Ok(run)
}

/// How many messages the customer sent until the case's expected writes had all happened (all
/// of them when it expects none); `None` when they did not all happen or it failed.
fn turns_to_goal(case: &Case, run: &CaseRun, writes: &BTreeSet<String>) -> Option<usize> {
    if !run.passed() {
        return None;
    }
    let expected = case.expect.iter().find_map(|a| match a {
        Assertion::Writes(w) => Some(w.len()),
        _ => None,
    })?;
    if expected == 0 {
        return Some(run.steps.len());
    }
    let mut done = 0;
    for (i, step) in run.steps.iter().enumerate() {
        done += step
            .events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::ActionExecuted { call, outcome: Ok(_) } if writes.contains(&call.name)))
            .count();
        if done >= expected {
            return Some(i + 1);
        }
    }
    None
}

/// The trigger a case expects it to be handed off for: `none` when it asserts it is not,
/// nothing when it says neither.
fn expected_trigger(case: &Case) -> Option<String> {
    case.steps
        .iter()
        .flat_map(|s| &s.expect)
        .chain(&case.expect)
        .find_map(|a| match a {
            Assertion::Escalated(e) if e.reason() != "any" => Some(e.reason().to_string()),
            Assertion::NotEscalated => Some("none".into()),
            _ => None,
        })
}

/// Who a message on this channel comes from: the customer's email on email, web chat, REST and
/// Chatwoot; their number on SMS; their WhatsApp id (and the number it is) on WhatsApp.
fn sender(
    customer: &CustomerFixture,
    channel: Channel,
    from: Option<&str>,
) -> Result<(Identity, Vec<Identity>), String> {
    let opts = NormalizeOptions::default();
    let parse = |kind: IdentityKind, value: &str| {
        Identity::parse(kind, value, &opts).map_err(|e| format!("{value}: {e}"))
    };
    if let Some(from) = from {
        let (kind, value) = from
            .split_once(':')
            .ok_or_else(|| format!("`from: {from}` is not kind:value"))?;
        let kind: IdentityKind = serde_json::from_value(Value::String(kind.into()))
            .map_err(|_| format!("`from: {from}`: unknown identity kind"))?;
        return Ok((parse(kind, value)?, vec![]));
    }
    let phone = || {
        customer
            .phone
            .as_deref()
            .ok_or_else(|| format!("the customer has no phone number to write on {channel}"))
    };
    match channel {
        Channel::Sms => Ok((parse(IdentityKind::Phone, phone()?)?, vec![])),
        Channel::Whatsapp => {
            let number = parse(IdentityKind::Phone, phone()?)?;
            let wa = Identity {
                kind: IdentityKind::Whatsapp,
                value: number.value.trim_start_matches('+').to_string(),
            };
            Ok((wa, vec![number]))
        }
        _ => Ok((parse(IdentityKind::Email, &customer.email)?, vec![])),
    }
}

/// The one-time code last sent to `handle` (`email:…` or `phone:…`), read from the outbox as
/// its owner would read the message.
async fn code_sent_to(store: &Store, handle: &str) -> Result<String, String> {
    let (kind, value) = handle
        .split_once(':')
        .ok_or_else(|| format!("`code_from: {handle}` is not kind:value"))?;
    let (kind, channel) = match kind {
        "email" => (IdentityKind::Email, Channel::Email),
        "phone" => (IdentityKind::Phone, Channel::Sms),
        other => {
            return Err(format!(
                "`code_from`: codes go to email or phone, not {other}"
            ))
        }
    };
    let to = Identity::parse(kind, value, &NormalizeOptions::default())
        .map_err(|e| format!("`code_from: {handle}`: {e}"))?;
    let sent = store
        .outbox_for_recipient(channel, &to, None)
        .await
        .map_err(|e| e.to_string())?;
    sent.iter()
        .rev()
        .find_map(|e| {
            let text = &e.message.text;
            let at = text.find("code is ")? + "code is ".len();
            text.get(at..at + 6).map(str::to_string)
        })
        .ok_or_else(|| format!("no code was sent to {to}"))
}

/// The code last sent to the first of these comma-separated handles that received one.
async fn code_sent_to_any(store: &Store, handles: &str) -> Result<String, String> {
    let mut why = vec![];
    for handle in handles.split(',') {
        match code_sent_to(store, handle.trim()).await {
            Ok(code) => return Ok(code),
            Err(e) => why.push(e),
        }
    }
    Err(why.join("; "))
}

/// Flows on the stack after these events.
fn stack_flows(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::FlowUpdated { stack, .. } => {
                Some(stack.iter().map(|f| f.flow_id.clone()).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Flows a step started: those it ran or left on the stack that were not on it before, leaving
/// out flows only other flows call (`authenticate`) and repair patterns.
fn started_flows(flows: &FlowSet, before: &[String], events: &[Event]) -> Vec<String> {
    let startable = |id: &str| {
        flows
            .get(id)
            .is_some_and(|f| f.spec.starts != frontline_flows::spec::Starts::Internal)
            && !id.starts_with("pattern_")
    };
    let mut started = Vec::new();
    for event in events {
        if let EventKind::FlowUpdated { stack, ran } = &event.kind {
            let ids = ran
                .iter()
                .map(|s| &s.flow)
                .chain(stack.iter().map(|f| &f.flow_id));
            for flow in ids {
                if !before.contains(flow) && !started.contains(flow) && startable(flow) {
                    started.push(flow.clone());
                }
            }
        }
    }
    started
}

/// Loose equality for expected values: `5` matches `"5"`, `"#W1"` matches `"#W1"`.
fn same_value(expected: &Value, actual: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    expected == actual || text(expected) == text(actual)
}

/// [`same_value`], with lists compared as sets: returning `[a, b]` is returning `[b, a]`.
fn same_items(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Array(want), Value::Array(got)) => {
            let sorted = |list: &[Value]| {
                let mut text: Vec<String> = list.iter().map(|v| v.to_string()).collect();
                text.sort();
                text
            };
            sorted(want) == sorted(got)
        }
        _ => same_value(expected, actual),
    }
}

/// The latest value any flow recorded for a slot.
fn slot_value<'a>(events: &'a [Event], name: &str) -> Option<&'a Value> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::FlowUpdated { stack, .. } => stack
            .iter()
            .rev()
            .find_map(|f| f.slots.get(name).filter(|v| !v.is_null())),
        _ => None,
    })
}

/// Check an assertion after the last step run; `at_end`: as a case-level assertion, where the
/// replies are all of the conversation's.
fn check(
    assertion: &Assertion,
    run: &CaseRun,
    writes: &BTreeSet<String>,
    at_end: bool,
) -> Result<(), String> {
    let step = run.steps.last().expect("a step ran");
    let events = &run.events;
    let replies = if at_end {
        run.steps
            .iter()
            .flat_map(|s| &s.replies)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        step.replies.join("\n")
    };
    let actions = || {
        events.iter().filter_map(|e| match &e.kind {
            EventKind::ActionExecuted { call, .. } => Some(call),
            _ => None,
        })
    };
    let escalation = run.escalation();
    match assertion {
        Assertion::FlowStarted(flow) => step
            .started
            .contains(flow)
            .then_some(())
            .ok_or_else(|| format!("expected {flow} to start; started {:?}", step.started)),
        Assertion::FlowCompleted { flow, outcome } => {
            let ended: Vec<(String, String)> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::FlowEnded {
                        flow_id, outcome, ..
                    } => Some((flow_id.clone(), outcome.clone())),
                    _ => None,
                })
                .collect();
            ended
                .iter()
                .any(|(f, o)| o == outcome && flow.as_ref().is_none_or(|want| want == f))
                .then_some(())
                .ok_or_else(|| format!("no flow ended {outcome}; ended: {ended:?}"))
        }
        Assertion::SlotSet { name, value } => match slot_value(events, name) {
            Some(actual) if same_value(value, actual) => Ok(()),
            Some(actual) => Err(format!("{name} is {actual}, expected {value}")),
            None => Err(format!("{name} was never set")),
        },
        Assertion::SlotNotSet(name) => match slot_value(events, name) {
            Some(actual) => Err(format!("{name} was set to {actual}")),
            None => Ok(()),
        },
        Assertion::ActionCalled { name, args } => {
            let calls: Vec<&ActionCall> = actions().filter(|c| &c.name == name).collect();
            calls
                .iter()
                .any(|c| {
                    args.iter()
                        .all(|(k, v)| c.args.get(k).is_some_and(|actual| same_value(v, actual)))
                })
                .then_some(())
                .ok_or_else(|| match calls.is_empty() {
                    true => format!(
                        "{name} never ran; ran: {:?}",
                        actions().map(|c| &c.name).collect::<Vec<_>>()
                    ),
                    false => format!(
                        "{name} ran with {:?}, not with {args:?}",
                        calls.iter().map(|c| &c.args).collect::<Vec<_>>()
                    ),
                })
        }
        Assertion::ActionNotCalled(name) => match actions().find(|c| &c.name == name) {
            Some(call) => Err(format!("{name} ran with {}", call.args)),
            None => Ok(()),
        },
        Assertion::NoAction => match actions().find(|c| writes.contains(&c.name)) {
            Some(call) => Err(format!("{} ran with {}", call.name, call.args)),
            None => Ok(()),
        },
        Assertion::Writes(expected) => {
            let done: Vec<&ActionCall> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::ActionExecuted {
                        call,
                        outcome: Ok(_),
                    } if writes.contains(&call.name) => Some(call),
                    _ => None,
                })
                .collect();
            let fits = |want: &crate::case::ExpectedAction, call: &ActionCall| {
                want.name == call.name
                    && want
                        .args
                        .iter()
                        .all(|(k, v)| call.args.get(k).is_some_and(|actual| same_items(v, actual)))
            };
            (done.len() == expected.len() && expected.iter().zip(&done).all(|(w, c)| fits(w, c)))
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "writes were {:?}, expected {:?}",
                        done.iter()
                            .map(|c| format!("{} {}", c.name, c.args))
                            .collect::<Vec<_>>(),
                        expected
                            .iter()
                            .map(|w| format!("{} {:?}", w.name, w.args))
                            .collect::<Vec<_>>()
                    )
                })
        }
        Assertion::Escalated(expect) => match escalation {
            Some(s) if expect.reason() == "any" || s.trigger.code() == expect.reason() => Ok(()),
            Some(s) => Err(format!(
                "handed off for {} ({}), expected {}",
                s.trigger.code(),
                s.reason,
                expect.reason()
            )),
            None => Err(format!(
                "not handed off (expected {}); last reply: {replies:?}",
                expect.reason()
            )),
        },
        Assertion::NotEscalated => match escalation {
            Some(s) => Err(format!(
                "handed off for {} ({})",
                s.trigger.code(),
                s.reason
            )),
            None => Ok(()),
        },
        Assertion::AnswerCites { doc } => {
            let cited: Vec<String> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::KnowledgeConsulted {
                        answered: true,
                        sources,
                        ..
                    } => Some(sources),
                    _ => None,
                })
                .flatten()
                .map(|s| format!("{} ({})", s.document, s.title))
                .collect();
            let want = doc.to_lowercase();
            cited
                .iter()
                .any(|c| c.to_lowercase().contains(&want))
                .then_some(())
                .ok_or_else(|| format!("{doc} not cited; cited: {cited:?}"))
        }
        Assertion::Abstained => events
            .iter()
            .any(|e| {
                matches!(
                    e.kind,
                    EventKind::KnowledgeConsulted {
                        answered: false,
                        ..
                    }
                )
            })
            .then_some(())
            .ok_or_else(|| "the knowledge base never abstained".to_string()),
        Assertion::ReplyMatches(re) => {
            let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
            re.is_match(&replies)
                .then_some(())
                .ok_or_else(|| format!("replies {replies:?} do not match /{re}/"))
        }
        Assertion::ReplyNotMatches(re) => {
            let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
            match re.find(&replies) {
                Some(m) => Err(format!("replies contain {:?}: {replies:?}", m.as_str())),
                None => Ok(()),
            }
        }
        Assertion::SummaryHas { fields } => {
            let summary = escalation.ok_or("not handed off, so there is no summary")?;
            let json = serde_json::to_value(summary).map_err(|e| e.to_string())?;
            let missing: Vec<&String> = fields
                .iter()
                .filter(|f| {
                    let pointer = format!("/{}", f.replace('.', "/"));
                    match json.pointer(&pointer) {
                        None | Some(Value::Null) => true,
                        Some(Value::String(s)) => s.is_empty(),
                        Some(Value::Array(a)) => a.is_empty(),
                        Some(Value::Object(o)) => o.is_empty(),
                        Some(_) => false,
                    }
                })
                .collect();
            missing
                .is_empty()
                .then_some(())
                .ok_or_else(|| format!("the summary lacks {missing:?}"))
        }
        Assertion::ConversationIs { same_as } => {
            let earlier = run
                .steps
                .get(same_as - 1)
                .ok_or_else(|| format!("there is no step {same_as}"))?;
            (earlier.conversation == step.conversation)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "landed in conversation {}, step {same_as} in {}",
                        step.conversation, earlier.conversation
                    )
                })
        }
        Assertion::SurveySent(question) => {
            let standing = standing_surveys(events);
            standing
                .contains(question)
                .then_some(())
                .ok_or_else(|| format!("no {question} survey stands; standing: {standing:?}"))
        }
        Assertion::Language(expected) => {
            let language =
                frontline_language::settle(events.iter().filter_map(|e| match &e.kind {
                    EventKind::MessageReceived {
                        language, prefers, ..
                    } => Some(frontline_language::Said {
                        language: language.as_deref(),
                        preference: prefers.as_deref(),
                    }),
                    _ => None,
                }));
            // Nothing read: the default locale.
            let language = language.unwrap_or(frontline_flows::wording::DEFAULT_LOCALE);
            (language == expected.as_str())
                .then_some(())
                .ok_or_else(|| format!("the conversation speaks {language}, not {expected}"))
        }
        Assertion::RoutedSkill(skill) => {
            let summary = escalation.ok_or("not handed off, so there is no routing")?;
            summary
                .routing
                .skills
                .contains(skill)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "routed with skills {:?}, not {skill}",
                        summary.routing.skills
                    )
                })
        }
        Assertion::Tier(expected) => {
            let tier = frontline_escalation::recorded_tier(events.iter());
            (tier == Some(expected.as_str()))
                .then_some(())
                .ok_or_else(|| format!("the tier is {tier:?}, not {expected}"))
        }
        Assertion::Quality(expect) => {
            let stored = frontline_analytics::quality::current(events);
            let Some(quality) = stored else {
                return (!expect.scored)
                    .then_some(())
                    .ok_or_else(|| "no quality score stands (none stored, or the conversation went on after it)".to_string());
            };
            if !expect.scored {
                return Err(format!("a quality score was stored: {:?}", quality.score));
            }
            let verdicts = |v: frontline_domain::Verdict| -> Vec<&str> {
                quality
                    .items
                    .iter()
                    .filter(|i| i.verdict == v)
                    .map(|i| i.criterion.as_str())
                    .collect()
            };
            let (met, missed) = (
                verdicts(frontline_domain::Verdict::Met),
                verdicts(frontline_domain::Verdict::Missed),
            );
            let score = quality.score.unwrap_or(0.0);
            let mut wrong = vec![];
            for c in &expect.met {
                if !met.contains(&c.as_str()) {
                    wrong.push(format!("{c} not met"));
                }
            }
            for c in &expect.missed {
                if !missed.contains(&c.as_str()) {
                    wrong.push(format!("{c} not missed"));
                }
            }
            if expect.at_least.is_some_and(|min| score < min)
                || expect.at_most.is_some_and(|max| score > max)
            {
                wrong.push(format!("score {score:.2} out of bounds"));
            }
            let reasons: Vec<String> = quality
                .items
                .iter()
                .map(|i| format!("{}: {:?} ({})", i.criterion, i.verdict, i.reason))
                .collect();
            wrong.is_empty().then_some(()).ok_or_else(|| {
                format!(
                    "{}; the score: {score:.2}, {}",
                    wrong.join(", "),
                    reasons.join("; ")
                )
            })
        }
        Assertion::NoSurvey => {
            let standing = standing_surveys(events);
            standing
                .is_empty()
                .then_some(())
                .ok_or_else(|| format!("a survey was asked: {standing:?}"))
        }
        Assertion::SurveyAnswered { question, score } => {
            let answers: Vec<(frontline_domain::SurveyQuestion, u8)> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::SurveyAnswered {
                        question, score, ..
                    } => Some((*question, *score)),
                    _ => None,
                })
                .collect();
            answers
                .contains(&(*question, *score))
                .then_some(())
                .ok_or_else(|| format!("no {question} answer of {score}; answers: {answers:?}"))
        }
    }
}

/// The survey questions asked and not withdrawn.
fn standing_surveys(events: &[Event]) -> Vec<frontline_domain::SurveyQuestion> {
    let withdrawn: Vec<frontline_domain::OutboxId> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SurveyWithdrawn { outbox_id, .. } => Some(*outbox_id),
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SurveySent {
                question,
                outbox_id,
                ..
            } if !withdrawn.contains(outbox_id) => Some(*question),
            _ => None,
        })
        .collect()
}
