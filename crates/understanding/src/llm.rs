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
use crate::{DialogueContext, Speaker, Understanding, UnderstandingError, Understood};
use async_trait::async_trait;
use frontline_domain::{Channel, Command, LlmUsage, ScoredCommand};
use frontline_flows::compile::CONFIRMATION;
use frontline_flows::spec::Starts;
use frontline_knowledge::{Citation, KnowledgeBase, Passage, SearchFilter};
use frontline_llm::{lenient_json, tokens, Completion, LlmClient, Message};
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
pub const COMMAND_PLACEHOLDERS: [&str; 7] = [
    "today",
    "flows",
    "active_flow",
    "requested_slot",
    "slots",
    "passages",
    "history",
];

/// The JSON schema the command generator's answer must follow.
pub fn command_schema() -> Value {
    json!({
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
    })
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
            passages: 2,
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

    async fn passages(&self, message: &str) -> String {
        let Some(kb) = &self.knowledge else {
            return "(none)".into();
        };
        match kb
            .search(message, self.settings.passages, &SearchFilter::default())
            .await
        {
            Ok(result) if result.abstain.is_none() && !result.passages.is_empty() => result
                .passages
                .iter()
                .map(|p| format!("[{}] {}", p.citation, p.text.trim()))
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(_) => "(none relevant)".into(),
            Err(e) => {
                tracing::warn!(error = %e, "knowledge search for the prompt failed");
                "(unavailable)".into()
            }
        }
    }

    /// The chat messages for one turn.
    pub async fn prompt(
        &self,
        message: &str,
        context: &DialogueContext,
        ranked: &[(Intent, f32)],
    ) -> Vec<Message> {
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
        let system = self.template.render(&[
            ("today", context.today.to_string()),
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
            (
                "slots",
                active
                    .map(|a| Value::Object(a.slots.clone()).to_string())
                    .unwrap_or_else(|| "{}".into()),
            ),
            ("passages", self.passages(message).await),
            (
                "history",
                if history.is_empty() {
                    "(start of conversation)".into()
                } else {
                    history
                },
            ),
        ]);
        vec![Message::system(system), Message::user(message.to_string())]
    }

    /// The LLM's answer as validated commands, or why it is not usable.
    pub fn validate(
        &self,
        answer: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, String> {
        let value = lenient_json(answer).ok_or_else(|| format!("not JSON: {:.120}", answer))?;
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
            let command: Command =
                serde_json::from_value(item.clone()).map_err(|e| format!("command {item}: {e}"))?;
            match &command {
                Command::StartFlow { flow_id } if !startable(flow_id) => {
                    return Err(format!("unknown flow {flow_id:?}"));
                }
                Command::StartFlow { flow_id } => in_scope.push(flow_id.clone()),
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
        let (local, ranked) = self.local.analyse(message, context).await?;
        let local_name = self.local.name();
        if is_deterministic_continuation(&local, context) {
            return Ok(Understood {
                commands: local,
                source: format!("{local_name} (deterministic continuation)"),
                llm: Some(LlmUsage::default()),
            });
        }
        let messages = self.prompt(message, context, &ranked).await;
        let fallback = |reason: String, usage: LlmUsage| {
            tracing::warn!(%reason, "LLM understanding unusable this turn; using the local reading");
            Understood {
                commands: local.clone(),
                source: format!("{local_name} (llm fallback)"),
                llm: Some(LlmUsage {
                    fallback: Some(reason),
                    ..usage
                }),
            }
        };
        match self
            .client
            .complete_json(&messages, "commands", &command_schema())
            .await
        {
            Ok(completion) => {
                let usage = usage_of(&completion);
                match self.validate(&completion.text, context) {
                    Ok(commands) => Ok(Understood {
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
pub const ANSWER_PLACEHOLDERS: [&str; 4] = ["channel", "max_chars", "passages", "question"];

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
        on_delta: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<WrittenAnswer, String> {
        let written = self.write(question, passages, max_chars, channel).await?;
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
    ) -> String {
        let listing = passages
            .iter()
            .enumerate()
            .map(|(i, p)| format!("[{}] ({}) {}", i + 1, p.citation, p.text.trim()))
            .collect::<Vec<_>>()
            .join("\n\n");
        self.template.render(&[
            ("channel", channel.to_string()),
            ("max_chars", max_chars.to_string()),
            ("passages", listing),
            ("question", question.to_string()),
        ])
    }
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
    ) -> Result<WrittenAnswer, String> {
        let prompt = self.prompt(question, passages, max_chars, channel);
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
        on_delta: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<WrittenAnswer, String> {
        let prompt = self.prompt(question, passages, max_chars, channel);
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

    #[test]
    fn the_schema_names_every_command_type() {
        let schema = command_schema();
        let types = schema
            .pointer("/properties/commands/items/properties/type/enum")
            .unwrap();
        assert_eq!(types.as_array().unwrap().len(), 8);
    }
}
