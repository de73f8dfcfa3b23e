//! One client for any OpenAI-compatible chat endpoint (OpenAI, Azure, vLLM, llama.cpp server,
//! Ollama), through async-openai's bring-your-own-types calls so non-standard request bodies can
//! be sent.
//!
//! - **Structured output, negotiated.** Endpoints differ in what they accept: OpenAI takes
//!   `response_format: {"type": "json_schema", …}`; llama.cpp's server rejects that but honours
//!   `{"type": "json_object", "schema": …}` with grammar-constrained output; some take neither.
//!   [`LlmClient::complete_json`] tries them in that order, downgrades when the endpoint refuses
//!   the request (a 4xx), and remembers per client what worked.
//! - **Streaming** of text ([`LlmClient::stream_text`]), with usage when the server reports it.
//! - **A deadline per call** on top of async-openai's own retries with backoff on 429 and 5xx.
//! - **Tokens and cost** of every call ([`Usage`]), counted by the server or, when it does not
//!   say, with tiktoken-rs.
//! - **Record/replay** ([`cassette`]): evals in LLM mode are deterministic in CI.

pub mod cassette;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

pub use cassette::{Cassette, CassetteMode};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::Client;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Where and how to reach the endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmSettings {
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8081/v1`.
    pub base_url: String,
    /// API key (servers that need none accept any string).
    pub api_key: String,
    /// Model name.
    pub model: String,
    /// Longest wait for one call, retries included.
    pub timeout: Duration,
    /// Most tokens a completion may have.
    pub max_tokens: u32,
    /// Sampling temperature (0 for commands).
    pub temperature: f32,
    /// US dollars per million prompt tokens (0 when unknown or free).
    pub prompt_price_per_million: f64,
    /// US dollars per million completion tokens.
    pub completion_price_per_million: f64,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
            model: "gpt-4o-mini".into(),
            timeout: Duration::from_secs(20),
            max_tokens: 512,
            temperature: 0.0,
            prompt_price_per_million: 0.0,
            completion_price_per_million: 0.0,
        }
    }
}

/// Why a call produced nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint could not be reached, or failed after retries.
    #[error("LLM endpoint {endpoint}: {reason}")]
    Unavailable {
        /// The base URL.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// No answer within the deadline.
    #[error("LLM endpoint {endpoint}: no answer within {after:?}")]
    Timeout {
        /// The base URL.
        endpoint: String,
        /// The deadline.
        after: Duration,
    },
    /// The endpoint refused the request itself (a 4xx other than 429).
    #[error("LLM endpoint {endpoint} refused the request: {reason}")]
    Refused {
        /// The base URL.
        endpoint: String,
        /// Its words.
        reason: String,
    },
    /// The answer had no content.
    #[error("LLM endpoint {endpoint}: the answer was empty")]
    Empty {
        /// The base URL.
        endpoint: String,
    },
    /// Replaying, and this request was never recorded.
    #[error(
        "no recording for this request (cassette key {key}); record it with cassette mode `record`"
    )]
    NotRecorded {
        /// The request's hash.
        key: String,
    },
}

impl LlmError {
    /// Whether the endpoint was down or too slow (as opposed to answering unusably).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            LlmError::Unavailable { .. } | LlmError::Timeout { .. }
        )
    }
}

/// How structured output is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredMode {
    /// `response_format: {"type": "json_schema", "json_schema": {…}}` (OpenAI).
    JsonSchema,
    /// `response_format: {"type": "json_object", "schema": {…}}` (llama.cpp server).
    JsonObject,
    /// No `response_format`; the prompt carries the schema and the answer is parsed leniently.
    PromptOnly,
}

impl StructuredMode {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::JsonSchema,
            1 => Self::JsonObject,
            _ => Self::PromptOnly,
        }
    }

    fn next(self) -> Option<Self> {
        match self {
            Self::JsonSchema => Some(Self::JsonObject),
            Self::JsonObject => Some(Self::PromptOnly),
            Self::PromptOnly => None,
        }
    }
}

/// Tokens and money one call cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
    /// Whether the counts are ours (tiktoken) because the server gave none.
    pub estimated: bool,
    /// US dollars, by the configured prices.
    pub cost_usd: f64,
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// What a call produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The text (for structured calls, the JSON as the model wrote it).
    pub text: String,
    /// Its cost.
    pub usage: Usage,
    /// How structured output was asked for (`None` for plain text).
    pub mode: Option<StructuredMode>,
    /// Whether it came from the cassette.
    pub replayed: bool,
    /// Wall time.
    pub elapsed: Duration,
}

/// The client; see the crate docs.
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    settings: LlmSettings,
    cassette: Cassette,
    /// The structured mode this endpoint accepted last (a [`StructuredMode`] as u8).
    mode: AtomicU8,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("base_url", &self.settings.base_url)
            .field("model", &self.settings.model)
            .field("mode", &self.structured_mode())
            .field("cassette", &self.cassette.mode())
            .finish()
    }
}

impl LlmClient {
    /// A client for `settings`, recording or replaying through `cassette`.
    pub fn new(settings: LlmSettings, cassette: Cassette) -> Self {
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim_end_matches('/'))
            .with_api_key(if settings.api_key.is_empty() {
                "none".to_string()
            } else {
                settings.api_key.clone()
            });
        // Servers close idle keep-alive connections (uvicorn, which llama.cpp's Python server and
        // many proxies run on, after 5 s), and a request sent on one just as it closes fails
        // before the server reads it. Idle connections are dropped on our side first.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            client: Client::with_config(config).with_http_client(http),
            settings,
            cassette,
            mode: AtomicU8::new(0),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The structured mode the endpoint is currently asked in.
    pub fn structured_mode(&self) -> StructuredMode {
        StructuredMode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    fn usage(&self, reported: Option<&Value>, prompt: &[Message], text: &str) -> Usage {
        let field = |name: &str| {
            reported
                .and_then(|u| u.get(name))
                .and_then(Value::as_u64)
                .map(|n| n as u32)
        };
        let (prompt_tokens, completion_tokens, estimated) =
            match (field("prompt_tokens"), field("completion_tokens")) {
                (Some(p), Some(c)) => (p, c, false),
                _ => (
                    prompt
                        .iter()
                        .map(|m| tokens::count(&m.content) as u32 + 4)
                        .sum(),
                    tokens::count(text) as u32,
                    true,
                ),
            };
        Usage {
            prompt_tokens,
            completion_tokens,
            estimated,
            cost_usd: prompt_tokens as f64 * self.settings.prompt_price_per_million / 1e6
                + completion_tokens as f64 * self.settings.completion_price_per_million / 1e6,
        }
    }

    fn request(&self, messages: &[Message], format: Option<Value>, stream: bool) -> Value {
        let mut request = json!({
            "model": self.settings.model,
            "messages": messages,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": stream,
        });
        if stream {
            request["stream_options"] = json!({"include_usage": true});
        }
        if let Some(format) = format {
            request["response_format"] = format;
        }
        request
    }

    fn error(&self, e: OpenAIError) -> LlmError {
        let endpoint = self.settings.base_url.clone();
        match e {
            // A 4xx other than a rate limit is a refusal. So is a 5xx that blames the
            // request's `response_format`: llama-cpp-python 0.3.36 answers `json_schema` with a
            // 500 carrying its validation error.
            OpenAIError::ApiError(api)
                if (api.status_code.is_client_error() && api.status_code.as_u16() != 429)
                    || (api.status_code.is_server_error()
                        && api.api_error.message.contains("response_format")) =>
            {
                LlmError::Refused {
                    endpoint,
                    reason: api.to_string(),
                }
            }
            // A 4xx whose body is not OpenAI's error object (llama.cpp's server answers a
            // request it cannot validate with FastAPI's `{"detail": …}`) surfaces as a body
            // that did not deserialize: the endpoint refused the request.
            OpenAIError::JSONDeserialize(_, body) => LlmError::Refused {
                endpoint,
                reason: body.chars().take(300).collect(),
            },
            other => LlmError::Unavailable {
                endpoint,
                reason: other.to_string(),
            },
        }
    }

    async fn call(&self, request: &Value) -> Result<(Value, bool), LlmError> {
        if let Some(recorded) = self.cassette.replay(request) {
            return Ok((recorded, true));
        }
        if self.cassette.mode() == CassetteMode::Replay {
            return Err(LlmError::NotRecorded {
                key: Cassette::key(request),
            });
        }
        let chat = self.client.chat();
        let call = chat.create_byot::<Value, Value>(request.clone());
        let response = tokio::time::timeout(self.settings.timeout, call)
            .await
            .map_err(|_| LlmError::Timeout {
                endpoint: self.settings.base_url.clone(),
                after: self.settings.timeout,
            })?
            .map_err(|e| self.error(e))?;
        if let Err(e) = self.cassette.record(request, &response) {
            tracing::warn!(error = %e, "could not record the LLM response");
        }
        Ok((response, false))
    }

    fn content(&self, response: &Value) -> Result<String, LlmError> {
        response
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
            .ok_or_else(|| LlmError::Empty {
                endpoint: self.settings.base_url.clone(),
            })
    }

    /// A plain-text completion.
    pub async fn complete_text(&self, messages: &[Message]) -> Result<Completion, LlmError> {
        self.complete(messages, None).await
    }

    /// One unstreamed call with `response_format` set to `format` (none: plain text).
    async fn complete(
        &self,
        messages: &[Message],
        format: Option<Value>,
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let request = self.request(messages, format, false);
        let (response, replayed) = self.call(&request).await?;
        let text = self.content(&response)?;
        Ok(Completion {
            usage: self.usage(response.get("usage"), messages, &text),
            text,
            mode: None,
            replayed,
            elapsed: started.elapsed(),
        })
    }

    /// A JSON completion following `schema` (named `name`), in the best structured mode the
    /// endpoint accepts. The text is returned as written: the caller parses and validates it.
    pub async fn complete_json(
        &self,
        messages: &[Message],
        name: &str,
        schema: &Value,
    ) -> Result<Completion, LlmError> {
        self.structured(messages, name, schema, None).await
    }

    /// [`LlmClient::complete_json`], streamed: `on_delta` sees the JSON text piece by piece as
    /// the model writes it (to show a field of it while it forms); the whole text is returned.
    pub async fn stream_json(
        &self,
        messages: &[Message],
        name: &str,
        schema: &Value,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        self.structured(messages, name, schema, Some(on_delta))
            .await
    }

    /// A structured completion, streamed when `on_delta` is given, in the best structured mode
    /// the endpoint accepts: a mode it refuses is remembered and the next one tried.
    async fn structured(
        &self,
        messages: &[Message],
        name: &str,
        schema: &Value,
        mut on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let mut mode = self.structured_mode();
        loop {
            let format = match mode {
                StructuredMode::JsonSchema => Some(json!({
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": false},
                })),
                StructuredMode::JsonObject => {
                    Some(json!({"type": "json_object", "schema": schema}))
                }
                StructuredMode::PromptOnly => None,
            };
            let attempt = match on_delta.as_deref_mut() {
                Some(on_delta) => {
                    let request = self.request(messages, format, true);
                    self.stream(&request, messages, on_delta).await
                }
                None => self.complete(messages, format).await,
            };
            match attempt {
                Ok(completion) => {
                    self.mode.store(mode as u8, Ordering::Relaxed);
                    return Ok(Completion {
                        mode: Some(mode),
                        elapsed: started.elapsed(),
                        ..completion
                    });
                }
                Err(LlmError::Refused { reason, .. }) if mode.next().is_some() => {
                    let next = mode.next().expect("checked");
                    tracing::info!(from = ?mode, to = ?next, %reason, "the endpoint refused this structured-output mode; trying the next");
                    mode = next;
                }
                Err(LlmError::NotRecorded { .. }) if mode.next().is_some() => {
                    // Recorded against an endpoint that settled on a later mode.
                    mode = mode.next().expect("checked");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A streamed plain-text completion: `on_delta` sees each piece as it arrives; the whole
    /// text and its usage are returned at the end.
    pub async fn stream_text(
        &self,
        messages: &[Message],
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        let request = self.request(messages, None, true);
        self.stream(&request, messages, on_delta).await
    }

    /// Send a streaming `request` (or replay it), passing each piece of content to `on_delta`.
    async fn stream(
        &self,
        request: &Value,
        messages: &[Message],
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let recorded = self.cassette.replay(request);
        if recorded.is_none() && self.cassette.mode() == CassetteMode::Replay {
            return Err(LlmError::NotRecorded {
                key: Cassette::key(request),
            });
        }
        if let Some(recorded) = recorded {
            let text = recorded["text"].as_str().unwrap_or_default().to_string();
            for piece in text.split_inclusive(' ') {
                on_delta(piece);
            }
            return Ok(Completion {
                usage: self.usage(recorded.get("usage"), messages, &text),
                text,
                mode: None,
                replayed: true,
                elapsed: started.elapsed(),
            });
        }
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let timeout = || LlmError::Timeout {
            endpoint: self.settings.base_url.clone(),
            after: self.settings.timeout,
        };
        let chat = self.client.chat();
        let mut stream = tokio::time::timeout_at(
            deadline,
            chat.create_stream_byot::<Value, Value>(request.clone()),
        )
        .await
        .map_err(|_| timeout())?
        .map_err(|e| self.error(e))?;
        let mut text = String::new();
        let mut usage = None;
        loop {
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(timeout()),
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(|e| self.error(e))?,
            };
            if let Some(delta) = chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
            {
                text.push_str(delta);
                on_delta(delta);
            }
            if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
                usage = Some(u.clone());
            }
        }
        if text.trim().is_empty() {
            return Err(LlmError::Empty {
                endpoint: self.settings.base_url.clone(),
            });
        }
        let recorded = json!({"text": text, "usage": usage});
        if let Err(e) = self.cassette.record(request, &recorded) {
            tracing::warn!(error = %e, "could not record the LLM stream");
        }
        Ok(Completion {
            usage: self.usage(usage.as_ref(), messages, &text),
            text,
            mode: None,
            replayed: false,
            elapsed: started.elapsed(),
        })
    }
}

/// The first JSON object in `text`, however the model dressed it: a code fence, a sentence
/// before it, trailing commentary. `None` when there is no parseable object.
pub fn lenient_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if v.is_object() {
            return Some(v);
        }
    }
    // Every `{` is a candidate start; the first that parses as an object wins.
    for (start, _) in trimmed.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&trimmed[start..]).into_iter::<Value>();
        if let Some(Ok(v)) = stream.next() {
            if v.is_object() {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_finds_the_object_however_it_is_dressed() {
        let want = json!({"commands": [{"type": "cancel_flow"}]});
        for text in [
            r#"{"commands": [{"type": "cancel_flow"}]}"#,
            "```json\n{\"commands\": [{\"type\": \"cancel_flow\"}]}\n```",
            "Sure! Here you go: {\"commands\": [{\"type\": \"cancel_flow\"}]} Hope that helps.",
        ] {
            assert_eq!(lenient_json(text), Some(want.clone()), "{text}");
        }
        assert_eq!(lenient_json("no json here"), None);
        assert_eq!(lenient_json("{broken"), None);
        assert_eq!(lenient_json("[1, 2]"), None);
    }

    #[test]
    fn usage_is_estimated_when_the_server_gives_none_and_priced() {
        let client = LlmClient::new(
            LlmSettings {
                prompt_price_per_million: 1.0,
                completion_price_per_million: 2.0,
                ..LlmSettings::default()
            },
            Cassette::off(),
        );
        let prompt = [Message::user("hello there")];
        let reported = client.usage(
            Some(&json!({"prompt_tokens": 1000, "completion_tokens": 500})),
            &prompt,
            "x",
        );
        assert_eq!(
            (reported.prompt_tokens, reported.completion_tokens),
            (1000, 500)
        );
        assert!(!reported.estimated);
        assert!((reported.cost_usd - 0.002).abs() < 1e-12);
        let estimated = client.usage(None, &prompt, "general kenobi");
        assert!(
            estimated.estimated && estimated.prompt_tokens > 0 && estimated.completion_tokens > 0
        );
    }
}
