//! Flow tests: YAML files beside the flows (`flows/tests/*.yaml`) that drive the engine with
//! commands and stubbed action outcomes, check what it says, asks, calls and how flows end, and
//! measure which steps ran. `frontline flows test` runs them; so does `make test`.
//!
//! ```yaml
//! customer: {email: ada@example.com}          # what the channel knows
//! actions:                                    # stubbed outcomes, by action name
//!   find_user_id_by_email: {ok: ada_1}
//!   get_order_details: {ok: {order_id: "#W0000001", user_id: ada_1, status: pending}}
//! cases:
//!   - name: happy path
//!     actions: {cancel_pending_order: [{error: backend}, {ok: {}}]}   # per case; a list = in turn
//!     turns:
//!       - start: cancel_order
//!         set: {order_id: "#W0000001"}
//!         expect: {asks: reason, calls: [find_user_id_by_email, get_order_details]}
//!       - confirm: yes
//!         expect: {says: ["Done."], ended: {cancel_order: resolved}, writes: 1}
//! ```

use crate::compile::CONFIRMATION;
use crate::engine::{Effect, Engine, Env, Input};
use crate::load::Diagnostic;
use crate::spec::Outcome;
use crate::yaml::{self, Position};
use chrono::NaiveDate;
use frontline_domain::{ActionError, Channel, Command, FlowFrame, ScoredCommand};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A stubbed outcome: `{ok: value}` or `{error: kind, reason: text}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stub {
    #[serde(default)]
    ok: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// One stub, or several returned in turn (the last repeats).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Stubs {
    One(Stub),
    Many(Vec<Stub>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    says: Vec<String>,
    #[serde(default)]
    asks: Option<String>,
    #[serde(default)]
    calls: Option<Vec<String>>,
    #[serde(default)]
    writes: Option<usize>,
    #[serde(default)]
    args: BTreeMap<String, Map<String, Value>>,
    #[serde(default)]
    ended: BTreeMap<String, Outcome>,
    #[serde(default)]
    escalates: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    /// The customer's words this turn (a flow started on them keeps them as its opening).
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    confirm: Option<bool>,
    #[serde(default)]
    cancel: bool,
    #[serde(default)]
    handoff: bool,
    #[serde(default)]
    commands: Vec<Command>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    customer: Option<Map<String, Value>>,
    #[serde(default)]
    actions: BTreeMap<String, Stubs>,
    turns: Vec<Turn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    today: Option<NaiveDate>,
    #[serde(default)]
    customer: Map<String, Value>,
    #[serde(default)]
    actions: BTreeMap<String, Stubs>,
    cases: Vec<Case>,
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The test file.
    pub file: PathBuf,
    /// Where the case starts in it.
    pub position: Position,
    /// Its name.
    pub name: String,
    /// What did not match (empty: passed).
    pub failures: Vec<String>,
}

/// Every case's result and the steps they ran.
#[derive(Debug, Default)]
pub struct TestReport {
    /// Per case.
    pub cases: Vec<CaseResult>,
    /// (flow id, step id) pairs that ran.
    pub covered: BTreeSet<(String, String)>,
}

impl TestReport {
    /// Cases that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| !c.failures.is_empty())
    }

    /// Steps no case ran, per flow: (flow id, step id, file, position). Pattern flows are left
    /// out; they run only when a repair situation arises.
    pub fn uncovered(&self, engine: &Engine) -> Vec<(String, String, PathBuf, Position)> {
        let mut out = Vec::new();
        for flow in engine
            .flows()
            .iter()
            .filter(|f| !f.spec.id.starts_with("pattern_"))
        {
            for step in flow.coverable_steps() {
                if !self
                    .covered
                    .contains(&(flow.spec.id.clone(), step.id.clone()))
                {
                    out.push((
                        flow.spec.id.clone(),
                        step.id.clone(),
                        flow.file.clone(),
                        step.position,
                    ));
                }
            }
        }
        out
    }

    /// Share of coverable steps that ran, 0.0–1.0.
    pub fn step_coverage(&self, engine: &Engine) -> f64 {
        let total: usize = engine
            .flows()
            .iter()
            .filter(|f| !f.spec.id.starts_with("pattern_"))
            .map(|f| f.coverable_steps().count())
            .sum();
        if total == 0 {
            return 1.0;
        }
        1.0 - self.uncovered(engine).len() as f64 / total as f64
    }
}

fn stub_outcome(stub: &Stub) -> Result<Value, ActionError> {
    match (&stub.ok, stub.error.as_deref()) {
        (Some(v), None) => Ok(v.clone()),
        (_, Some(kind)) => {
            let reason = stub
                .reason
                .clone()
                .unwrap_or_else(|| kind.replace('_', " "));
            Err(match kind {
                "not_found" => ActionError::NotFound { what: reason },
                "refused" => ActionError::Refused { reason },
                "invalid_arguments" => ActionError::InvalidArguments {
                    action: "stub".into(),
                    reason,
                },
                _ => ActionError::Backend { message: reason },
            })
        }
        (None, None) => Ok(Value::Null),
    }
}

fn run_case(engine: &Engine, file: &TestFile, case: &Case) -> (Vec<String>, Vec<(String, String)>) {
    let mut customer = json!({"email": null, "phone": null, "verified": false, "name": null});
    for (k, v) in file.customer.iter().chain(case.customer.iter().flatten()) {
        customer[k] = v.clone();
    }
    let mut env = Env {
        today: file
            .today
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")),
        channel: Channel::Rest,
        customer,
        turn_id: format!("test:{}", case.name),
        message: String::new(),
    };
    let mut stubs: BTreeMap<String, (Vec<Stub>, usize)> = BTreeMap::new();
    for (name, s) in file.actions.iter().chain(case.actions.iter()) {
        let list = match s {
            Stubs::One(one) => vec![one.clone()],
            Stubs::Many(many) => many.clone(),
        };
        stubs.insert(name.clone(), (list, 0));
    }
    let mut stack: Vec<FlowFrame> = Vec::new();
    let (mut failures, mut trace) = (Vec::new(), Vec::new());
    for (t, turn) in case.turns.iter().enumerate() {
        env.message = turn.message.clone().unwrap_or_default();
        let mut commands: Vec<Command> = turn
            .start
            .iter()
            .map(|f| Command::start_flow(f.clone()))
            .collect();
        commands.extend(turn.set.iter().map(|(name, value)| Command::SetSlot {
            name: name.clone(),
            value: value.clone(),
        }));
        commands.extend(turn.confirm.map(|yes| Command::SetSlot {
            name: CONFIRMATION.into(),
            value: Value::Bool(yes),
        }));
        if turn.cancel {
            commands.push(Command::CancelFlow);
        }
        if turn.handoff {
            commands.push(Command::HumanHandoff {
                reason: "asked in a test".into(),
            });
        }
        commands.extend(turn.commands.iter().cloned());
        let scored = commands
            .into_iter()
            .map(|c| ScoredCommand::new(c, 1.0))
            .collect();
        let (mut effects, mut steps) =
            engine.advance_traced(&mut stack, Input::Commands(scored), &env);
        let mut all = Vec::new();
        while let Some(Effect::CallAction { call, .. }) = effects.last().cloned() {
            all.append(&mut effects);
            trace.append(&mut steps);
            let outcome = match stubs.get_mut(&call.name) {
                Some((list, next)) => {
                    let stub = &list[(*next).min(list.len() - 1)];
                    *next += 1;
                    stub_outcome(stub)
                }
                None => {
                    failures.push(format!(
                        "turn {}: `{}` was called but the test stubs no outcome for it",
                        t + 1,
                        call.name
                    ));
                    Err(ActionError::Backend {
                        message: "no stub".into(),
                    })
                }
            };
            (effects, steps) =
                engine.advance_traced(&mut stack, Input::ActionOutcome(outcome), &env);
        }
        all.append(&mut effects);
        trace.append(&mut steps);
        check_turn(t + 1, &turn.expect, &all, &mut failures);
    }
    (failures, trace)
}

fn check_turn(turn: usize, expect: &Expect, effects: &[Effect], failures: &mut Vec<String>) {
    let texts: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Say(t) | Effect::Ask { text: t, .. } => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let said = texts.join("\n");
    let mut from = 0;
    for wanted in &expect.says {
        match said[from..].find(wanted.as_str()) {
            Some(i) => from += i + wanted.len(),
            None => failures.push(format!(
                "turn {turn}: expected to say {wanted:?} (in order), said {said:?}"
            )),
        }
    }
    let asked = effects.iter().rev().find_map(|e| match e {
        Effect::Ask { slot, .. } => Some(slot.as_str()),
        _ => None,
    });
    if let Some(slot) = &expect.asks {
        let want = if slot == "nothing" {
            None
        } else {
            Some(slot.as_str())
        };
        if asked != want {
            failures.push(format!(
                "turn {turn}: expected to ask {}, asked {}",
                want.unwrap_or("nothing"),
                asked.unwrap_or("nothing")
            ));
        }
    }
    let calls: Vec<(&str, &Value, bool)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::CallAction { call, write } => Some((call.name.as_str(), &call.args, *write)),
            _ => None,
        })
        .collect();
    if let Some(expected) = &expect.calls {
        let names: Vec<&str> = calls.iter().map(|c| c.0).collect();
        if names != expected.iter().map(String::as_str).collect::<Vec<_>>() {
            failures.push(format!(
                "turn {turn}: expected calls {expected:?}, got {names:?}"
            ));
        }
    }
    if let Some(n) = expect.writes {
        let writes = calls.iter().filter(|c| c.2).count();
        if writes != n {
            failures.push(format!(
                "turn {turn}: expected {n} write action(s), got {writes}"
            ));
        }
    }
    for (action, wanted) in &expect.args {
        match calls.iter().find(|c| c.0 == action) {
            None => failures.push(format!("turn {turn}: expected a call to `{action}`")),
            Some((_, args, _)) => {
                for (k, v) in wanted {
                    if args.get(k) != Some(v) {
                        failures.push(format!(
                            "turn {turn}: `{action}` argument `{k}` is {}, expected {v}",
                            args.get(k).unwrap_or(&Value::Null)
                        ));
                    }
                }
            }
        }
    }
    for (flow, outcome) in &expect.ended {
        let ended = effects.iter().any(|e| matches!(e, Effect::FlowEnded { flow_id, outcome: o } if flow_id == flow && o == outcome));
        if !ended {
            failures.push(format!(
                "turn {turn}: expected flow `{flow}` to end {outcome:?}"
            ));
        }
    }
    if expect.escalates.is_none() {
        for e in effects {
            if let Effect::Escalate { reason, .. } = e {
                failures.push(format!("turn {turn}: unexpected escalation: {reason}"));
            }
        }
    }
    if let Some(want) = expect.escalates {
        let escalated = effects.iter().any(|e| matches!(e, Effect::Escalate { .. }));
        if escalated != want {
            failures.push(format!(
                "turn {turn}: expected escalation: {want}, got {escalated}"
            ));
        }
    }
}

/// Run every `*.yaml` test file in `dir` against `engine`.
pub fn run_dir(engine: &Engine, dir: &Path) -> Result<TestReport, Vec<Diagnostic>> {
    let files = crate::load::flow_files(dir).map_err(|e| {
        vec![Diagnostic {
            file: dir.to_path_buf(),
            position: Position { line: 1, col: 1 },
            message: format!("cannot read: {e}"),
            pointer: String::new(),
        }]
    })?;
    let mut report = TestReport::default();
    let mut diagnostics = Vec::new();
    for path in files {
        let diag = |position: Position, message: String, pointer: &str| Diagnostic {
            file: path.clone(),
            position,
            message,
            pointer: pointer.into(),
        };
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                diagnostics.push(diag(
                    Position { line: 1, col: 1 },
                    format!("cannot read: {e}"),
                    "",
                ));
                continue;
            }
        };
        let located = match yaml::parse(&source) {
            Ok(l) => l,
            Err(e) => {
                diagnostics.push(diag(
                    Position {
                        line: e.position_line,
                        col: e.position_col,
                    },
                    format!("YAML syntax: {}", e.message),
                    "",
                ));
                continue;
            }
        };
        let file: TestFile = match serde_path_to_error::deserialize(&located.value) {
            Ok(f) => f,
            Err(e) => {
                let pointer = crate::load::path_to_pointer(&e.path().to_string());
                diagnostics.push(diag(
                    located.position(&pointer),
                    e.inner().to_string(),
                    &pointer,
                ));
                continue;
            }
        };
        for (i, case) in file.cases.iter().enumerate() {
            let (failures, trace) = run_case(engine, &file, case);
            report.covered.extend(trace);
            report.cases.push(CaseResult {
                file: path.clone(),
                position: located.position(&format!("/cases/{i}")),
                name: case.name.clone(),
                failures,
            });
        }
    }
    if diagnostics.is_empty() {
        Ok(report)
    } else {
        Err(diagnostics)
    }
}
