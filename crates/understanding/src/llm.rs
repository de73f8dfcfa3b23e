//! LLM understanding: one call per turn that needs one, to any OpenAI-compatible endpoint.
//!
//! The local understanding runs first (it is cheap): when its reading is a deterministic
//! continuation (an answer to the slot being asked, a yes/no at a confirmation, "never mind"),
//! no LLM is called. Otherwise the prompt (`prompts/command_generator.md`) lists only the flows
//! the local router ranks highest, the active flow and its slots, the recent history within a
//! token budget, and the knowledge passages that may be relevant; the answer is constrained by a
//! JSON schema where the endpoint allows, parsed leniently where it does not, and every command
//! is validated against the loaded flows. Anything unusable (an endpoint failure, a timeout,
//! invalid output) makes the turn fall back to the local reading, and the reason is recorded.

use crate::local::LocalUnderstanding;
use crate::router::Intent;
use crate::{
    ActiveFlow, AnswerDraft, DialogueContext, KnowledgeAnswer, Speaker, Understanding,
    UnderstandingError, Understood,
};
use async_trait::async_trait;
use frontline_domain::{Channel, Command, LlmUsage, ScoredCommand};
use frontline_flows::compile::{CONFIRMATION, VERIFICATION_CODE};
use frontline_flows::spec::Starts;
use frontline_knowledge::{Citation, KnowledgeBase, Passage, SearchFilter};
use frontline_llm::{lenient_json, tokens, Completion, LlmClient, Message};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Why a prompt template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("prompt template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It names a placeholder the code does not fill.
    #[error("prompt template {path}:{line}: unknown placeholder {{{{{name}}}}} (known: {known})")]
    Unknown {
        /// The file.
        path: String,
        /// The line.
        line: usize,
        /// The placeholder.
        name: String,
        /// What may be used.
        known: String,
    },
}

/// A prompt with `{{name}}` placeholders.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    text: String,
}

impl Template {
    /// Read `path`, refusing placeholders not in `known`.
    pub fn load(path: &Path, known: &[&str]) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, known).map_err(|(line, name)| TemplateError::Unknown {
            path: path.display().to_string(),
            line,
            name,
            known: known.join(", "),
        })
    }

    /// A template from text; `Err((line, name))` for an unknown placeholder.
    pub fn parse(text: &str, known: &[&str]) -> Result<Self, (usize, String)> {
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else { break };
                let name = after[..end].trim();
                if !known.contains(&name) {
                    return Err((i + 1, name.to_string()));
                }
                rest = &after[end + 2..];
            }
        }
        Ok(Self {
            text: text.to_string(),
        })
    }

    /// The text with each `{{name}}` replaced (placeholders without a value are kept).
    pub fn render(&self, values: &[(&str, String)]) -> String {
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim();
            out.push_str(&rest[..start]);
            match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&rest[start..start + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// One successful call's cost, as the conversation log records it.
fn usage_of(completion: &Completion) -> LlmUsage {
    LlmUsage {
        calls: 1,
        prompt_tokens: completion.usage.prompt_tokens,
        completion_tokens: completion.usage.completion_tokens,
        cost_usd: completion.usage.cost_usd,
        estimated: completion.usage.estimated,
        fallback: None,
        unavailable: false,
    }
}

/// The placeholders of `prompts/command_generator.md`.
pub const COMMAND_PLACEHOLDERS: [&str; 11] = [
    "today",
    "channel",
    "language_note",
    "max_chars",
    "flows",
    "active_flow",
    "requested_slot",
    "offers",
    "slots",
    "passages",
    "history",
];

/// The JSON schema the command generator's answer must follow. `with_answer`: passages were
/// shown, so the object also carries `answer`, the reply to an informational question written
/// from them (empty when the turn asks none), and one call both understands and answers.
pub fn command_schema(with_answer: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "properties": {
            "commands": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": [
                            "start_flow", "set_slot", "cancel_flow", "answer_from_knowledge",
                            "clarify", "chit_chat", "human_handoff", "cannot_handle"
                        ]},
                        "flow_id": {"type": "string"},
                        "name": {"type": "string"},
                        "value": {},
                        "query": {"type": "string"},
                        "options": {"type": "array", "items": {"type": "string"}},
                        "topic": {"type": "string", "enum": ["greeting", "thanks", "goodbye"]},
                        "reason": {"type": "string"}
                    },
                    "required": ["type"]
                }
            }
        },
        "required": ["commands"]
    });
    if with_answer {
        schema["properties"]["answer"] = json!({"type": "string"});
        schema["required"] = json!(["commands", "answer"]);
    }
    schema
}

/// Knobs of the LLM understanding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LlmUnderstandingSettings {
    /// Flows listed in the prompt (the router's best).
    pub max_flows: usize,
    /// Token budget for the recent history.
    pub history_tokens: usize,
    /// Knowledge passages shown.
    pub passages: usize,
    /// Confidence given to the LLM's commands (it states none).
    pub confidence: f32,
}

impl Default for LlmUnderstandingSettings {
    fn default() -> Self {
        Self {
            max_flows: 4,
            history_tokens: 600,
            passages: 3,
            confidence: 0.85,
        }
    }
}

/// Understanding by an LLM, over the local understanding; see the module docs.
pub struct LlmUnderstanding {
    client: Arc<LlmClient>,
    local: Arc<LocalUnderstanding>,
    knowledge: Option<Arc<KnowledgeBase>>,
    template: Template,
    settings: LlmUnderstandingSettings,
}

impl std::fmt::Debug for LlmUnderstanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmUnderstanding")
            .field("client", &self.client)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Whether `commands` (the local reading) continue the active flow deterministically: they
/// answer the question asked (or the confirmation), or stop the flow, and nothing else.
pub fn is_deterministic_continuation(
    commands: &[ScoredCommand],
    context: &DialogueContext,
) -> bool {
    let Some(requested) = context
        .active_flow
        .as_ref()
        .and_then(|f| f.requested_slot.as_deref())
    else {
        return false;
    };
    match commands {
        [ScoredCommand {
            command: Command::CancelFlow,
            ..
        }] => true,
        [ScoredCommand {
            command: Command::SetSlot { name, .. },
            ..
        }] if name == CONFIRMATION => requested == CONFIRMATION,
        _ => {
            !commands.is_empty()
                && commands
                    .iter()
                    .all(|c| matches!(c.command, Command::SetSlot { .. }))
                && commands.iter().any(
                    |c| matches!(&c.command, Command::SetSlot { name, .. } if name == requested),
                )
        }
    }
}

/// Whether the local reading is the customer's explicit request for a person (the phrase
/// matched, not a guess by similarity).
fn is_explicit_handoff(commands: &[ScoredCommand]) -> bool {
    matches!(commands, [ScoredCommand { command: Command::HumanHandoff { .. }, confidence }] if *confidence >= crate::pipeline::EXPLICIT_HANDOFF)
}

/// Whether a confirmation value reads as yes (`true`, `"yes"`, …).
fn slots_yes(value: &Value) -> bool {
    frontline_flows::slots::parse_bool(value) != Some(false)
}

impl LlmUnderstanding {
    /// An LLM understanding using `client`, falling back to `local`, with passages from
    /// `knowledge` when given. `template` is `prompts/command_generator.md`.
    pub fn new(
        client: Arc<LlmClient>,
        local: Arc<LocalUnderstanding>,
        knowledge: Option<Arc<KnowledgeBase>>,
        template: Template,
        settings: LlmUnderstandingSettings,
    ) -> Self {
        Self {
            client,
            local,
            knowledge,
            template,
            settings,
        }
    }

    fn flows_listing(
        &self,
        ranked: &[(Intent, f32)],
        context: &DialogueContext,
    ) -> (String, BTreeSet<String>) {
        let flows = self.local.flows();
        let mut ids: Vec<String> = ranked
            .iter()
            .filter_map(|(i, _)| match i {
                Intent::Flow(id) => Some(id.clone()),
                Intent::Builtin(_) => None,
            })
            .take(self.settings.max_flows)
            .collect();
        if let Some(active) = &context.active_flow {
            if !ids.contains(&active.flow_id) {
                ids.push(active.flow_id.clone());
            }
        }
        let mut listing = String::new();
        for id in &ids {
            let Some(flow) = flows.get(id) else { continue };
            let slots: Vec<String> = flow
                .slots
                .iter()
                .filter(|(_, s)| s.spec.prompt != "-")
                .map(|(name, s)| {
                    let kind = serde_json::to_value(s.spec.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    if s.spec.values.is_empty() {
                        format!("{name} ({kind})")
                    } else {
                        let values: Vec<&str> = s.spec.values.keys().map(String::as_str).collect();
                        format!("{name} ({kind}: {})", values.join(" | "))
                    }
                })
                .collect();
            listing.push_str(&format!(
                "- {id}: {} Slots: {}\n",
                flow.spec.description.trim(),
                if slots.is_empty() {
                    "none".to_string()
                } else {
                    slots.join(", ")
                }
            ));
        }
        (listing, ids.into_iter().collect())
    }

    /// The passages that pass the relevance gate for `message`, and how the prompt lists them.
    async fn passages(&self, message: &str, language: Option<&str>) -> (String, Option<Shown>) {
        let Some(kb) = &self.knowledge else {
            return ("(none)".into(), None);
        };
        // The conversation's locale's articles, else the default locale's (the answer is
        // written in the customer's language either way).
        let default = frontline_flows::wording::DEFAULT_LOCALE;
        let in_locale = |l: &str| SearchFilter {
            locale: Some(l.to_string()),
            ..SearchFilter::default()
        };
        let mut found = kb
            .search(
                message,
                self.settings.passages,
                &in_locale(language.unwrap_or(default)),
            )
            .await;
        if language.is_some_and(|l| l != default)
            && !matches!(&found, Ok(r) if r.abstain.is_none() && !r.passages.is_empty())
        {
            found = kb
                .search(message, self.settings.passages, &in_locale(default))
                .await;
        }
        match found {
            Ok(result) if result.abstain.is_none() && !result.passages.is_empty() => (
                numbered(&result.passages),
                Some(Shown {
                    passages: result.passages,
                    confidence: result.confidence,
                }),
            ),
            Ok(_) => ("(none relevant)".into(), None),
            Err(e) => {
                tracing::warn!(error = %e, "knowledge search for the prompt failed");
                ("(unavailable)".into(), None)
            }
        }
    }

    /// The chat messages for one turn, and the passages they show (when any passed the gate).
    pub async fn prompt(
        &self,
        message: &str,
        context: &DialogueContext,
        ranked: &[(Intent, f32)],
    ) -> (Vec<Message>, Option<Shown>) {
        let (flows, _) = self.flows_listing(ranked, context);
        let history =
            tokens::latest_within(&context.recent, self.settings.history_tokens, |u| &u.text)
                .iter()
                .map(|u| {
                    format!(
                        "{}: {}",
                        match u.speaker {
                            Speaker::Customer => "customer",
                            Speaker::Agent => "assistant",
                            Speaker::Human => "human agent",
                        },
                        u.text
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
        let active = context.active_flow.as_ref();
        let (passages, shown) = self.passages(message, context.language.as_deref()).await;
        let system = self.template.render(&[
            ("today", context.today.to_string()),
            ("channel", context.channel.to_string()),
            (
                "language_note",
                context
                    .language
                    .as_deref()
                    .map(|l| {
                        let name = frontline_language::name(l);
                        format!(" and writes in {name} (write the reply in {name}, whatever language the passages are in)")
                    })
                    .unwrap_or_default(),
            ),
            ("max_chars", context.channel.max_answer_chars().to_string()),
            (
                "flows",
                if flows.is_empty() {
                    "(none)".into()
                } else {
                    flows
                },
            ),
            (
                "active_flow",
                active
                    .map(|a| a.flow_id.clone())
                    .unwrap_or_else(|| "none".into()),
            ),
            (
                "requested_slot",
                active
                    .and_then(|a| a.requested_slot.clone())
                    .unwrap_or_else(|| "none".into()),
            ),
            ("offers", active.map(offers_listing).unwrap_or_default()),
            (
                "slots",
                active
                    .map(|a| Value::Object(a.slots.clone()).to_string())
                    .unwrap_or_else(|| "{}".into()),
            ),
            ("passages", passages),
            (
                "history",
                if history.is_empty() {
                    "(start of conversation)".into()
                } else {
                    history
                },
            ),
        ]);
        (
            vec![Message::system(system), Message::user(message.to_string())],
            shown,
        )
    }

    /// The LLM's answer (its JSON, parsed) as validated commands, or why it is not usable.
    pub fn validate(
        &self,
        value: &Value,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, String> {
        let items = value
            .get("commands")
            .and_then(Value::as_array)
            .ok_or("no \"commands\" array")?;
        if items.is_empty() {
            return Err("an empty command list".into());
        }
        let flows = self.local.flows();
        let startable = |id: &str| {
            flows
                .get(id)
                .is_some_and(|f| f.spec.starts == Starts::Customer && !id.starts_with("pattern_"))
        };
        let mut in_scope: Vec<String> = context
            .active_flow
            .iter()
            .map(|a| a.flow_id.clone())
            .collect();
        let mut commands = Vec::new();
        for item in items {
            let mut item = item.clone();
            if let Some(fields) = item.as_object_mut() {
                // An answer written inside its command (models asked without a schema do).
                fields.remove("answer");
            }
            let command =
                Command::deserialize(&item).map_err(|e| format!("command {item}: {e}"))?;
            match &command {
                Command::StartFlow { flow_id, .. } if !startable(flow_id) => {
                    return Err(format!("unknown flow {flow_id:?}"));
                }
                Command::StartFlow { flow_id, .. } => in_scope.push(flow_id.clone()),
                // The engine acts on a yes, and a code proves an account: both come only from
                // the customer's own words as the local reading finds them. A no is safe.
                Command::SetSlot { name, value }
                    if name == CONFIRMATION && slots_yes(value) || name == VERIFICATION_CODE =>
                {
                    return Err(format!(
                        "slot {name:?} set to {value}: a yes or a one-time code comes only from the customer's own words"
                    ));
                }
                Command::SetSlot { name, value }
                    if in_scope.len() == 1
                        && context.active_flow.as_ref().is_some_and(|a| {
                            a.requested_slot.as_deref() == Some(name) && !a.offered.is_empty()
                        }) =>
                {
                    // The customer chose among their own orders (subscriptions, …): the value
                    // must be one of them, written as offered.
                    let offers = context
                        .active_flow
                        .as_ref()
                        .map(|a| a.offered.as_slice())
                        .unwrap_or_default();
                    let Some(chosen) = frontline_flows::candidates::offered(value, offers) else {
                        return Err(format!(
                            "slot {name:?} set to {value}, which is none of the {} offered",
                            offers.len()
                        ));
                    };
                    commands.push(ScoredCommand::new(
                        Command::SetSlot {
                            name: name.clone(),
                            value: chosen,
                        },
                        self.settings.confidence,
                    ));
                    continue;
                }
                Command::SetSlot { name, value } => {
                    let known = name == CONFIRMATION
                        || in_scope
                            .iter()
                            .any(|f| flows.get(f).is_some_and(|f| f.slots.contains_key(name)));
                    if !known {
                        return Err(format!(
                            "slot {name:?} is not in the active or started flow"
                        ));
                    }
                    if value.is_null() {
                        return Err(format!("slot {name:?} set to null"));
                    }
                }
                Command::Clarify { options }
                    if options.is_empty() || options.iter().any(|o| !startable(o)) =>
                {
                    return Err(format!("clarify between unknown flows {options:?}"));
                }
                Command::CancelFlow if context.active_flow.is_none() => {
                    return Err("cancel_flow with no active flow".into());
                }
                _ => {}
            }
            commands.push(ScoredCommand::new(command, self.settings.confidence));
        }
        Ok(commands)
    }

    /// The answer the call wrote for its `answer_from_knowledge` command, checked against the
    /// passages it was `shown`; `None` when it wrote none (no passages were shown, or it left
    /// the answer empty: the agent then searches with the command's query and has the answer
    /// written apart).
    pub fn drafted_answer(
        value: &Value,
        commands: &[ScoredCommand],
        shown: Option<&Shown>,
    ) -> Option<AnswerDraft> {
        let query = commands.iter().find_map(|c| match &c.command {
            Command::AnswerFromKnowledge { query } => Some(query.clone()),
            _ => None,
        })?;
        let shown = shown?;
        let text = value
            .get("answer")
            .or_else(|| {
                value["commands"].as_array()?.iter().find_map(|c| {
                    (c["type"] == "answer_from_knowledge")
                        .then(|| c.get("answer"))
                        .flatten()
                })
            })
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())?;
        match ground(text, &shown.passages) {
            Ok((text, citations)) => Some(AnswerDraft::Grounded(KnowledgeAnswer {
                query,
                text,
                citations,
                confidence: shown.confidence,
            })),
            Err(reason) => {
                tracing::info!(%reason, "the answer written with the commands does not hold");
                Some(AnswerDraft::Unfounded { query, reason })
            }
        }
    }
}

/// Passages shown to the LLM, numbered from 1 in this order, with the retrieval's confidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    /// The passages, best first.
    pub passages: Vec<Passage>,
    /// How confident the retrieval was (the relevance gate passed).
    pub confidence: f32,
}

/// What the customer was offered for the slot being asked, as the prompt lists it after the
/// slot's name (nothing when nothing was offered, so the line reads as before): the value to
/// set and the label the customer saw. Labels are the flow's own (items, status, dates), never
/// payment details.
fn offers_listing(active: &ActiveFlow) -> String {
    if active.offered.is_empty() || active.requested_slot.is_none() {
        return String::new();
    }
    let mut listing = String::from(
        "\nThe customer was offered these for it, numbered as they saw them. When the message points at one (by its contents, date, position or size), set the slot to that one's value exactly as written here:",
    );
    for (i, offer) in active
        .offered
        .iter()
        .take(frontline_flows::candidates::MAX_LISTED)
        .enumerate()
    {
        listing.push_str(&format!(
            "\n{}. value {}: {}",
            i + 1,
            offer.value,
            offer.label
        ));
    }
    listing
}

/// Passages as prompts list them: `[n] (title › section) text`, numbered from 1.
fn numbered(passages: &[Passage]) -> String {
    passages
        .iter()
        .enumerate()
        .map(|(i, p)| format!("[{}] ({}) {}", i + 1, p.citation, p.text.trim()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Follows a JSON text as a model writes it and gives out the value of its `"answer"` string,
/// decoded, as it forms, so a channel can show the answer before the rest of the object is
/// written. Pieces may split anywhere, even inside an escape.
#[derive(Clone, Debug, Default)]
pub struct AnswerField {
    written: String,
    /// Where in `written` to look next.
    at: usize,
    state: FieldState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum FieldState {
    #[default]
    Seeking,
    Inside,
    Done,
}

/// Four hex digits as a number.
fn hex4(text: &str) -> Option<u32> {
    let digits = text.get(..4)?;
    u32::from_str_radix(digits, 16).ok()
}

impl AnswerField {
    /// A follower that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take the next piece of the JSON text; returns the part of the answer it completes
    /// (empty when none).
    pub fn push(&mut self, piece: &str) -> String {
        const KEY: &str = "\"answer\"";
        self.written.push_str(piece);
        let mut out = String::new();
        loop {
            match self.state {
                FieldState::Done => return out,
                FieldState::Seeking => {
                    let Some(found) = self.written[self.at..].find(KEY) else {
                        // Keep what could be the start of a key cut by the piece's end.
                        let mut keep = self.written.len().saturating_sub(KEY.len() - 1);
                        while !self.written.is_char_boundary(keep) {
                            keep -= 1;
                        }
                        self.at = self.at.max(keep);
                        return out;
                    };
                    let key = self.at + found;
                    let after = self.written[key + KEY.len()..].trim_start();
                    let value = after.strip_prefix(':').map(str::trim_start);
                    match value {
                        // Not yet written far enough to tell.
                        _ if after.is_empty() || value == Some("") => {
                            self.at = key;
                            return out;
                        }
                        Some(v) if v.starts_with('"') => {
                            self.at = self.written.len() - v.len() + 1;
                            self.state = FieldState::Inside;
                        }
                        // A string "answer" that is a value, or a key of another kind.
                        _ => self.at = key + KEY.len(),
                    }
                }
                FieldState::Inside => {
                    let rest = &self.written[self.at..];
                    let Some(special) = rest.find(['"', '\\']) else {
                        out.push_str(rest);
                        self.at = self.written.len();
                        return out;
                    };
                    out.push_str(&rest[..special]);
                    let tail = &rest[special..];
                    if tail.starts_with('"') {
                        self.at += special + 1;
                        self.state = FieldState::Done;
                        continue;
                    }
                    // An escape: wait until it is whole.
                    let Some(kind) = tail[1..].chars().next() else {
                        self.at += special;
                        return out;
                    };
                    let (decoded, used) = match kind {
                        'u' => match hex4(&tail[2..]) {
                            None if tail.len() < 6 => {
                                self.at += special;
                                return out;
                            }
                            None => (char::REPLACEMENT_CHARACTER, 2),
                            // A surrogate pair: `\uD83D\uDE00`.
                            Some(high) if (0xD800..0xDC00).contains(&high) => {
                                if tail.len() < 12 {
                                    self.at += special;
                                    return out;
                                }
                                match (tail.get(6..8), tail.get(8..).and_then(hex4)) {
                                    (Some("\\u"), Some(low)) if (0xDC00..0xE000).contains(&low) => {
                                        let code =
                                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                        (
                                            char::from_u32(code)
                                                .unwrap_or(char::REPLACEMENT_CHARACTER),
                                            12,
                                        )
                                    }
                                    _ => (char::REPLACEMENT_CHARACTER, 6),
                                }
                            }
                            Some(unit) => (
                                char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
                                6,
                            ),
                        },
                        'n' => ('\n', 2),
                        't' => ('\t', 2),
                        'r' => ('\r', 2),
                        'b' => ('\u{8}', 2),
                        'f' => ('\u{c}', 2),
                        other => (other, 1 + other.len_utf8()),
                    };
                    out.push(decoded);
                    self.at += special + used;
                }
            }
        }
    }
}

#[async_trait]
impl Understanding for LlmUnderstanding {
    fn name(&self) -> String {
        format!("llm:{}", self.client.settings().model)
    }

    async fn understand(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError> {
        Ok(self.interpret(message, context).await?.commands)
    }

    async fn interpret(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Understood, UnderstandingError> {
        self.interpret_streaming(message, context, &mut |_| {})
            .await
    }

    async fn interpret_streaming(
        &self,
        message: &str,
        context: &DialogueContext,
        on_answer: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<Understood, UnderstandingError> {
        let (local, ranked) = self.local.analyse(message, context).await?;
        let local_name = self.local.name();
        if is_explicit_handoff(&local) {
            // "Get me a person" is honoured as said: no model may talk the agent out of it.
            return Ok(Understood {
                commands: local,
                source: format!("{local_name} (explicit request for a person)"),
                llm: Some(LlmUsage::default()),
                answer: None,
            });
        }
        if is_deterministic_continuation(&local, context) {
            return Ok(Understood {
                commands: local,
                source: format!("{local_name} (deterministic continuation)"),
                llm: Some(LlmUsage::default()),
                answer: None,
            });
        }
        let (messages, shown) = self.prompt(message, context, &ranked).await;
        let fallback = |reason: String, usage: LlmUsage| {
            tracing::warn!(%reason, "LLM understanding unusable this turn; using the local reading");
            Understood {
                commands: local.clone(),
                source: format!("{local_name} (llm fallback)"),
                llm: Some(LlmUsage {
                    fallback: Some(reason),
                    ..usage
                }),
                answer: None,
            }
        };
        let schema = command_schema(shown.is_some());
        let completion = if shown.is_some() && context.channel.streams_replies() {
            let mut field = AnswerField::new();
            let mut on_delta = |piece: &str| {
                let answer = field.push(piece);
                if !answer.is_empty() {
                    on_answer(&answer);
                }
            };
            self.client
                .stream_json(&messages, "commands", &schema, &mut on_delta)
                .await
        } else {
            self.client
                .complete_json(&messages, "commands", &schema)
                .await
        };
        match completion {
            Ok(completion) => {
                let usage = usage_of(&completion);
                let understood = lenient_json(&completion.text)
                    .ok_or_else(|| format!("not JSON: {:.120}", completion.text))
                    .and_then(|value| Ok((self.validate(&value, context)?, value)));
                match understood {
                    Ok((commands, value)) => Ok(Understood {
                        answer: Self::drafted_answer(&value, &commands, shown.as_ref()),
                        commands,
                        source: self.name(),
                        llm: Some(usage),
                    }),
                    Err(reason) => Ok(fallback(format!("invalid output: {reason}"), usage)),
                }
            }
            Err(e) => Ok(fallback(
                e.to_string(),
                LlmUsage {
                    calls: 1,
                    unavailable: e.is_unavailable(),
                    ..LlmUsage::default()
                },
            )),
        }
    }
}

/// The placeholders of `prompts/answer.md`.
pub const ANSWER_PLACEHOLDERS: [&str; 5] = [
    "channel",
    "language_note",
    "max_chars",
    "passages",
    "question",
];

/// A grounded answer written from passages.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenAnswer {
    /// The text, citation markers kept, sources listed at the end.
    pub text: String,
    /// The passages it cites, in order of first citation.
    pub citations: Vec<Citation>,
    /// What writing it cost.
    pub usage: LlmUsage,
}

/// Writes answers to informational questions from retrieved passages.
#[async_trait]
pub trait AnswerWriter: Send + Sync {
    /// An answer to `question` from `passages` (best first), at most about `max_chars` long,
    /// for `channel`; `Err` says why none could be written (the caller answers extractively).
    async fn write(
        &self,
        question: &str,
        passages: &[Passage],
        max_chars: usize,
        channel: Channel,
        language: &str,
    ) -> Result<WrittenAnswer, String>;

    /// Like [`AnswerWriter::write`], showing the text to `on_delta` piece by piece as it is
    /// written (for channels that stream). The pieces are a draft: the returned answer (checked,
    /// sources listed) is what counts. By default the whole answer arrives as one piece.
    async fn write_streaming(
        &self,
        question: &str,
        passages: &[Passage],
        max_chars: usize,
        channel: Channel,
        language: &str,
        on_delta: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<WrittenAnswer, String> {
        let written = self
            .write(question, passages, max_chars, channel, language)
            .await?;
        on_delta(&written.text);
        Ok(written)
    }
}

/// [`AnswerWriter`] by an LLM with `prompts/answer.md`. The answer must cite at least one
/// passage as `[n]` and no passage that was not given; the sources are listed by code.
pub struct LlmAnswerWriter {
    client: Arc<LlmClient>,
    template: Template,
}

impl LlmAnswerWriter {
    /// A writer using `client` and the answer template.
    pub fn new(client: Arc<LlmClient>, template: Template) -> Self {
        Self { client, template }
    }
}

/// The `[n]` markers in `text`, in order of first appearance.
fn cited(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        for part in after[..close].split(',') {
            if let Ok(n) = part.trim().parse::<usize>() {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &after[close..];
    }
    out
}

/// Check a written answer against the passages it was given and list its sources.
pub fn ground(text: &str, passages: &[Passage]) -> Result<(String, Vec<Citation>), String> {
    let numbers = cited(text);
    if numbers.is_empty() {
        return Err("the answer cites no passage".into());
    }
    if let Some(bad) = numbers.iter().find(|n| **n == 0 || **n > passages.len()) {
        return Err(format!("the answer cites [{bad}], which was not given"));
    }
    let citations: Vec<Citation> = numbers
        .iter()
        .map(|n| passages[n - 1].citation.clone())
        .collect();
    let sources = numbers
        .iter()
        .zip(&citations)
        .map(|(n, c)| format!("[{n}] {c}"))
        .collect::<Vec<_>>()
        .join("; ");
    Ok((
        format!("{}\n\n(Sources: {sources})", text.trim()),
        citations,
    ))
}

impl LlmAnswerWriter {
    fn prompt(
        &self,
        question: &str,
        passages: &[Passage],
        max_chars: usize,
        channel: Channel,
        language: &str,
    ) -> String {
        self.template.render(&[
            ("channel", channel.to_string()),
            ("language_note", language_note(language)),
            ("max_chars", max_chars.to_string()),
            ("passages", numbered(passages)),
            ("question", question.to_string()),
        ])
    }
}

/// What the answer prompt says of the customer's language: nothing for the default locale (the
/// prompt as it always was), else which language to write in.
fn language_note(language: &str) -> String {
    if language.is_empty() || language == "en" {
        return String::new();
    }
    let name = frontline_language::name(language);
    format!(" Write in {name}, the customer's language, whatever language the passages are in.")
}

/// Check what the model wrote and list its sources.
fn written(completion: &Completion, passages: &[Passage]) -> Result<WrittenAnswer, String> {
    let usage = usage_of(completion);
    let (text, citations) = ground(&completion.text, passages)?;
    Ok(WrittenAnswer {
        text,
        citations,
        usage,
    })
}

#[async_trait]
impl AnswerWriter for LlmAnswerWriter {
    async fn write(
        &self,
        question: &str,
        passages: &[Passage],
        max_chars: usize,
        channel: Channel,
        language: &str,
    ) -> Result<WrittenAnswer, String> {
        let prompt = self.prompt(question, passages, max_chars, channel, language);
        let completion = self
            .client
            .complete_text(&[Message::user(prompt)])
            .await
            .map_err(|e| e.to_string())?;
        written(&completion, passages)
    }

    async fn write_streaming(
        &self,
        question: &str,
        passages: &[Passage],
        max_chars: usize,
        channel: Channel,
        language: &str,
        on_delta: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<WrittenAnswer, String> {
        let prompt = self.prompt(question, passages, max_chars, channel, language);
        let completion = self
            .client
            .stream_text(&[Message::user(prompt)], on_delta)
            .await
            .map_err(|e| e.to_string())?;
        written(&completion, passages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_prompt_names_the_customers_language_unless_it_is_the_default() {
        assert_eq!(language_note("en"), "");
        assert_eq!(language_note(""), "");
        assert_eq!(
            language_note("de"),
            " Write in German, the customer's language, whatever language the passages are in."
        );
    }

    #[test]
    fn templates_refuse_unknown_placeholders_with_their_line() {
        let t =
            Template::parse("Hello {{name}}.\nToday is {{ today }}.", &["name", "today"]).unwrap();
        assert_eq!(
            t.render(&[("name", "Ada".into()), ("today", "x".into())]),
            "Hello Ada.\nToday is x."
        );
        assert_eq!(
            Template::parse("ok\nbad {{nope}}", &["name"]),
            Err((2, "nope".to_string()))
        );
    }

    fn passage(title: &str) -> Passage {
        Passage {
            chunk_id: title.into(),
            text: format!("About {title}."),
            heading_path: vec![],
            score: 1.0,
            similarity: 0.8,
            citation: Citation {
                title: title.into(),
                section: None,
                document: format!("{title}.md"),
                anchor: String::new(),
            },
        }
    }

    #[test]
    fn written_answers_must_cite_what_they_were_given() {
        let passages = [passage("Refunds"), passage("Returns")];
        let (text, citations) = ground(
            "Refunds take 5 to 7 days [1], returns 30 days [2][1].",
            &passages,
        )
        .unwrap();
        assert!(
            text.ends_with("(Sources: [1] Refunds; [2] Returns)"),
            "{text}"
        );
        assert_eq!(citations.len(), 2);
        assert!(ground("Refunds take a week.", &passages).is_err());
        assert!(ground("See [3].", &passages).unwrap_err().contains("[3]"));
        assert_eq!(cited("a [1, 2] b [2] c [x]"), vec![1, 2]);
    }

    /// `text` cut into pieces at every `step`-th character boundary, fed to a follower.
    fn follow(text: &str, step: usize) -> String {
        let mut cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(step).collect();
        cuts.push(text.len());
        let mut field = AnswerField::new();
        cuts.windows(2)
            .map(|w| field.push(&text[w[0]..w[1]]))
            .collect()
    }

    #[test]
    fn the_answer_field_is_given_out_decoded_however_the_text_is_cut() {
        let answers = [
            "Refunds take 5 to 7 days [1].",
            "Line one\nline \"two\" \\ back\\slash / tab\there [2]",
            "Caf\u{e9} r\u{e9}sum\u{e9} \u{1f600} \u{4e2d}\u{6587} and \u{8}\u{c}\r [1]",
            "",
        ];
        for answer in answers {
            // Decoys come first: "answer" as a value, in a longer key, escaped inside a string.
            let text = format!(
                r#"{{"commands": [{{"type": "chit_chat", "topic": "answer", "reason": "the \"answer\": \"no\""}}], "answer_note": 1, "answer" : {}}}"#,
                serde_json::to_string(answer).unwrap()
            );
            for step in [1, 2, 3, 5, 7, 11, 1000] {
                assert_eq!(follow(&text, step), answer, "cut every {step} in {text}");
            }
            // Escaped as models do it: every non-ASCII character as \uXXXX (pairs for emoji).
            let ascii: String = text
                .chars()
                .flat_map(|c| {
                    if c.is_ascii() {
                        vec![c.to_string()]
                    } else {
                        let mut units = [0u16; 2];
                        c.encode_utf16(&mut units)
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect()
                    }
                })
                .collect();
            for step in [1, 4, 6, 1000] {
                assert_eq!(follow(&ascii, step), answer, "cut every {step} in {ascii}");
            }
        }
        // Nothing comes out before the field, nor after it closes.
        let mut field = AnswerField::new();
        assert_eq!(field.push("{\"commands\": [], \"ans"), "");
        assert_eq!(field.push("wer\" : \"Hel"), "Hel");
        assert_eq!(field.push("lo\\"), "lo");
        assert_eq!(field.push("u00e9\", \"x\": \"more\"}"), "\u{e9}");
        assert_eq!(field.push("\"answer\": \"again\""), "");
    }

    #[test]
    fn answers_written_with_the_commands_must_cite_the_passages_shown() {
        let shown = Shown {
            passages: vec![passage("Refunds"), passage("Returns")],
            confidence: 0.7,
        };
        let asked = vec![ScoredCommand::new(
            Command::AnswerFromKnowledge {
                query: "refund timing".into(),
            },
            0.85,
        )];
        let with = |answer: &str| json!({"commands": [{"type": "answer_from_knowledge", "query": "refund timing"}], "answer": answer});
        let Some(AnswerDraft::Grounded(drafted)) =
            LlmUnderstanding::drafted_answer(&with("5 to 7 days [2]."), &asked, Some(&shown))
        else {
            panic!("a grounded answer");
        };
        assert_eq!(drafted.query, "refund timing");
        assert!(drafted.text.starts_with("5 to 7 days [2]."));
        assert!(
            drafted.text.ends_with("(Sources: [2] Returns)"),
            "{}",
            drafted.text
        );
        assert_eq!(drafted.citations, vec![shown.passages[1].citation.clone()]);
        assert_eq!(drafted.confidence, 0.7);
        // Written inside the command, as models asked without a schema do.
        let inside = json!({"commands": [{"type": "answer_from_knowledge", "query": "refund timing", "answer": "A week [1]."}]});
        assert!(LlmUnderstanding::drafted_answer(&inside, &asked, Some(&shown)).is_some());
        // No answer written: nothing (the agent has it written apart).
        for empty in ["", "   "] {
            assert!(LlmUnderstanding::drafted_answer(&with(empty), &asked, Some(&shown)).is_none());
        }
        // Written, but without a citation or citing a passage not shown: unfounded, and why.
        for (bad, why) in [("About a week.", "cites no passage"), ("See [3].", "[3]")] {
            match LlmUnderstanding::drafted_answer(&with(bad), &asked, Some(&shown)) {
                Some(AnswerDraft::Unfounded { query, reason }) => {
                    assert_eq!(query, "refund timing");
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // No passages shown at all, or no question asked: nothing.
        assert!(LlmUnderstanding::drafted_answer(&with("A week [1]."), &asked, None).is_none());
        let greeting = vec![ScoredCommand::new(
            Command::ChitChat {
                topic: frontline_domain::SmallTalk::Greeting,
            },
            0.85,
        )];
        assert!(
            LlmUnderstanding::drafted_answer(&with("A week [1]."), &greeting, Some(&shown))
                .is_none()
        );
    }

    #[test]
    fn the_schema_names_every_command_type() {
        let schema = command_schema(false);
        assert!(schema["properties"].get("answer").is_none());
        assert_eq!(
            command_schema(true)["required"],
            json!(["commands", "answer"])
        );
        let types = schema
            .pointer("/properties/commands/items/properties/type/enum")
            .unwrap();
        assert_eq!(types.as_array().unwrap().len(), 8);
    }
}
