//! The decision engine: a pure state machine. `advance(stack, input, env) → effects`, no IO, no
//! clock, no randomness; the same inputs always give the same effects, which makes every
//! conversation replayable and every policy testable.
//!
//! Inputs are validated commands (from any understanding) and action outcomes (from the agent,
//! which runs the actions the engine asks for). Understanding can propose; only the flows decide.
//! A write action runs only after a `confirm` answered yes, with no slot changed since, and an
//! action that acts on or discloses an account only after a `verify` step proved the owner.
//!
//! Repair (cancel, digressions, corrections, clarification, not understood) uses built-in
//! wording unless a flow named `pattern_<situation>` exists, which then runs instead, so CX teams
//! can rewrite every repair turn.

use crate::compile::{
    CompiledFlow, FlowSet, Op, CHECK_CODE, CONFIRMATION, SEND_CODE, VERIFICATION_CODE,
};
use crate::slots;
use crate::spec::{Outcome, Starts};
use chrono::NaiveDate;
use frontline_domain::{
    ActionCall, ActionError, Channel, Command, EscalationTrigger, FlowFrame, ScoredCommand,
};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Most instructions one `advance` may run: a guard against a flow that never pauses.
pub const MAX_STEPS: usize = 1_000;

/// How many digits a one-time code has.
pub const CODE_DIGITS: usize = 6;

/// Where a `verify` step keeps its state in the frame's results: the account, whether a code
/// was sent and whether it was proven.
const VERIFICATION: &str = "verification";

/// What the engine may know besides the conversation: all of it supplied by the caller.
#[derive(Clone, Debug)]
pub struct Env {
    /// Today's date (for `days_since` and `today`).
    pub today: NaiveDate,
    /// The channel of the current message.
    pub channel: Channel,
    /// What is known of the customer (`verified`, `user_id`, …), as JSON. The accounts whose
    /// ownership the channel or an earlier code proved are listed in `verified_accounts`.
    pub customer: Value,
    /// A unique id of this turn; the idempotency keys of write actions derive from it.
    pub turn_id: String,
    /// The customer's message this turn, as written. A flow started on it keeps it, so what
    /// the opening already named ("return the lamp") picks among the flow's candidates and
    /// choices later instead of being asked again.
    pub message: String,
}

/// What happened since the last `advance`.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The customer's message, understood.
    Commands(Vec<ScoredCommand>),
    /// The result of the action the engine last asked for.
    ActionOutcome(Result<Value, ActionError>),
}

/// What the engine wants done, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Tell the customer something.
    Say(String),
    /// Ask the customer for a slot (or `confirmation`); the engine waits for the answer.
    Ask {
        /// The slot asked for.
        slot: String,
        /// The question.
        text: String,
    },
    /// Run this action and feed its outcome back with [`Input::ActionOutcome`].
    CallAction {
        /// The call (write actions carry an idempotency key).
        call: ActionCall,
        /// Whether it changes state.
        write: bool,
    },
    /// Hand the conversation to a human.
    Escalate {
        /// The reason code: asked for, a flow's policy, or an agent failure.
        trigger: EscalationTrigger,
        /// Why.
        reason: String,
        /// Which queue, if the flow named one.
        queue: Option<String>,
        /// The innermost flow as it stood when it was handed over (step reached, slots
        /// collected), if one was active.
        flow: Option<Box<FlowFrame>>,
    },
    /// A flow started.
    FlowStarted {
        /// Its id.
        flow_id: String,
    },
    /// A flow finished.
    FlowEnded {
        /// Its id.
        flow_id: String,
        /// How.
        outcome: Outcome,
    },
    /// A command was not valid here and was dropped.
    Rejected {
        /// The command.
        command: Command,
        /// Why.
        reason: String,
    },
    /// A command for the agent, not the flows (small talk, a knowledge question, nothing
    /// understood while no flow is active).
    Unhandled(Command),
}

/// Effects and the trace of executed steps, accumulated during one `advance`.
#[derive(Default)]
struct Out {
    effects: Vec<Effect>,
    trace: Vec<(String, String)>,
}

/// The engine over a set of flows.
#[derive(Debug, Clone)]
pub struct Engine {
    flows: Arc<FlowSet>,
}

/// Where a frame stands.
enum Pause {
    /// It needs the customer.
    Waiting,
    /// It needs an action's outcome.
    Action,
}

impl Engine {
    /// An engine over `flows`.
    pub fn new(flows: Arc<FlowSet>) -> Self {
        Self { flows }
    }

    /// The same engine speaking `locale` (its flows' translation), or this one when the flows
    /// have none for it.
    pub fn in_locale(&self, locale: &str) -> Engine {
        match self.flows.in_locale(locale) {
            Some(flows) => Engine::new(flows.clone()),
            None => self.clone(),
        }
    }

    /// The flows it runs.
    pub fn flows(&self) -> &FlowSet {
        &self.flows
    }

    /// The wording of `key` with `vars` filled in.
    fn say(&self, key: &str, vars: &[(&str, &str)]) -> String {
        self.flows.wording().say(key, vars)
    }

    /// Apply `input` to `stack` and run until the flows need the customer or an action.
    pub fn advance(&self, stack: &mut Vec<FlowFrame>, input: Input, env: &Env) -> Vec<Effect> {
        self.advance_traced(stack, input, env).0
    }

    /// Hand the conversation to a human for a reason found outside the flows (the escalation
    /// policy): every active flow ends `escalated`.
    pub fn escalate(
        &self,
        stack: &mut Vec<FlowFrame>,
        trigger: EscalationTrigger,
        reason: String,
    ) -> Vec<Effect> {
        let mut out = Out::default();
        self.hand_off(stack, trigger, reason, None, &mut out);
        out.effects
    }

    /// Like [`Engine::advance`], also returning every step executed, as (flow id, step id):
    /// for flow tests and step coverage.
    pub fn advance_traced(
        &self,
        stack: &mut Vec<FlowFrame>,
        input: Input,
        env: &Env,
    ) -> (Vec<Effect>, Vec<(String, String)>) {
        let mut out = Out::default();
        match input {
            Input::Commands(commands) => {
                if !self.apply_commands(stack, commands, env, &mut out) {
                    return (out.effects, out.trace);
                }
            }
            Input::ActionOutcome(outcome) => self.apply_outcome(stack, outcome, &mut out),
        }
        self.run(stack, env, &mut out);
        (out.effects, out.trace)
    }

    fn flow(&self, id: &str) -> Option<&Arc<CompiledFlow>> {
        self.flows.get(id)
    }

    /// The frame's program counter (its step id's position; `program.len()` when finished).
    fn pc(flow: &CompiledFlow, frame: &FlowFrame) -> Option<usize> {
        if frame.step.is_empty() {
            return Some(0);
        }
        if frame.step == END {
            return Some(flow.program.len());
        }
        flow.position_of(&frame.step)
    }

    fn set_pc(flow: &CompiledFlow, frame: &mut FlowFrame, pc: usize) {
        frame.step = flow
            .program
            .get(pc)
            .map_or_else(|| END.to_string(), |i| i.id.clone());
        frame.requested_slot = None;
        frame.asked = None;
        frame.attempts = 0;
    }

    fn scope(flow: &CompiledFlow, frame: &FlowFrame, env: &Env) -> Map<String, Value> {
        let mut scope = Map::new();
        for name in &flow.result_names {
            scope.insert(name.clone(), Value::Null);
        }
        for name in flow.spec.slots.keys() {
            scope.insert(
                name.clone(),
                frame.slots.get(name).cloned().unwrap_or(Value::Null),
            );
        }
        for (name, value) in &frame.results {
            scope.insert(name.clone(), value.clone());
        }
        scope.insert("today".into(), Value::String(env.today.to_string()));
        scope.insert("channel".into(), Value::String(env.channel.to_string()));
        scope.insert("customer".into(), env.customer.clone());
        scope
    }

    fn push_frame(
        &self,
        stack: &mut Vec<FlowFrame>,
        flow_id: &str,
        part: Option<&str>,
        env: &Env,
        slots: Map<String, Value>,
        out: &mut Out,
    ) {
        let instance = format!("{}/{}", env.turn_id, stack.len());
        stack.push(FlowFrame {
            flow_id: flow_id.to_string(),
            instance,
            slots,
            opening: Some(part.unwrap_or(&env.message).to_string())
                .filter(|m| !m.trim().is_empty()),
            ..Default::default()
        });
        out.effects.push(Effect::FlowStarted {
            flow_id: flow_id.to_string(),
        });
    }

    /// Say a repair message: through `pattern_<name>` if the CX team wrote one, else `default`.
    fn pattern(
        &self,
        stack: &mut Vec<FlowFrame>,
        name: &str,
        vars: Map<String, Value>,
        default: String,
        env: &Env,
        out: &mut Out,
    ) {
        let id = format!("pattern_{name}");
        match self.flow(&id) {
            Some(flow) => {
                let slots = vars
                    .into_iter()
                    .filter(|(k, _)| flow.spec.slots.contains_key(k))
                    .collect();
                self.push_frame(stack, &id, None, env, slots, out);
                self.run(stack, env, out);
            }
            None => out.effects.push(Effect::Say(default)),
        }
    }

    fn description(&self, flow_id: &str) -> String {
        self.flow(flow_id).map_or_else(
            || flow_id.replace('_', " "),
            |f| lower_first(&f.spec.description),
        )
    }

    /// Returns false when the turn is over (handed off).
    fn apply_commands(
        &self,
        stack: &mut Vec<FlowFrame>,
        commands: Vec<ScoredCommand>,
        env: &Env,
        out: &mut Out,
    ) -> bool {
        let commands: Vec<Command> = commands.into_iter().map(|c| c.command).collect();
        if let Some(reason) = commands.iter().find_map(|c| match c {
            Command::HumanHandoff { reason } => Some(reason.clone()),
            _ => None,
        }) {
            // Nothing else the message asked is done, and each such command says so.
            for other in commands.iter().filter(|c| {
                !matches!(
                    c,
                    Command::HumanHandoff { .. }
                        | Command::AnswerFromKnowledge { .. }
                        | Command::ChitChat { .. }
                )
            }) {
                out.effects.push(Effect::Rejected {
                    command: other.clone(),
                    reason: "not acted on: the customer asked for a person in the same message"
                        .into(),
                });
            }
            self.hand_off(stack, EscalationTrigger::ExplicitRequest, reason, None, out);
            return false;
        }
        let mut acted = false;
        if commands.iter().any(|c| matches!(c, Command::CancelFlow)) {
            match stack.pop() {
                Some(frame) => {
                    out.effects.push(Effect::FlowEnded {
                        flow_id: frame.flow_id.clone(),
                        outcome: Outcome::Abandoned,
                    });
                    let mut next = None;
                    if let Some(parent) = stack.last_mut().filter(|p| p.interrupted) {
                        next = parent.queued.then(|| self.description(&parent.flow_id));
                        self.resume(parent);
                    }
                    let what = self.description(&frame.flow_id);
                    self.pattern(
                        stack,
                        "cancelled",
                        vars(&[("flow", &what)]),
                        self.say("cancelled", &[("flow", &what)]),
                        env,
                        out,
                    );
                    // The other request the same message asked for begins now.
                    if let Some(next) = next {
                        out.effects
                            .push(Effect::Say(self.say("next_request", &[("flow", &next)])));
                    }
                }
                None => out.effects.push(Effect::Rejected {
                    command: Command::CancelFlow,
                    reason: "no flow is active".into(),
                }),
            }
            acted = true;
        }
        // The frame the last start pushed: a second start in the same message goes first, and
        // this one waits its turn ("a refund for the chair, and where is my backpack?").
        let mut pushed = false;
        for command in &commands {
            if let Command::StartFlow { flow_id, part } = command {
                acted = true;
                let pushed_before = std::mem::take(&mut pushed);
                match self.flow(flow_id) {
                    None => out.effects.push(Effect::Rejected {
                        command: command.clone(),
                        reason: format!("unknown flow `{flow_id}`"),
                    }),
                    Some(f)
                        if f.spec.starts == Starts::Internal || flow_id.starts_with("pattern_") =>
                    {
                        out.effects.push(Effect::Rejected {
                            command: command.clone(),
                            reason: format!("flow `{flow_id}` is not started by customers"),
                        })
                    }
                    Some(_) if stack.iter().any(|f| &f.flow_id == flow_id) => {
                        self.back_to(stack, flow_id, env, out);
                    }
                    Some(_) => {
                        if let Some(top) = stack.last_mut() {
                            top.interrupted = true;
                            if pushed_before {
                                top.queued = true;
                                let what = self.description(&top.flow_id);
                                out.effects
                                    .push(Effect::Say(self.say("queued", &[("flow", &what)])));
                            }
                        }
                        self.push_frame(stack, flow_id, part.as_deref(), env, Map::new(), out);
                        pushed = true;
                    }
                }
            }
        }
        for command in &commands {
            if let Command::SetSlot { name, value } = command {
                acted = true;
                self.set_slot(stack, command, name, value, env, out);
            }
        }
        for command in commands {
            match command {
                Command::ChitChat { .. } | Command::AnswerFromKnowledge { .. } => {
                    out.effects.push(Effect::Unhandled(command))
                }
                Command::Clarify { ref options } => {
                    let described: Vec<String> =
                        options.iter().map(|o| self.description(o)).collect();
                    let joined = described.join(&self.say("clarify_joiner", &[]));
                    let text = match described.as_slice() {
                        // One flow offered (after answering a question about it).
                        [only] => self.say("offer_flow", &[("flow", only)]),
                        _ => self.say("clarify", &[("options", &joined)]),
                    };
                    self.pattern(
                        stack,
                        "clarify",
                        vars(&[("options", &joined)]),
                        text,
                        env,
                        out,
                    );
                    acted = true;
                }
                Command::CannotHandle { .. } if !acted => {
                    if stack.is_empty() {
                        out.effects.push(Effect::Unhandled(command));
                    } else {
                        self.pattern(
                            stack,
                            "cannot_handle",
                            Map::new(),
                            self.say("didnt_catch", &[]),
                            env,
                            out,
                        );
                    }
                }
                _ => {}
            }
        }
        true
    }

    fn set_slot(
        &self,
        stack: &mut Vec<FlowFrame>,
        command: &Command,
        name: &str,
        value: &Value,
        env: &Env,
        out: &mut Out,
    ) {
        if name == CONFIRMATION {
            return self.answer_confirmation(stack, command, value, env, out);
        }
        if name == VERIFICATION_CODE {
            return self.answer_code(stack, command, value, out);
        }
        let Some(index) = stack.iter().rposition(|f| {
            self.flow(&f.flow_id)
                .is_some_and(|flow| flow.slots.contains_key(name))
        }) else {
            out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: format!("no active flow has a slot `{name}`"),
            });
            return;
        };
        let frame = &mut stack[index];
        let flow = self.flow(&frame.flow_id).expect("checked").clone();
        let scope = Self::scope(&flow, frame, env);
        let slot = &flow.slots[name];
        let choices_unknown = slot
            .choices
            .as_ref()
            .is_some_and(|c| c.eval(&scope, env.today).is_err());
        if choices_unknown {
            // The data to check it against is not fetched yet: keep it, check at its collect.
            frame.slots.insert(name.to_string(), value.clone());
            if !frame.unvalidated.iter().any(|n| n == name) {
                frame.unvalidated.push(name.to_string());
            }
            return;
        }
        // A reply pointing at one of the offers ("the one with the kettle", "yes").
        let asked_with_offers =
            frame.requested_slot.as_deref() == Some(name) && !frame.offered.is_empty();
        let picked;
        let value = match value {
            Value::String(text) if asked_with_offers => {
                match crate::candidates::resolve(text, &frame.offered) {
                    crate::candidates::Pick::One(v) => {
                        picked = v;
                        &picked
                    }
                    crate::candidates::Pick::Declined => {
                        // Asked again with the slot's own prompt (the run asks it).
                        frame.offered.clear();
                        frame.declined.push(name.to_string());
                        return;
                    }
                    crate::candidates::Pick::Narrowed(values) => {
                        // Asked again among the ones it points at (the run asks it).
                        frame.offered.retain(|o| values.contains(&o.value));
                        return;
                    }
                    crate::candidates::Pick::Unclear => value,
                }
            }
            other => other,
        };
        let normalized = match slots::normalize(name, &flow.slots[name], value, &scope, env.today) {
            Ok(v) => v,
            Err(_) if asked_with_offers => {
                out.effects.push(Effect::Say(self.say("which_offer", &[])));
                out.effects.push(Effect::Rejected {
                    command: command.clone(),
                    reason: "the answer points at none of the offers".into(),
                });
                return;
            }
            Err(message) => {
                out.effects.push(Effect::Say(message));
                out.effects.push(Effect::Rejected {
                    command: command.clone(),
                    reason: "the value does not fit the slot".into(),
                });
                return;
            }
        };
        let previous = frame.slots.get(name).filter(|v| !v.is_null()).cloned();
        if previous.as_ref() == Some(&normalized) {
            return;
        }
        if previous.is_some() && frame.wrote {
            out.effects.push(Effect::Say(
                self.say("already_done", &[("slot", &name.replace('_', " "))]),
            ));
            out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: "a write action already ran".into(),
            });
            return;
        }
        frame.slots.insert(name.to_string(), normalized.clone());
        frame.confirmed = false;
        if previous.is_some() {
            // A correction: run again every step from where the slot was collected.
            if let (Some(at), Some(pc)) = (flow.collect_of(name), Self::pc(&flow, frame)) {
                if at < pc {
                    Self::set_pc(&flow, frame, at);
                }
            }
            out.effects.push(Effect::Say(self.say(
                "changed",
                &[
                    ("slot", &name.replace('_', " ")),
                    ("value", &crate::template::display(&normalized)),
                ],
            )));
        }
    }

    /// The code typed at a `verify` step that sent one; anything else is refused.
    fn answer_code(
        &self,
        stack: &mut [FlowFrame],
        command: &Command,
        value: &Value,
        out: &mut Out,
    ) {
        let waiting = stack
            .last_mut()
            .filter(|f| f.requested_slot.as_deref() == Some(VERIFICATION_CODE));
        let code = value
            .as_str()
            .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
            .or_else(|| value.as_u64().map(|n| format!("{n:06}")));
        match (waiting, code) {
            (Some(frame), Some(code)) if code.len() == CODE_DIGITS => {
                // Kept with the step's state, not among the slots (which the log keeps when a
                // flow ends), and dropped once checked.
                if let Some(record) = frame
                    .results
                    .get_mut(VERIFICATION)
                    .and_then(Value::as_object_mut)
                {
                    record.insert("code".into(), Value::String(code));
                }
            }
            (Some(_), _) => {
                out.effects.push(Effect::Say(
                    self.say("code_digits", &[("digits", &CODE_DIGITS.to_string())]),
                ));
                out.effects.push(Effect::Rejected {
                    command: command.clone(),
                    reason: "not a code".into(),
                });
            }
            (None, _) => out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: "no code was asked for".into(),
            }),
        }
    }

    fn answer_confirmation(
        &self,
        stack: &mut Vec<FlowFrame>,
        command: &Command,
        value: &Value,
        env: &Env,
        out: &mut Out,
    ) {
        let Some(frame) = stack.last_mut() else {
            out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: "nothing to confirm".into(),
            });
            return;
        };
        let flow = self
            .flow(&frame.flow_id)
            .expect("frames name loaded flows")
            .clone();
        let pc = Self::pc(&flow, frame);
        let Some(Op::Confirm { on_no, .. }) = pc.and_then(|pc| flow.program.get(pc)).map(|i| &i.op)
        else {
            out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: "nothing to confirm".into(),
            });
            return;
        };
        let Some(yes) = slots::parse_bool(value) else {
            out.effects.push(Effect::Rejected {
                command: command.clone(),
                reason: "a confirmation is yes or no".into(),
            });
            return;
        };
        let pc = pc.expect("matched");
        if yes {
            frame.confirmed = true;
            Self::set_pc(&flow, frame, pc + 1);
        } else if let Some(target) = on_no {
            frame.confirmed = false;
            Self::set_pc(&flow, frame, *target);
        } else {
            let frame = stack.pop().expect("checked");
            out.effects.push(Effect::FlowEnded {
                flow_id: frame.flow_id.clone(),
                outcome: Outcome::Abandoned,
            });
            self.pattern(
                stack,
                "confirm_declined",
                Map::new(),
                self.say("confirm_declined", &[]),
                env,
                out,
            );
        }
    }

    fn apply_outcome(
        &self,
        stack: &mut Vec<FlowFrame>,
        outcome: Result<Value, ActionError>,
        out: &mut Out,
    ) {
        let Some(frame) = stack.last_mut() else {
            return;
        };
        let Some(flow) = self.flow(&frame.flow_id).cloned() else {
            return;
        };
        let Some(pc) = Self::pc(&flow, frame) else {
            return;
        };
        if let Some(Op::Verify { .. }) = flow.program.get(pc).map(|i| &i.op) {
            return self.verification_outcome(stack, outcome, out);
        }
        let Some(Op::Action {
            name,
            result,
            on_error,
            retry,
            write,
            ..
        }) = flow.program.get(pc).map(|i| &i.op)
        else {
            return;
        };
        if !*write && frame.first_lookup.is_none() {
            frame.first_lookup = Some(flow.program[pc].id.clone());
        }
        match outcome {
            Ok(value) => {
                if let Some(result) = result {
                    frame.results.insert(result.clone(), value);
                }
                if *write {
                    frame.wrote = true;
                    frame.confirmed = false;
                }
                Self::set_pc(&flow, frame, pc + 1);
            }
            Err(ActionError::Backend { .. }) if frame.attempts < *retry => {
                // Leave the frame on the action; `run` asks for it again.
                frame.attempts += 1;
            }
            Err(error) => {
                let (kind, reason) = error_parts(&error);
                // `on_error` is for business outcomes (not found, refused, invalid); a backend
                // that is down is not something a flow can talk its way around.
                let handler = on_error.filter(|_| kind != "backend");
                match handler {
                    Some(target) => {
                        frame.results.insert(
                            "error".into(),
                            json!({"kind": kind, "reason": reason, "action": name}),
                        );
                        Self::set_pc(&flow, frame, target);
                    }
                    None => {
                        out.effects
                            .push(Effect::Say(self.say("backend_error", &[])));
                        self.hand_off(
                            stack,
                            EscalationTrigger::AgentError,
                            format!("action `{name}` failed: {error}"),
                            None,
                            out,
                        );
                    }
                }
            }
        }
    }

    /// What the agent answered a `verify` step: a code sent (or refused: too many asked), or a
    /// code checked (right; wrong, try again; expired, a new one goes out; locked out). The
    /// step acts on it when it runs next.
    fn verification_outcome(
        &self,
        stack: &mut Vec<FlowFrame>,
        outcome: Result<Value, ActionError>,
        out: &mut Out,
    ) {
        let frame = stack.last_mut().expect("checked");
        let mut record = frame.results.remove(VERIFICATION).unwrap_or(json!({}));
        let pending = record["pending"].take();
        let answer = match outcome {
            Ok(answer) => answer,
            Err(error) => {
                out.effects
                    .push(Effect::Say(self.say("backend_error", &[])));
                let reason = format!("verifying the customer failed: {error}");
                return self.hand_off(stack, EscalationTrigger::AgentError, reason, None, out);
            }
        };
        let message = answer["message"].as_str().map(str::to_string);
        if pending == "send" {
            let sent = answer["sent"].as_bool().unwrap_or(true);
            record["sent"] = json!(sent);
            if let Some(prompt) = answer["prompt"].as_str() {
                record["prompt"] = json!(prompt);
            }
            if !sent {
                record["stop"] =
                    json!(message.unwrap_or_else(|| "I can't send a code right now.".into()));
            }
        } else if pending == "check" {
            if let Some(r) = record.as_object_mut() {
                r.remove("code");
            }
            if answer["verified"].as_bool() == Some(true) {
                record["verified"] = json!(true);
                record["via"] = json!("code");
            } else {
                match answer["next"].as_str() {
                    Some("resend") => record["sent"] = json!(false),
                    Some("stop") => record["stop"] = json!(message.clone()),
                    _ => {}
                }
                record["notice"] =
                    json!(message.unwrap_or_else(|| { self.say("code_wrong", &[]) }));
            }
        }
        frame.results.insert(VERIFICATION.into(), record);
    }

    /// Whether the stack holds an owner a `verify` step proved: in a frame, or in what a
    /// called flow (like `authenticate`) returned.
    fn owner_verified(stack: &[FlowFrame]) -> bool {
        let proven =
            |results: &Map<String, Value>| results[VERIFICATION]["verified"] == json!(true);
        stack.iter().any(|f| {
            f.results.get(VERIFICATION).is_some() && proven(&f.results)
                || f.results.values().any(|v| {
                    v.as_object()
                        .is_some_and(|r| r.get(VERIFICATION).is_some() && proven(r))
                })
        })
    }

    /// End every flow; returns the innermost one as it stood.
    fn end_all(
        &self,
        stack: &mut Vec<FlowFrame>,
        outcome: Outcome,
        out: &mut Out,
    ) -> Option<FlowFrame> {
        let mut innermost = None;
        while let Some(frame) = stack.pop() {
            out.effects.push(Effect::FlowEnded {
                flow_id: frame.flow_id.clone(),
                outcome,
            });
            innermost.get_or_insert(frame);
        }
        innermost
    }

    /// End every flow as escalated and ask for a human.
    fn hand_off(
        &self,
        stack: &mut Vec<FlowFrame>,
        trigger: EscalationTrigger,
        reason: String,
        queue: Option<String>,
        out: &mut Out,
    ) {
        let flow = self.end_all(stack, Outcome::Escalated, out).map(Box::new);
        out.effects.push(Effect::Escalate {
            trigger,
            reason,
            queue,
            flow,
        });
    }

    fn fail(&self, stack: &mut Vec<FlowFrame>, reason: String, out: &mut Out) {
        out.effects.push(Effect::Say(self.say("cannot_solve", &[])));
        self.hand_off(stack, EscalationTrigger::AgentError, reason, None, out);
    }

    /// Run the top frame until something waits.
    fn run(&self, stack: &mut Vec<FlowFrame>, env: &Env, out: &mut Out) {
        for _ in 0..MAX_STEPS {
            let Some(frame) = stack.last_mut() else {
                return;
            };
            let Some(flow) = self.flow(&frame.flow_id).cloned() else {
                let frame = stack.pop().expect("checked");
                out.effects.push(Effect::FlowEnded {
                    flow_id: frame.flow_id,
                    outcome: Outcome::Failed,
                });
                continue;
            };
            let Some(pc) = Self::pc(&flow, frame) else {
                // The flow was edited and this step is gone: start it over rather than guess.
                let frame = stack.pop().expect("checked");
                out.effects.push(Effect::FlowEnded {
                    flow_id: frame.flow_id.clone(),
                    outcome: Outcome::Failed,
                });
                out.effects
                    .push(Effect::Say(self.say("process_changed", &[])));
                let slots = frame.slots;
                self.push_frame(stack, &flow.spec.id, None, env, slots, out);
                continue;
            };
            match self.step(stack, &flow, pc, env, out) {
                Some(Pause::Waiting) | Some(Pause::Action) => return,
                None => {}
            }
        }
        self.fail(
            stack,
            format!("a flow ran {MAX_STEPS} steps without pausing"),
            out,
        );
    }

    /// Execute one instruction of the top frame; `Some` when it must wait.
    fn step(
        &self,
        stack: &mut Vec<FlowFrame>,
        flow: &Arc<CompiledFlow>,
        pc: usize,
        env: &Env,
        out: &mut Out,
    ) -> Option<Pause> {
        let Some(instr) = flow.program.get(pc) else {
            self.finish(stack, Outcome::Resolved, env, out);
            return None;
        };
        let frame = stack.last_mut().expect("running frame");
        let scope = Self::scope(flow, frame, env);
        out.trace.push((flow.spec.id.clone(), instr.id.clone()));
        match &instr.op {
            Op::Collect { slot } => {
                if let Some(i) = frame.unvalidated.iter().position(|n| n == slot) {
                    frame.unvalidated.remove(i);
                    let raw = frame.slots.remove(slot).unwrap_or(Value::Null);
                    match slots::normalize(slot, &flow.slots[slot], &raw, &scope, env.today) {
                        Ok(value) => {
                            frame.slots.insert(slot.clone(), value);
                        }
                        Err(message) => out.effects.push(Effect::Say(message)),
                    }
                }
                // A choice the opening already named ("return the lamp"), once its choices are
                // known.
                let unfilled = frame.slots.get(slot).is_none_or(Value::is_null);
                // (Never by a position: "return 2 items" names no item.)
                if let (true, Some(opening)) = (unfilled, frame.opening.as_deref()) {
                    let compiled = &flow.slots[slot];
                    let named = match compiled.spec.from_opening {
                        Some(crate::spec::FromOpening::Reason) => {
                            slots::stated_reason(opening).map(Value::String)
                        }
                        None => slots::named_in(compiled, opening, &scope, env.today),
                    };
                    // Named in the opening, and a value the slot's own rules accept.
                    if let Some(value) = named
                        .and_then(|v| slots::normalize(slot, compiled, &v, &scope, env.today).ok())
                    {
                        frame.slots.insert(slot.clone(), value);
                    }
                }
                let compiled = &flow.slots[slot];
                if compiled.spec.take_only_choice
                    && frame.slots.get(slot).is_none_or(Value::is_null)
                {
                    if let Some(value) = slots::only_choice(compiled, &scope, env.today)
                        .and_then(|v| slots::normalize(slot, compiled, &v, &scope, env.today).ok())
                    {
                        frame.slots.insert(slot.clone(), value);
                    }
                }
                if frame.slots.get(slot).is_some_and(|v| !v.is_null()) {
                    frame.offered.clear();
                    Self::set_pc(flow, frame, pc + 1);
                    return None;
                }
                // Offers narrowed by the last answer ("the smart watch one") stay narrowed.
                let narrowed: Vec<Value> = match frame.requested_slot.as_deref() == Some(slot) {
                    true => frame.offered.iter().map(|o| o.value.clone()).collect(),
                    false => vec![],
                };
                frame.requested_slot = Some(slot.clone());
                let compiled = &flow.slots[slot];
                let offers = compiled
                    .candidates
                    .as_ref()
                    .filter(|_| !frame.declined.contains(slot))
                    .and_then(|c| {
                        let offers = c.from.eval(&scope, env.today).ok()?;
                        Some((c, crate::candidates::from_value(&offers).ok()?))
                    });
                // The opening named, by its contents, a record that cannot be offered (the
                // shoes of an order not delivered yet) and none of the candidates: say why, and
                // end rather than propose something else.
                if let Some((c, found)) = offers.as_ref().filter(|_| narrowed.is_empty()) {
                    let named = c.unfit.as_ref().zip(frame.opening.as_deref()).and_then(
                        |((others, unfit), opening)| {
                            if crate::candidates::named_by_contents(opening, found).is_some() {
                                return None;
                            }
                            let others = others
                                .eval(&scope, env.today)
                                .ok()
                                .and_then(|v| crate::candidates::from_value(&v).ok())?;
                            let i = crate::candidates::named_by_contents(opening, &others)?;
                            Some((others[i].label.clone(), unfit))
                        },
                    );
                    if let Some((label, unfit)) = named {
                        let mut with = scope.clone();
                        with.insert("named".into(), Value::String(label));
                        frame.offered.clear();
                        out.effects
                            .push(Effect::Say(flow.responses[unfit].render(&with)));
                        self.finish(stack, Outcome::Failed, env, out);
                        return None;
                    }
                }
                match offers {
                    Some((c, offers)) if offers.is_empty() => {
                        frame.offered.clear();
                        if let Some(none) = &c.none {
                            out.effects
                                .push(Effect::Say(flow.responses[none].render(&scope)));
                            self.finish(stack, Outcome::Failed, env, out);
                            return None;
                        }
                    }
                    Some((c, mut offers)) => {
                        if offers.iter().any(|o| narrowed.contains(&o.value)) {
                            offers.retain(|o| narrowed.contains(&o.value));
                        }
                        // What the opening already named narrows them to one.
                        if let Some(named) = frame
                            .opening
                            .as_deref()
                            .filter(|_| offers.len() > 1)
                            .and_then(|m| crate::candidates::mentioned(m, &offers))
                        {
                            offers.retain(|o| o.value == named);
                        }
                        let mut with = scope.clone();
                        let label = offers.first().map(|o| o.label.clone()).unwrap_or_default();
                        with.insert("candidate".into(), Value::String(label));
                        let text = crate::candidates::render(
                            &offers,
                            &c.one.render(&with),
                            &c.many.render(&scope),
                        );
                        let again = frame.asked.as_deref() == Some(text.as_str());
                        frame.asked = Some(text.clone());
                        let text = if again {
                            format!(
                                "{text}\n{}",
                                self.say(crate::candidates::how_to_answer(&offers), &[])
                            )
                        } else {
                            text
                        };
                        frame.offered = offers;
                        out.effects.push(Effect::Ask {
                            slot: slot.clone(),
                            text,
                        });
                        return Some(Pause::Waiting);
                    }
                    None => {}
                }
                frame.offered.clear();
                // The same question twice comes in other words the second time (unless this
                // turn already said what was wrong with the answer).
                let prompt = compiled.prompt.render(&scope);
                let explained = out
                    .effects
                    .iter()
                    .any(|e| matches!(e, Effect::Rejected { .. }));
                let text = if frame.asked.as_deref() == Some(prompt.as_str()) && !explained {
                    slots::rephrased(compiled, &scope, env.today, self.flows.wording())
                } else {
                    prompt.clone()
                };
                frame.asked = Some(prompt);
                out.effects.push(Effect::Ask {
                    slot: slot.clone(),
                    text,
                });
                Some(Pause::Waiting)
            }
            Op::Action {
                name,
                args,
                write,
                owner_only,
                ..
            } => {
                if *write && !frame.confirmed {
                    let reason = format!(
                        "flow `{}` reached write action `{name}` without a confirmation",
                        flow.spec.id
                    );
                    self.fail(stack, reason, out);
                    return Some(Pause::Waiting);
                }
                if *owner_only && !Self::owner_verified(stack) {
                    let reason = format!(
                        "flow `{}` reached `{name}`, which acts on an account, without a verified owner",
                        flow.spec.id
                    );
                    self.fail(stack, reason, out);
                    return Some(Pause::Waiting);
                }
                let frame = stack.last_mut().expect("running frame");
                let args = render_args(args, &scope);
                let idempotency_key = write.then(|| format!("{}/{}", frame.instance, instr.id));
                out.effects.push(Effect::CallAction {
                    call: ActionCall {
                        name: name.clone(),
                        args: Value::Object(args),
                        idempotency_key,
                    },
                    write: *write,
                });
                Some(Pause::Action)
            }
            Op::Set { assignments } => {
                for (slot, expr) in assignments {
                    match expr.eval(&scope, env.today) {
                        Ok(value) => {
                            frame.slots.insert(slot.clone(), value);
                        }
                        Err(e) => {
                            self.fail(
                                stack,
                                format!("flow `{}` step `{}`: {e}", flow.spec.id, instr.id),
                                out,
                            );
                            return Some(Pause::Waiting);
                        }
                    }
                }
                Self::set_pc(flow, frame, pc + 1);
                None
            }
            Op::Branch {
                condition,
                otherwise,
            } => match condition.holds(&scope, env.today) {
                Ok(true) => {
                    Self::set_pc(flow, frame, pc + 1);
                    None
                }
                Ok(false) => {
                    Self::set_pc(flow, frame, *otherwise);
                    None
                }
                Err(e) => {
                    // A policy that cannot be evaluated is never guessed: a human decides.
                    self.fail(
                        stack,
                        format!("flow `{}` step `{}`: {e}", flow.spec.id, instr.id),
                        out,
                    );
                    Some(Pause::Waiting)
                }
            },
            Op::Jump { target } => {
                Self::set_pc(flow, frame, *target);
                None
            }
            Op::Respond { response } => {
                out.effects
                    .push(Effect::Say(flow.responses[response].render(&scope)));
                Self::set_pc(flow, frame, pc + 1);
                None
            }
            Op::Confirm { response, .. } => {
                frame.requested_slot = Some(CONFIRMATION.into());
                out.effects.push(Effect::Ask {
                    slot: CONFIRMATION.into(),
                    text: flow.responses[response].render(&scope),
                });
                Some(Pause::Waiting)
            }
            Op::Verify { account } => {
                let account = match account.eval(&scope, env.today) {
                    Ok(Value::Null) => Value::Null,
                    Ok(Value::String(id)) if !id.is_empty() => Value::String(id),
                    Ok(Value::String(_)) => Value::Null,
                    Ok(other) => Value::String(crate::template::display(&other)),
                    Err(e) => {
                        let reason = format!("flow `{}` step `{}`: {e}", flow.spec.id, instr.id);
                        self.fail(stack, reason, out);
                        return Some(Pause::Waiting);
                    }
                };
                self.verify_step(stack, flow, pc, account, env, out)
            }
            Op::Call { flow: callee } => {
                let callee = callee.clone();
                self.push_frame(stack, &callee, None, env, Map::new(), out);
                None
            }
            Op::Link { flow: next } => {
                let next = next.clone();
                let frame = stack.pop().expect("running frame");
                out.effects.push(Effect::FlowEnded {
                    flow_id: frame.flow_id,
                    outcome: Outcome::Resolved,
                });
                self.push_frame(stack, &next, None, env, Map::new(), out);
                None
            }
            Op::Escalate { reason, queue } => {
                let reason = reason.render(&scope);
                let queue = queue.clone();
                self.hand_off(stack, EscalationTrigger::Policy, reason, queue, out);
                Some(Pause::Waiting)
            }
            Op::End { outcome } => {
                self.finish(stack, *outcome, env, out);
                None
            }
        }
    }

    /// One move of a `verify` step for `account`: pass when it is proven (now or earlier in
    /// this flow), else send a code, ask for it, and check what is typed.
    fn verify_step(
        &self,
        stack: &mut Vec<FlowFrame>,
        flow: &Arc<CompiledFlow>,
        pc: usize,
        account: Value,
        env: &Env,
        out: &mut Out,
    ) -> Option<Pause> {
        let frame = stack.last_mut().expect("running frame");
        let mut record = frame.results.remove(VERIFICATION).unwrap_or(json!({}));
        if record["account"] != account {
            // A new account (the customer corrected the email): nothing sent or proven for it.
            record = json!({"account": account});
        }
        let proven_before = account.as_str().is_some_and(|id| {
            env.customer["verified_accounts"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(id)))
        });
        if proven_before && record["verified"] != json!(true) {
            record["verified"] = json!(true);
            record["via"] = json!("earlier");
        }
        if let Some(notice) = record.as_object_mut().and_then(|r| r.remove("notice")) {
            out.effects
                .push(Effect::Say(notice.as_str().unwrap_or_default().to_string()));
        }
        if let Some(stop) = record.get("stop").cloned() {
            frame.results.insert(VERIFICATION.into(), record);
            if let Some(text) = stop.as_str() {
                out.effects.push(Effect::Say(text.to_string()));
            }
            self.finish(stack, Outcome::Failed, env, out);
            return None;
        }
        let (call, pause) = if record["verified"] == json!(true) {
            if let Some(r) = record.as_object_mut() {
                r.remove("code");
            }
            frame.results.insert(VERIFICATION.into(), record);
            Self::set_pc(flow, frame, pc + 1);
            return None;
        } else if record["sent"] != json!(true) {
            record["pending"] = json!("send");
            (
                Some((SEND_CODE, json!({"account": account}))),
                Pause::Action,
            )
        } else if let Some(code) = record.as_object_mut().and_then(|r| r.remove("code")) {
            record["pending"] = json!("check");
            let args = json!({"account": account, "code": code});
            (Some((CHECK_CODE, args)), Pause::Action)
        } else {
            frame.requested_slot = Some(VERIFICATION_CODE.into());
            let text = record["prompt"]
                .as_str()
                .map_or_else(|| self.say("code_prompt", &[]), str::to_string);
            out.effects.push(Effect::Ask {
                slot: VERIFICATION_CODE.into(),
                text,
            });
            (None, Pause::Waiting)
        };
        frame.results.insert(VERIFICATION.into(), record);
        if let Some((name, args)) = call {
            out.effects.push(Effect::CallAction {
                call: ActionCall {
                    name: name.into(),
                    args,
                    idempotency_key: None,
                },
                write: false,
            });
        }
        Some(pause)
    }

    /// A flow takes over again after a digression ended or was cancelled. While it waited,
    /// the customer may have acted elsewhere and the backend's data may have changed (an order
    /// shipped), so what it looked up and the branches it took on that are stale: any
    /// confirmation is void, and unless it already wrote, it runs again from its first look-up
    /// (slots already given are kept, so nothing is asked twice; only the confirmation is).
    /// A flow that wrote keeps its place: the steps before its write must not run twice.
    fn resume(&self, frame: &mut FlowFrame) {
        frame.interrupted = false;
        frame.queued = false;
        frame.confirmed = false;
        if frame.wrote {
            return;
        }
        let Some(flow) = self.flow(&frame.flow_id).cloned() else {
            return;
        };
        let first = frame
            .first_lookup
            .as_deref()
            .and_then(|step| flow.position_of(step));
        if let (Some(first), Some(pc)) = (first, Self::pc(&flow, frame)) {
            if first < pc {
                Self::set_pc(&flow, frame, first);
            }
        }
    }

    /// The customer asks again for a request a digression interrupted ("ok, yes please cancel
    /// it" while the order's status is being looked up): the flows started on top of it end
    /// abandoned and it goes on; a yes to the one thing it was proposing is taken as the answer.
    /// A flow it called (authentication) is part of it and stays.
    fn back_to(&self, stack: &mut Vec<FlowFrame>, flow_id: &str, env: &Env, out: &mut Out) {
        let Some(index) = stack.iter().rposition(|f| f.flow_id == flow_id) else {
            return;
        };
        if index + 1 == stack.len() || !stack[index].interrupted {
            return;
        }
        while stack.len() > index + 1 {
            let frame = stack.pop().expect("a frame above");
            out.effects.push(Effect::FlowEnded {
                flow_id: frame.flow_id,
                outcome: Outcome::Abandoned,
            });
        }
        let frame = stack.last_mut().expect("the flow asked for");
        // What it was proposing, read before it resumes (resuming re-runs its look-ups).
        let accepted = frame
            .requested_slot
            .clone()
            .filter(|_| frame.offered.len() == 1)
            .and_then(
                |slot| match crate::candidates::resolve(&env.message, &frame.offered) {
                    crate::candidates::Pick::One(value) => Some((slot, value)),
                    _ => None,
                },
            );
        self.resume(frame);
        if let Some((slot, value)) = accepted {
            let command = Command::SetSlot {
                name: slot.clone(),
                value: value.clone(),
            };
            self.set_slot(stack, &command, &slot, &value, env, out);
        }
    }

    /// The top frame ended: return to its caller, resume an interrupted flow, or stop.
    fn finish(&self, stack: &mut Vec<FlowFrame>, outcome: Outcome, env: &Env, out: &mut Out) {
        let frame = stack.pop().expect("a frame to finish");
        out.effects.push(Effect::FlowEnded {
            flow_id: frame.flow_id.clone(),
            outcome,
        });
        let Some(parent) = stack.last_mut() else {
            return;
        };
        let Some(parent_flow) = self.flow(&parent.flow_id).cloned() else {
            return;
        };
        let parent_pc = Self::pc(&parent_flow, parent);
        let called = parent_pc
            .and_then(|pc| parent_flow.program.get(pc))
            .is_some_and(|i| matches!(&i.op, Op::Call { flow } if *flow == frame.flow_id));
        if called {
            if outcome == Outcome::Resolved {
                let mut returned = frame.slots.clone();
                returned.extend(frame.results.clone());
                parent
                    .results
                    .insert(frame.flow_id.clone(), Value::Object(returned));
                Self::set_pc(&parent_flow, parent, parent_pc.expect("called") + 1);
            } else {
                // The caller cannot go on without what the callee was for.
                self.finish(stack, outcome, env, out);
            }
        } else if parent.interrupted && !frame.flow_id.starts_with("pattern_") {
            let key = if parent.queued {
                "next_request"
            } else {
                "resumed"
            };
            self.resume(parent);
            let what = self.description(&parent.flow_id);
            self.pattern(
                stack,
                "continue_interrupted",
                vars(&[("flow", &what)]),
                self.say(key, &[("flow", &what)]),
                env,
                out,
            );
        }
    }
}

const END: &str = "__end";

fn vars(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// A description as part of a sentence: first letter lower case, no closing full stop.
pub(crate) fn lower_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn error_parts(error: &ActionError) -> (&'static str, String) {
    match error {
        ActionError::UnknownAction { .. } => ("unknown_action", error.to_string()),
        ActionError::InvalidArguments { reason, .. } => ("invalid_arguments", reason.clone()),
        ActionError::MissingIdempotencyKey { .. } => ("missing_idempotency_key", error.to_string()),
        ActionError::NotFound { what } => ("not_found", format!("{what} not found")),
        ActionError::Refused { reason } => ("refused", reason.clone()),
        ActionError::Backend { message } => ("backend", message.clone()),
    }
}

/// Render argument templates; a lone `{name}` keeps its JSON type (lists stay lists).
fn render_args(args: &Map<String, Value>, scope: &Map<String, Value>) -> Map<String, Value> {
    fn render(value: &Value, scope: &Map<String, Value>) -> Value {
        match value {
            Value::String(s) => match crate::template::Template::parse(s) {
                Ok(t) => t
                    .lone_value(scope)
                    .unwrap_or_else(|| Value::String(t.render(scope))),
                Err(_) => Value::String(s.clone()),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| render(v, scope)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), render(v, scope)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    args.iter()
        .map(|(k, v)| (k.clone(), render(v, scope)))
        .collect()
}
