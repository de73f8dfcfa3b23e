//! The test-case format: a suite is a YAML file in `evals/suites/`, checked against
//! `evals/schema.json` and typed here. A case is a conversation, written out step by step or
//! played by a scripted persona, with assertions after any step and at the end.

use crate::EvalError;
use frontline_domain::Channel;
use frontline_flows::load::{parse_document, Diagnostic};
use frontline_flows::yaml::Position;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The schema of suite files, also shipped as `evals/schema.json`.
pub const SCHEMA: &str = include_str!("../../../evals/schema.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("evals/schema.json is JSON");
        jsonschema::validator_for(&schema).expect("evals/schema.json is a valid JSON Schema")
    })
}

/// A suite: a named set of cases with shared fixtures.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Its name (the file's `suite`).
    pub name: String,
    /// What it checks.
    pub description: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Its cases.
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    fixtures: Fixtures,
    cases: Vec<Case>,
}

/// What the world looks like before a case starts.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// The customer writing (default: Ada of the demo shop).
    #[serde(default)]
    pub customer: Option<CustomerFixture>,
    /// Shop actions that fail as in an outage.
    #[serde(default)]
    pub outage: Vec<String>,
    /// Identities (`kind:value`) the escalation policy treats as VIPs.
    #[serde(default)]
    pub vip: Vec<String>,
    /// Flow tiers on which a VIP goes to a person.
    #[serde(default)]
    pub vip_tiers: Vec<String>,
    /// Changes to the demo shop's data, as a JSON merge patch over it (`{orders: {"#W0000001":
    /// {status: delivered}}}`); a case's patch applies after its suite's.
    #[serde(default)]
    pub shop: Option<Value>,
}

impl Fixtures {
    /// These fixtures with a case's own on top: a case's customer replaces the suite's; lists
    /// add up.
    fn under(&self, case: &Fixtures) -> Fixtures {
        let join = |a: &[String], b: &[String]| a.iter().chain(b).cloned().collect();
        Fixtures {
            customer: case.customer.clone().or_else(|| self.customer.clone()),
            outage: join(&self.outage, &case.outage),
            vip: join(&self.vip, &case.vip),
            vip_tiers: join(&self.vip_tiers, &case.vip_tiers),
            shop: match (&self.shop, &case.shop) {
                (Some(suite), Some(case)) => {
                    let mut both = suite.clone();
                    merge_patch(&mut both, case);
                    Some(both)
                }
                (suite, case) => case.clone().or_else(|| suite.clone()),
            },
        }
    }
}

/// Apply a JSON merge patch (RFC 7386): objects merge key by key, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let fields = target.as_object_mut().expect("an object now");
    for (key, change) in changes {
        if change.is_null() {
            fields.remove(key);
        } else {
            merge_patch(fields.entry(key.clone()).or_insert(Value::Null), change);
        }
    }
}

/// The customer a case plays.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerFixture {
    /// Their email address (what email, web chat, REST and Chatwoot messages come from).
    pub email: String,
    /// Their mobile number (what SMS and WhatsApp messages come from).
    #[serde(default)]
    pub phone: Option<String>,
    /// The name they give.
    #[serde(default)]
    pub name: Option<String>,
}

impl Default for CustomerFixture {
    fn default() -> Self {
        CustomerFixture {
            email: "ada.lovelace1000@example.com".into(),
            phone: Some("+13035550100".into()),
            name: None,
        }
    }
}

/// One conversation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Its name, unique in the suite.
    pub name: String,
    /// Fixtures on top of the suite's.
    #[serde(default)]
    pub fixtures: Fixtures,
    /// The customer's messages, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Or a persona who plays the customer toward a goal.
    #[serde(default)]
    pub persona: Option<Persona>,
    /// Or a goal-driven simulated customer who reads the replies and answers from its facts.
    #[serde(default)]
    pub simulated: Option<Simulated>,
    /// Assertions on the whole conversation, checked after the last step.
    #[serde(default)]
    pub expect: Vec<Assertion>,
    /// A known limitation of local understanding this case meets (why it may fail): it runs
    /// and counts in its suite's pass rate, and its failure is reported as that limitation
    /// rather than failing the gate.
    #[serde(default)]
    pub limitation: Option<String>,
    /// Where the case starts in its file (filled in when loading).
    #[serde(skip)]
    pub position: Position,
}

/// One customer message and what must hold after it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The channel it arrives on (default: web chat).
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Who sends it, as `kind:value`, when not the case's customer on that channel's handle.
    #[serde(default)]
    pub from: Option<String>,
    /// Whether the channel proved the sender's handle (`channel`, the default) or the sender
    /// only claims it (`claimed`: an email without an SPF or DKIM pass).
    #[serde(default)]
    pub assurance: Option<frontline_domain::Assurance>,
    /// What they write.
    #[serde(default)]
    pub text: Option<String>,
    /// Or the payload of a button or quick reply they press (sent as its text).
    #[serde(default)]
    pub payload: Option<String>,
    /// Or the one-time code last sent to this handle (`email:…`, `phone:…`), typed back as the
    /// owner reads it from their inbox.
    #[serde(default)]
    pub code_from: Option<String>,
    /// When, relative to the previous step: `+30m`, `+2h`, `+4d` (default: a minute later).
    #[serde(default)]
    pub at: Option<String>,
    /// The command kinds understanding should produce for it (for precision and recall per
    /// command type); when absent they are derived from the assertions, where possible.
    #[serde(default)]
    pub commands: Option<Vec<String>>,
    /// What must hold after it.
    #[serde(default)]
    pub expect: Vec<Assertion>,
}

impl Step {
    /// What the customer sends.
    pub fn message(&self) -> &str {
        self.text
            .as_deref()
            .or(self.payload.as_deref())
            .unwrap_or_default()
    }

    /// How long after the previous step it arrives.
    pub fn delay(&self) -> Result<chrono::Duration, String> {
        match self.at.as_deref() {
            None => Ok(chrono::Duration::minutes(1)),
            Some(at) => parse_delay(at),
        }
    }

    /// The command kinds it should produce: the declared ones, else those its assertions
    /// imply (a flow started → `start_flow`, a slot set → `set_slot`, a citation →
    /// `answer_from_knowledge`, an explicit request for a person → `human_handoff`).
    pub fn expected_commands(&self) -> Option<Vec<String>> {
        if let Some(kinds) = &self.commands {
            return Some(kinds.clone());
        }
        let mut kinds: Vec<String> = self
            .expect
            .iter()
            .filter_map(|a| match a {
                Assertion::FlowStarted(_) => Some("start_flow"),
                Assertion::SlotSet { .. } => Some("set_slot"),
                Assertion::AnswerCites { .. } => Some("answer_from_knowledge"),
                Assertion::Escalated(e) if e.reason() == "explicit_request" => {
                    Some("human_handoff")
                }
                _ => None,
            })
            .map(str::to_string)
            .collect();
        kinds.sort();
        kinds.dedup();
        (!kinds.is_empty()).then_some(kinds)
    }
}

fn parse_delay(at: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("`at: {at}` is not a delay like +30m, +2h or +4d");
    let rest = at.trim().strip_prefix('+').ok_or_else(bad)?;
    let (number, unit) = rest.split_at(rest.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

/// A scripted customer: opens with the goal's message, then answers each question the agent
/// asks from the goal, in the persona's manner.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// How they behave.
    pub style: PersonaStyle,
    /// What they want.
    pub goal: Goal,
    /// The most messages they send before giving up (default 8).
    #[serde(default = "default_max_turns")]
    pub max_turns: usize,
    /// Channels they write on, in turn (`switches_channel`; default web chat, email, SMS).
    #[serde(default)]
    pub channels: Vec<Channel>,
}

fn default_max_turns() -> usize {
    8
}

/// The manners a persona can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonaStyle {
    /// Answers exactly what is asked.
    Cooperative,
    /// Terse, pushes for speed.
    Impatient,
    /// Answers the first question for each slot vaguely, then properly when asked again.
    Vague,
    /// Gives a wrong value for the slots in `mistakes`, then corrects it in the next message.
    CorrectsThemselves,
    /// Moves to the next channel with every message.
    SwitchesChannel,
    /// Answers, but angrily.
    Angry,
    /// An LLM plays the customer from the goal (needs an endpoint: `frontline eval` uses the
    /// configured one, through its cassettes).
    Llm,
}

/// What a persona wants and knows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// Their first message.
    pub opening: String,
    /// Answers by slot name (`confirmation` answers a yes/no question; default "yes").
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    /// Wrong first answers by slot name (`corrects_themselves`).
    #[serde(default)]
    pub mistakes: BTreeMap<String, String>,
}

/// A goal-driven simulated customer (see [`crate::simulated`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulated {
    /// What they came for, as reported (`return`, `cancel`, `exchange`, `address`, `status`,
    /// `subscription`, `question`, `handoff`…): turns to a finished task are counted per goal.
    pub goal: String,
    /// The channel of each message in turn; the last one carries on (default web chat).
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Who sends, as `kind:value`, when not the case's customer on the channel's handle.
    #[serde(default)]
    pub from: Option<String>,
    /// Their first message.
    pub opening: String,
    /// What they know and say when asked.
    #[serde(default)]
    pub knows: Knows,
    /// Whether they say yes to the final confirmation (default true).
    #[serde(default = "yes")]
    pub accepts: bool,
    /// The most messages they send (default 10).
    #[serde(default = "ten")]
    pub max_turns: usize,
}

fn yes() -> bool {
    true
}

fn ten() -> usize {
    10
}

/// The facts a simulated customer answers from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knows {
    /// The order: its number, and how they name it until pressed ("the one with the kettle").
    #[serde(default)]
    pub order: Option<Known>,
    /// The subscription: its id, and how they name it ("the coffee one").
    #[serde(default)]
    pub subscription: Option<Known>,
    /// The items, as they name them.
    #[serde(default)]
    pub items: Option<String>,
    /// The option they want instead (an exchange).
    #[serde(default)]
    pub option: Option<String>,
    /// Where the refund goes.
    #[serde(default)]
    pub refund: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// A new address.
    #[serde(default)]
    pub address: Option<String>,
    /// The email address on their account (default: the case customer's).
    #[serde(default)]
    pub email: Option<String>,
    /// The phone number on their account, where codes by text go (default: the case
    /// customer's).
    #[serde(default)]
    pub phone: Option<String>,
}

/// Something the customer owns: its id, and how they refer to it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// Its id (`#W0000002`, `SUB-1000`).
    pub id: String,
    /// How they name it before being pressed for the id.
    #[serde(default)]
    pub mention: Option<String>,
}

/// An action expected to have run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAction {
    /// The action.
    pub name: String,
    /// Arguments it must have had (a subset).
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// Something that must hold of the conversation. Unless it says otherwise, an assertion looks
/// at the conversation so far; `flow_started`, `reply_matches`, `reply_not_matches` and
/// `conversation_is` look at the step it follows (in a case's own `expect`, the reply
/// assertions look at every reply of the case).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    /// This flow started on this step.
    FlowStarted(String),
    /// A flow ended with this outcome (`resolved`, `abandoned`, `failed`, `escalated`).
    FlowCompleted {
        /// Which flow (any, when absent).
        #[serde(default)]
        flow: Option<String>,
        /// How it ended.
        outcome: String,
    },
    /// A slot holds this value (the latest value any flow recorded for it).
    SlotSet {
        /// The slot.
        name: String,
        /// Its value.
        value: Value,
    },
    /// No flow ever recorded a value for this slot.
    SlotNotSet(String),
    /// A business action ran with (at least) these arguments.
    ActionCalled {
        /// The action.
        name: String,
        /// Arguments it must have had (a subset).
        #[serde(default)]
        args: Map<String, Value>,
    },
    /// This action never ran.
    ActionNotCalled(String),
    /// No action that changes anything ran (look-ups may).
    NoAction,
    /// Exactly these writes succeeded, in this order, with (at least) these arguments, and no
    /// other (an empty list: none did). Judged on the shop, as τ2-bench judges on its database.
    Writes(Vec<ExpectedAction>),
    /// The conversation was handed to a person, for this reason (`any` for any).
    Escalated(EscalatedExpect),
    /// It was not handed off.
    NotEscalated,
    /// A knowledge answer cited this document (path in `knowledge/`, or part of its title).
    AnswerCites {
        /// The document.
        doc: String,
    },
    /// The knowledge base was asked and abstained.
    Abstained,
    /// The step's replies match this regular expression.
    ReplyMatches(String),
    /// They do not.
    ReplyNotMatches(String),
    /// The escalation summary has these fields, non-empty (dotted paths: `flow.slots.order_id`).
    SummaryHas {
        /// The fields.
        fields: Vec<String>,
    },
    /// This step landed in the same conversation as step N (from 1).
    ConversationIs {
        /// The earlier step.
        same_as: usize,
    },
    /// The survey asked this question (`csat` or `effort`), and it was not withdrawn.
    SurveySent(frontline_domain::SurveyQuestion),
    /// No survey stands: none was asked, or each one asked was withdrawn.
    NoSurvey,
    /// The conversation's tier, as last recorded (`informational`, `transactional`, `complex`,
    /// `emotional`).
    Tier(String),
    /// The language the conversation speaks, as its messages settle it (`es`, `de`, …; the
    /// default locale when none of them carried one).
    Language(String),
    /// The handoff was routed with this skill (`lang:fr`, `return_items`).
    RoutedSkill(String),
    /// The quality score the agent stored that still stands (the latest `quality_scored`, with
    /// no message or change of hands after it): that one stands (or, with `scored: false`,
    /// that none does), with these criteria met and missed and the
    /// score within bounds.
    Quality(QualityExpect),
    /// The customer answered this survey question with this score.
    SurveyAnswered {
        /// The question.
        question: frontline_domain::SurveyQuestion,
        /// The score, 1–5.
        score: u8,
    },
}

/// `quality: {met: [...], missed: [...], at_least: 0.5, at_most: 1.0}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityExpect {
    /// A score was stored (default); `false`: none was.
    #[serde(default = "stored_by_default")]
    pub scored: bool,
    /// Criteria the stored score met.
    #[serde(default)]
    pub met: Vec<String>,
    /// Criteria it missed.
    #[serde(default)]
    pub missed: Vec<String>,
    /// The score is at least this.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// The score is at most this.
    #[serde(default)]
    pub at_most: Option<f64>,
}

fn stored_by_default() -> bool {
    true
}

/// `escalated: policy` or `escalated: {reason: policy}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum EscalatedExpect {
    /// The trigger code.
    Reason(String),
    /// The same, spelled out.
    Full {
        /// The trigger code, or `any`.
        reason: String,
    },
}

impl EscalatedExpect {
    /// The expected trigger code, or `any`.
    pub fn reason(&self) -> &str {
        match self {
            EscalatedExpect::Reason(r) | EscalatedExpect::Full { reason: r } => r,
        }
    }
}

impl Assertion {
    /// Its name, as written.
    pub fn name(&self) -> &'static str {
        match self {
            Assertion::FlowStarted(_) => "flow_started",
            Assertion::FlowCompleted { .. } => "flow_completed",
            Assertion::SlotSet { .. } => "slot_set",
            Assertion::SlotNotSet(_) => "slot_not_set",
            Assertion::ActionCalled { .. } => "action_called",
            Assertion::ActionNotCalled(_) => "action_not_called",
            Assertion::NoAction => "no_action",
            Assertion::Writes(_) => "writes",
            Assertion::Escalated(_) => "escalated",
            Assertion::NotEscalated => "not_escalated",
            Assertion::AnswerCites { .. } => "answer_cites",
            Assertion::Abstained => "abstained",
            Assertion::ReplyMatches(_) => "reply_matches",
            Assertion::ReplyNotMatches(_) => "reply_not_matches",
            Assertion::SummaryHas { .. } => "summary_has",
            Assertion::ConversationIs { .. } => "conversation_is",
            Assertion::SurveySent(_) => "survey_sent",
            Assertion::NoSurvey => "no_survey",
            Assertion::SurveyAnswered { .. } => "survey_answered",
            Assertion::Tier(_) => "tier",
            Assertion::Language(_) => "language",
            Assertion::RoutedSkill(_) => "routed_skill",
            Assertion::Quality(_) => "quality",
        }
    }
}

/// Read one suite file.
pub fn load_suite(file: &Path) -> Result<Suite, EvalError> {
    let source = std::fs::read_to_string(file).map_err(|e| EvalError::Io {
        path: file.to_path_buf(),
        source: e,
    })?;
    parse_suite(file, &source).map_err(EvalError::Invalid)
}

/// Parse a suite's text; every problem is reported at `file:line:col`.
pub fn parse_suite(file: &Path, source: &str) -> Result<Suite, Vec<Diagnostic>> {
    let (parsed, located): (SuiteFile, _) =
        parse_document(file, source, validator(), &|_, _| None)?;
    let diagnostic = |pointer: String, message: String| Diagnostic {
        file: file.to_path_buf(),
        position: located.position(&pointer),
        message,
        pointer,
    };
    let mut problems = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut cases = Vec::new();
    for (i, case) in parsed.cases.into_iter().enumerate() {
        let pointer = format!("/cases/{i}");
        if !names.insert(case.name.clone()) {
            problems.push(diagnostic(
                format!("{pointer}/name"),
                format!("a second case is named `{}`", case.name),
            ));
        }
        let players = [
            !case.steps.is_empty(),
            case.persona.is_some(),
            case.simulated.is_some(),
        ];
        if players.iter().filter(|p| **p).count() != 1 {
            problems.push(diagnostic(
                pointer.clone(),
                "a case has exactly one of `steps`, a `persona` or a `simulated` customer".into(),
            ));
        }
        for (j, step) in case.steps.iter().enumerate() {
            let at = format!("{pointer}/steps/{j}");
            let said = [
                step.text.is_some(),
                step.payload.is_some(),
                step.code_from.is_some(),
            ];
            if said.iter().filter(|s| **s).count() != 1 {
                problems.push(diagnostic(
                    at.clone(),
                    "a step has exactly one of `text`, `payload` or `code_from`".into(),
                ));
            }
            if let Err(e) = step.delay() {
                problems.push(diagnostic(format!("{at}/at"), e));
            }
            for (k, assertion) in step.expect.iter().enumerate() {
                if let Assertion::ConversationIs { same_as } = assertion {
                    if *same_as == 0 || *same_as > j {
                        problems.push(diagnostic(
                            format!("{at}/expect/{k}"),
                            format!("`same_as: {same_as}` must name an earlier step (1 to {j})"),
                        ));
                    }
                }
                if let Some(problem) = bad_regex(assertion) {
                    problems.push(diagnostic(format!("{at}/expect/{k}"), problem));
                }
            }
        }
        for (k, assertion) in case.expect.iter().enumerate() {
            if let Some(problem) = bad_regex(assertion) {
                problems.push(diagnostic(format!("{pointer}/expect/{k}"), problem));
            }
        }
        cases.push(Case {
            fixtures: parsed.fixtures.under(&case.fixtures),
            position: located.position(&pointer),
            ..case
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Suite {
        name: parsed.suite,
        description: parsed.description,
        file: file.to_path_buf(),
        cases,
    })
}

fn bad_regex(assertion: &Assertion) -> Option<String> {
    match assertion {
        Assertion::ReplyMatches(re) | Assertion::ReplyNotMatches(re) => regex::Regex::new(re)
            .err()
            .map(|e| format!("not a regular expression: {e}")),
        _ => None,
    }
}

/// Every suite in a folder (`*.yaml`, sorted); all problems of all files at once.
pub fn load_suites(dir: &Path) -> Result<Vec<Suite>, EvalError> {
    let files = frontline_flows::load::flow_files(dir).map_err(|e| EvalError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut suites = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match load_suite(&file) {
            Ok(suite) => suites.push(suite),
            Err(EvalError::Invalid(mut p)) => problems.append(&mut p),
            Err(e) => return Err(e),
        }
    }
    if !problems.is_empty() {
        return Err(EvalError::Invalid(problems));
    }
    let mut seen = std::collections::HashSet::new();
    for suite in &suites {
        if !seen.insert(suite.name.clone()) {
            return Err(EvalError::Invalid(vec![Diagnostic {
                file: suite.file.clone(),
                position: Position { line: 1, col: 1 },
                message: format!("another file already defines suite `{}`", suite.name),
                pointer: "/suite".into(),
            }]));
        }
    }
    Ok(suites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Suite, Vec<Diagnostic>> {
        parse_suite(Path::new("evals/suites/t.yaml"), source)
    }

    #[test]
    fn a_suite_reads_steps_assertions_and_fixtures() {
        let suite = parse(
            r##"
suite: t
fixtures: {outage: [get_order_details]}
cases:
  - name: one
    fixtures: {outage: [cancel_pending_order]}
    steps:
      - text: "cancel order #W0000001"
        expect:
          - flow_started: cancel_order
          - slot_set: {name: order_id, value: "#W0000001"}
          - escalated: agent_error
      - {text: "hello again", channel: email, at: "+2d", expect: [conversation_is: {same_as: 1}]}
    expect: [not_escalated, no_action, {escalated: {reason: any}}]
"##,
        )
        .unwrap();
        let case = &suite.cases[0];
        assert_eq!(
            case.fixtures.outage,
            ["get_order_details", "cancel_pending_order"]
        );
        assert_eq!(case.position.line, 5);
        assert_eq!(case.steps[1].channel, Some(Channel::Email));
        assert_eq!(case.steps[1].delay().unwrap(), chrono::Duration::days(2));
        assert_eq!(
            case.steps[0].expected_commands().unwrap(),
            ["set_slot", "start_flow"]
        );
        assert!(matches!(case.expect[2], Assertion::Escalated(ref e) if e.reason() == "any"));
    }

    #[test]
    fn mistakes_are_located_at_file_line_and_column() {
        let problems = parse(
            "suite: t\ncases:\n  - name: one\n    steps:\n      - text: hi\n        expect: [flow_startd: x]\n",
        )
        .unwrap_err();
        let text = problems[0].to_string();
        assert!(text.starts_with("evals/suites/t.yaml:6:"), "{text}");
        assert!(text.contains("flow_startd"), "{text}");

        let problems = parse(
            "suite: t\ncases:\n  - name: one\n    steps:\n      - {text: hi, at: tomorrow}\n      - {text: x, expect: [conversation_is: {same_as: 2}]}\n",
        )
        .unwrap_err();
        let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(all[0].contains(":5:") && all[0].contains("+30m"), "{all:?}");
        assert!(
            all[1].contains(":6:") && all[1].contains("earlier step"),
            "{all:?}"
        );

        let problems = parse(
            "suite: t\ncases:\n  - name: one\n    persona: {style: shy, goal: {opening: hi}}\n",
        )
        .unwrap_err();
        assert!(problems[0].to_string().contains(":4:"), "{:?}", problems);
    }

    #[test]
    fn shop_patches_merge_suite_then_case() {
        let suite = parse(
            r##"
suite: t
fixtures: {shop: {orders: {"#W1": {status: delivered, note: x}}}}
cases:
  - name: one
    fixtures: {shop: {orders: {"#W1": {note: null}, "#W2": {status: pending}}}}
    steps: [{text: hi}]
"##,
        )
        .unwrap();
        let patch = suite.cases[0].fixtures.shop.clone().unwrap();
        let mut data = serde_json::json!({"orders": {"#W1": {"status": "pending", "items": [1]}}});
        merge_patch(&mut data, &patch);
        assert_eq!(
            data,
            serde_json::json!({"orders": {"#W1": {"status": "delivered", "items": [1]}, "#W2": {"status": "pending"}}})
        );
    }

    #[test]
    fn delays_read_minutes_hours_and_days() {
        assert_eq!(parse_delay("+30m").unwrap(), chrono::Duration::minutes(30));
        assert_eq!(parse_delay("+2h").unwrap(), chrono::Duration::hours(2));
        assert!(parse_delay("2h").is_err());
        assert!(parse_delay("+2w").is_err());
    }
}
