//! The flow format as Rust types (see `flows/schema.json` for the authoring reference).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a flow is classified, for routing and escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Answers a question.
    Informational,
    /// Changes something (a return, a cancellation).
    Transactional,
    /// Several steps or judgement.
    Complex,
    /// An upset customer; sensitive.
    Emotional,
}

impl Tier {
    /// The name as written in flow files (`informational`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Informational => "informational",
            Tier::Transactional => "transactional",
            Tier::Complex => "complex",
            Tier::Emotional => "emotional",
        }
    }
}

/// Who may start a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Starts {
    /// Understanding may start it from a customer message.
    #[default]
    Customer,
    /// Only `call`/`link` from another flow.
    Internal,
}

/// The type of a slot's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotType {
    /// Any text.
    String,
    /// One of `values` (or their synonyms).
    Enum,
    /// Yes or no.
    Bool,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// An amount of money (a number with at most two decimals).
    Money,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An email address.
    Email,
    /// A phone number (E.164).
    Phone,
    /// Text matching `pattern` (order ids, …).
    Pattern,
    /// Several of `choices` (values computed from data, e.g. an order's items).
    List,
}

/// Case folding for pattern slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Keep as given.
    #[default]
    None,
    /// Uppercase.
    Uppercase,
    /// Lowercase.
    Lowercase,
}

/// A reason to refuse a slot value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// CEL condition over the value (named by the slot's name); true means reject.
    #[serde(rename = "if")]
    pub condition: String,
    /// What to tell the customer (a template).
    pub message: String,
}

/// A piece of information a flow collects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: SlotType,
    /// The question to ask (a template).
    pub prompt: String,
    /// The question asked again, in other words, after a reply that did not answer it (a
    /// template). Without it the prompt comes again with the slot's options or an example.
    #[serde(default)]
    pub reprompt: Option<String>,
    /// What it is, for LLM understanding.
    #[serde(default)]
    pub description: Option<String>,
    /// Enum slots: canonical value → synonyms.
    #[serde(default)]
    pub values: BTreeMap<String, Vec<String>>,
    /// Pattern slots: the regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Pattern slots: case folding.
    #[serde(default)]
    pub normalize: Normalize,
    /// Pattern slots: a prefix added when missing.
    #[serde(default)]
    pub prefix: Option<String>,
    /// List slots: CEL giving `[{value, label}]` to choose from.
    #[serde(default)]
    pub choices: Option<String>,
    /// Values to refuse, with messages.
    #[serde(default)]
    pub rejections: Vec<Rejection>,
    /// Start with the value the customer already gave for a slot of this name earlier in the
    /// conversation, instead of asking again.
    #[serde(default)]
    pub remember: bool,
    /// What the customer most likely means, from their own data: offered instead of asking
    /// for an id.
    #[serde(default)]
    pub candidates: Option<CandidatesSpec>,
    /// List slots: with a single choice, take it instead of asking (the item of a one-item
    /// order); the flow's confirmation still shows it.
    #[serde(default)]
    pub take_only_choice: bool,
    /// String slots: fill it from what the message the flow started on gives (`reason`: the
    /// reason the customer stated, "I'm moving abroad, so please stop my subscription").
    #[serde(default)]
    pub from_opening: Option<FromOpening>,
}

/// What a slot can take from the message its flow started on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromOpening {
    /// The reason stated: after "because", "since" or "as", or before ", so".
    Reason,
}

/// Where a slot's candidates come from and how they are offered (see
/// [`crate::candidates`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidatesSpec {
    /// CEL over the flow's data giving `[{value, label, date?, size?}]`, e.g. the customer's
    /// pending orders for a cancellation. While it cannot be evaluated (its data is not
    /// fetched), the slot is asked with its prompt.
    pub from: String,
    /// The proposal when exactly one fits (a template; `{candidate}` is its label).
    #[serde(default = "default_one")]
    pub one: String,
    /// The question above the numbered list when several fit (a template).
    #[serde(default = "default_many")]
    pub many: String,
    /// The response said when none fits; the flow then ends `failed`. Without it the slot is
    /// asked with its prompt.
    #[serde(default)]
    pub none: Option<String>,
    /// The customer's other records of the kind that cannot be offered (CEL giving the shape of
    /// `from`; a label may say why, e.g. "#W0000003: Running Shoes (processed, not delivered
    /// yet)"). When the message the flow started on names one of them by its contents and none
    /// of the candidates, the `unfit` response is said and the flow ends `failed`.
    #[serde(default)]
    pub others: Option<String>,
    /// The response said then (a template; `{named}` is the named record's label).
    #[serde(default)]
    pub unfit: Option<String>,
}

fn default_one() -> String {
    "Is it {candidate}?".into()
}

fn default_many() -> String {
    "Which one do you mean? You can answer with its number or its contents.".into()
}

/// Escalation target of an `escalate` step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateSpec {
    /// Why (shown to the human).
    pub reason: String,
    /// Which queue, if not the default.
    #[serde(default)]
    pub queue: Option<String>,
}

/// How a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as asked.
    Resolved,
    /// The customer stopped.
    Abandoned,
    /// Could not be done (policy, not found, …).
    Failed,
    /// Handed to a human.
    Escalated,
}

/// One step, as written (all kinds' fields; exactly one kind key is set, which the schema
/// guarantees before this type is built).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Optional stable id (default: its position, e.g. `s3` or `s4_then_1`).
    #[serde(default)]
    pub id: Option<String>,
    /// Ask for a slot unless it is already filled.
    #[serde(default)]
    pub collect: Option<String>,
    /// Call a backend action.
    #[serde(default)]
    pub action: Option<String>,
    /// The action's arguments; strings are templates.
    #[serde(default)]
    pub args: Option<serde_json::Map<String, serde_json::Value>>,
    /// Name under which the action's result is kept.
    #[serde(default)]
    pub result: Option<String>,
    /// Steps to run when the action fails (`error.kind`, `error.reason` are available).
    #[serde(default)]
    pub on_error: Option<Vec<StepSpec>>,
    /// Retries on backend (transient) failures.
    #[serde(default)]
    pub retry: Option<u8>,
    /// Slot → CEL expression.
    #[serde(default)]
    pub set: Option<BTreeMap<String, String>>,
    /// CEL condition.
    #[serde(default, rename = "if")]
    pub condition: Option<String>,
    /// Steps when the condition holds.
    #[serde(default)]
    pub then: Option<Vec<StepSpec>>,
    /// Steps when it does not.
    #[serde(default, rename = "else")]
    pub otherwise: Option<Vec<StepSpec>>,
    /// Say a response (by id).
    #[serde(default)]
    pub respond: Option<String>,
    /// Ask for an explicit yes/no (a response id) before going on.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Steps when the customer says no (default: acknowledge and end abandoned).
    #[serde(default)]
    pub on_no: Option<Vec<StepSpec>>,
    /// Run another flow and come back.
    #[serde(default)]
    pub call: Option<String>,
    /// Prove the account (a CEL expression giving its id) is the customer's own, by the
    /// channel or a one-time code sent to the account's own email or phone.
    #[serde(default)]
    pub verify: Option<String>,
    /// Hand over to another flow for good.
    #[serde(default)]
    pub link: Option<String>,
    /// Hand the conversation to a human.
    #[serde(default)]
    pub escalate: Option<EscalateSpec>,
    /// Finish the flow.
    #[serde(default)]
    pub end: Option<Outcome>,
}

/// The step kinds, in the order the schema lists them.
pub const STEP_KINDS: [&str; 11] = [
    "collect", "action", "set", "if", "respond", "confirm", "call", "verify", "link", "escalate",
    "end",
];

/// The keys each step kind allows besides `id` and its own key.
pub fn step_extra_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "action" => &["args", "result", "on_error", "retry"],
        "if" => &["then", "else"],
        "confirm" => &["on_no"],
        _ => &[],
    }
}

/// One flow file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Unique id.
    pub id: String,
    /// One sentence.
    pub description: String,
    /// Classification.
    pub tier: Tier,
    /// Messages that start it.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Messages that start it in the other locales (from `locales/<locale>/<flow>.yaml`): the
    /// router of conversations in those languages weighs them with `examples`.
    #[serde(skip)]
    pub translated_examples: Vec<String>,
    /// Words or phrases that name this flow outright ("return", "money back"): when the router
    /// weighs it among its closest flows and a message says more of these than of any other
    /// contender's, the message goes here.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Who may start it.
    #[serde(default)]
    pub starts: Starts,
    /// Slots by name.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotSpec>,
    /// Response templates by id.
    #[serde(default)]
    pub responses: BTreeMap<String, String>,
    /// What it does.
    pub steps: Vec<StepSpec>,
    /// Escalation thresholds that differ from the service-wide policy while this flow runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<frontline_domain::EscalationOverride>,
}
