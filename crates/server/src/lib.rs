//! frontline's HTTP surface. Handlers are thin: they parse and validate, hand a typed message
//! to the agent, and render its outcome; cross-cutting concerns (tracing, body limits) are tower
//! layers. The agent knows nothing of HTTP.
//!
//! Routes marked *messages* or *admin* need an API key with that scope ([`access`]); with no
//! keys configured they answer loopback clients only.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/messages` (*messages*) | the generic REST channel: one customer message in, the agent's replies out |
//! | `GET /v1/conversations/{id}` (*admin*) | a conversation with its whole cross-channel event log |
//! | `POST /v1/conversations/{id}/release`, `…/human-messages` (*admin*) | give it back to the bot; record a person's message |
//! | `GET /v1/customers/{id}` (*admin*) | a customer, their identities and conversations |
//! | `GET /v1/knowledge/search?q=…&k=…&locale=…&tags=a,b` (*admin*) | passages with scores and citations, and the relevance gate's verdict |
//! | `GET /chat`, `GET /widget.js` | the web chat demo page and the embeddable widget |
//! | `GET /v1/webchat/session`, `POST /v1/webchat/messages`, `GET /v1/webchat/events` | the web chat: session cookie, messages in, replies out as server-sent events (`Last-Event-ID` resume) |
//! | `POST /webhooks/twilio` | Twilio SMS and WhatsApp (form, `X-Twilio-Signature`) |
//! | `GET`/`POST /webhooks/whatsapp` | Meta WhatsApp Cloud API: handshake, notifications (`X-Hub-Signature-256`) |
//! | `POST /webhooks/email/postmark` | Postmark inbound email (basic auth) |
//! | `POST /webhooks/email/mailgun` | Mailgun inbound email (signed form) |
//! | `POST /webhooks/chatwoot?token=…` | Chatwoot Agent Bot events |
//! | `GET /v1/analytics/kpis?from=…&to=…` (*admin*) | the omnichannel KPIs of the conversations opened in the window, and their quality scores |
//! | `GET /metrics` (*admin*) | Prometheus metrics: turn latency by channel and path, LLM calls, tokens and errors, retrieval latency, escalations by reason, inbox duplicates, backlogs |
//! | `/console/…` (*admin*, or the console's sign-in cookie) | the console for CX teams ([`console`]) |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the store answers |

pub mod access;
pub mod analytics;
pub mod delivery;
pub mod limit;
pub mod survey;
pub mod webchat;
pub mod webhooks;
pub mod workers;

pub use frontline_console as console;
pub use frontline_web::{
    path_id, ApiError, IdentityRequest, MessageRequest, ValidJson, MAX_TEXT_CHARS,
};
pub use webhooks::ChannelSettings;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use frontline_agent::{Agent, TurnOutcome};
use frontline_domain::{
    Conversation, ConversationId, ConversationStatus, Customer, CustomerId, Event, NormalizeOptions,
};
use frontline_knowledge::{KnowledgeBase, SearchFilter, SearchResult};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What handlers share.
pub struct AppState {
    /// The agent every channel feeds.
    pub agent: Arc<Agent>,
    /// The store the agent writes to, read by the management API, the web chat and the console.
    pub store: frontline_store::Store,
    /// How identities are normalised (default country code for phone numbers).
    pub normalize: NormalizeOptions,
    /// The shared knowledge base, when one is configured.
    pub knowledge: Option<Arc<KnowledgeBase>>,
    /// The channels' settings (the web chat's are read here).
    pub channels: ChannelSettings,
    /// The channel providers whose webhooks this server accepts.
    pub providers: Arc<frontline_channels::Registry>,
    /// Woken when a webhook queued a message (the intake worker waits on it).
    pub intake: Arc<tokio::sync::Notify>,
    /// Who may call the management API and the REST channel.
    pub access: access::Access,
    /// Rate limits per client address and per sender.
    pub limits: limit::RateLimits,
    /// What the console reads besides the agent (flows folder, eval report).
    pub console: console::ConsoleSettings,
}

/// The application's routes and layers.
pub fn router(state: Arc<AppState>) -> Router {
    use axum::middleware::from_fn_with_state;
    let admin = Router::new()
        .route("/v1/conversations/{id}", get(get_conversation))
        .route("/v1/conversations/{id}/release", post(release_conversation))
        .route(
            "/v1/conversations/{id}/human-messages",
            post(post_human_message),
        )
        .route("/v1/customers/{id}", get(get_customer))
        .route("/v1/knowledge/search", get(search_knowledge))
        .route("/metrics", get(metrics))
        .route("/v1/analytics/kpis", get(analytics::get_kpis))
        .route_layer(from_fn_with_state(state.clone(), access::require_admin));
    let messages = Router::new()
        .route("/v1/messages", post(post_message))
        .route_layer(from_fn_with_state(state.clone(), access::require_messages));
    let public = Router::new()
        .route("/widget.js", get(webchat::widget))
        .route("/chat", get(webchat::demo_page))
        .route("/v1/webchat/session", get(webchat::session))
        .route("/v1/webchat/messages", post(webchat::post_message))
        .route("/v1/webchat/events", get(webchat::events))
        .route(
            "/survey/{conversation}/{question}/{score}",
            get(survey::answer),
        )
        .route_layer(from_fn_with_state(state.clone(), limit::per_ip))
        .layer(widget_cors(&state));
    Router::new()
        .merge(admin)
        .merge(messages)
        .merge(public)
        .route(
            "/webhooks/{*path}",
            get(webhooks::handshake).post(webhooks::inbound),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state.clone())
        .merge(console::router(Arc::new(console::Console {
            agent: state.agent.clone(),
            store: state.store.clone(),
            knowledge: state.knowledge.clone(),
            normalize: state.normalize.clone(),
            access: state.access.clone(),
            settings: state.console.clone(),
        })))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}

/// CORS for the web chat routes: the configured sites that embed the widget, with credentials
/// (the session cookie); no other origin gets CORS headers, and no other route gets any.
fn widget_cors(state: &AppState) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = state
        .channels
        .webchat
        .iter()
        .flat_map(|w| &w.allowed_origins)
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .allow_credentials(true)
}

/// Serve `router` on `listener` until `shutdown` resolves, then finish requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address reaches handlers and middleware (loopback-only access without keys).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn post_message(
    State(state): State<Arc<AppState>>,
    ValidJson(request): ValidJson<MessageRequest>,
) -> Result<Json<TurnOutcome>, ApiError> {
    let message = request.into_inbound(&state.normalize)?;
    state.limits.sender(&message.sender.to_string())?;
    Ok(Json(state.agent.handle(message).await?))
}

/// `GET /v1/knowledge/search` query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSearchQuery {
    /// The question.
    pub q: Option<String>,
    /// How many passages (1 to 50, default 5).
    pub k: Option<usize>,
    /// Only passages of this locale.
    pub locale: Option<String>,
    /// Only passages with one of these comma-separated tags.
    pub tags: Option<String>,
}

/// `GET /v1/knowledge/search` response.
#[derive(Debug, Serialize)]
pub struct KnowledgeSearchView {
    /// The question searched.
    pub query: String,
    /// Passages with their scores and citations, best first, and the gate's verdict.
    #[serde(flatten)]
    pub result: SearchResult,
}

async fn search_knowledge(
    State(state): State<Arc<AppState>>,
    query: Result<
        axum::extract::Query<KnowledgeSearchQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<KnowledgeSearchView>, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError::invalid(None::<String>, e.body_text()))?;
    let q = query.q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err(ApiError::invalid(
            "q".to_string(),
            "`q` (the question) is required",
        ));
    }
    if q.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid(
            "q".to_string(),
            format!("`q` is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    let k = query.k.unwrap_or(5);
    if !(1..=50).contains(&k) {
        return Err(ApiError::invalid(
            "k".to_string(),
            "`k` must be between 1 and 50",
        ));
    }
    let knowledge = state
        .knowledge
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("no knowledge base is configured on this server"))?;
    let filter = SearchFilter {
        locale: query.locale.filter(|l| !l.trim().is_empty()),
        tags: query
            .tags
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
    };
    let result = knowledge.search(&q, k, &filter).await.map_err(|e| {
        tracing::error!(error = %e, "knowledge search failed");
        ApiError::unavailable("the knowledge base is unavailable; retry shortly")
    })?;
    Ok(Json(KnowledgeSearchView { query: q, result }))
}

/// `GET /v1/conversations/{id}` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation header.
    pub conversation: Conversation,
    /// Its whole log, every channel, in order.
    pub events: Vec<Event>,
}

async fn get_conversation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, ApiError> {
    let id: ConversationId = path_id(&id, "conversation")?;
    let store = &state.store;
    let conversation = store.conversation(id).await?;
    let events = store.events(id).await?;
    Ok(Json(ConversationView {
        conversation,
        events,
    }))
}

/// `POST /v1/conversations/{id}/release` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReleaseView {
    /// Who had the conversation before.
    pub previous: ConversationStatus,
    /// Who has it now.
    pub status: ConversationStatus,
}

async fn release_conversation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ReleaseView>, ApiError> {
    let id: ConversationId = path_id(&id, "conversation")?;
    let previous = state.agent.release(id).await?;
    let status = state.store.conversation(id).await?.status;
    Ok(Json(ReleaseView { previous, status }))
}

/// `POST /v1/conversations/{id}/human-messages` body: what a human agent wrote.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanMessageRequest {
    /// The agent's name or id.
    pub author: String,
    /// The text.
    pub text: String,
    /// A private note (not sent to the customer).
    #[serde(default)]
    pub private: bool,
}

async fn post_human_message(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ValidJson(request): ValidJson<HumanMessageRequest>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    let id: ConversationId = path_id(&id, "conversation")?;
    if request.author.trim().is_empty() {
        return Err(ApiError::invalid("author".to_string(), "author is empty"));
    }
    if request.text.trim().is_empty() {
        return Err(ApiError::invalid("text".to_string(), "text is empty"));
    }
    // 404 for an unknown conversation, before anything is written.
    state.store.conversation(id).await?;
    let event = state
        .agent
        .record_human_message(id, request.author.trim(), &request.text, request.private)
        .await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// `GET /v1/customers/{id}` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerView {
    /// The customer with every identity.
    pub customer: Customer,
    /// Their conversations, newest activity first.
    pub conversations: Vec<Conversation>,
}

async fn get_customer(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<CustomerView>, ApiError> {
    let id: CustomerId = path_id(&id, "customer")?;
    let store = &state.store;
    let customer = store.customer(id).await?;
    let conversations = store.conversations_of(id).await?;
    Ok(Json(CustomerView {
        customer,
        conversations,
    }))
}

/// `GET /metrics`: the agent's metrics and the store's backlogs, in Prometheus' text format.
async fn metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let store = &state.store;
    let (outbox, inbound, handoffs) = (
        store.outbox_backlog().await?,
        store.inbound_backlog().await?,
        store.handoff_backlog().await?,
    );
    let metrics = state.agent.metrics();
    metrics.set_backlogs(outbox, inbound, handoffs);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    ))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(
    State(state): State<Arc<AppState>>,
) -> Result<&'static str, (StatusCode, &'static str)> {
    match state.store.ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            Err((StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))
        }
    }
}
