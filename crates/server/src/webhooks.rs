//! Channel webhooks: verify → parse → queue durably → 2xx. The turn runs afterwards in the
//! intake worker, so a provider gets its answer in milliseconds and a crash after it loses
//! nothing.
//!
//! Status codes follow what providers do with them: 401 for a request that is not theirs
//! (nothing stored), 403 for a failed subscription handshake, 400 with the reason for a signed
//! payload we cannot read, 200 for everything else (unknown events are ignored, since anything
//! but 2xx is retried), 404 for a channel that is not configured, 405 for a `GET` to a provider
//! without a subscription handshake.
//!
//! One route serves every provider: `/webhooks/{path}` finds the provider answering `path` in
//! the registry, and the provider verifies and reads the request.

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontline_agent::HelpdeskApplied;
use frontline_channels::{HelpdeskEvent, HelpdeskRef, Received, Webhook, WebhookError};
use serde::Serialize;
use std::sync::Arc;

/// Which channels this server accepts webhooks for, with their secrets.
pub use frontline_channels::ChannelsConfig as ChannelSettings;

/// A webhook answer: what was queued, what was a redelivery, what was ignored and why.
#[derive(Debug, Default, Serialize)]
pub struct Accepted {
    /// Messages queued for a turn.
    pub accepted: usize,
    /// Messages seen before (a provider redelivery): nothing changed.
    pub duplicates: usize,
    /// Delivery receipts recorded.
    pub statuses: usize,
    /// What was not acted on, and why.
    pub ignored: Vec<String>,
}

/// A refused webhook.
pub struct Refused(WebhookError);

impl From<WebhookError> for Refused {
    fn from(e: WebhookError) -> Self {
        Refused(e)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            WebhookError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            WebhookError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            WebhookError::Malformed(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            WebhookError::NoHandshake(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        };
        tracing::warn!(error = %self.0, "webhook refused");
        let body = serde_json::json!({ "error": { "code": code, "message": self.0.to_string() } });
        (status, Json(body)).into_response()
    }
}

fn not_configured(path: &str) -> Response {
    let body = serde_json::json!({ "error": {
        "code": "not_found",
        "message": format!("no channel provider answers /webhooks/{path} on this server (configure it under [channels])"),
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn now() -> frontline_domain::Timestamp {
    chrono::Utc::now()
}

/// The request as a provider sees it.
fn webhook<'a>(
    state: &'a AppState,
    path: &'a str,
    headers: &'a [(String, String)],
    query: &'a str,
    body: &'a [u8],
) -> Webhook<'a> {
    Webhook {
        path,
        headers,
        query,
        body,
        received_at: now(),
        normalize: &state.normalize,
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// `GET /webhooks/{path}`: a provider's subscription handshake (Meta's).
pub async fn handshake(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(provider) = state.providers.webhook(&path) else {
        return not_configured(&path);
    };
    let headers = header_pairs(&headers);
    let query = query.unwrap_or_default();
    match provider.handshake(&webhook(&state, &path, &headers, &query, &[])) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(e) => Refused(e).into_response(),
    }
}

/// `POST /webhooks/{path}`: verify and read the request with the provider that answers the
/// path, queue its messages, record its receipts, apply its helpdesk events, and answer as
/// the provider expects.
pub async fn inbound(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = state.providers.webhook(&path).cloned() else {
        return not_configured(&path);
    };
    let headers = header_pairs(&headers);
    let query = query.unwrap_or_default();
    let received = match provider
        .receive(&webhook(&state, &path, &headers, &query, &body))
        .await
    {
        Ok(received) => received,
        Err(e) => return Refused(e).into_response(),
    };
    let helpdesk = received.helpdesk.clone();
    let mut accepted = match accept(&state, received).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    for event in helpdesk {
        match helpdesk_event(&state, event).await {
            Ok(None) => {}
            Ok(Some(ignored)) => accepted.ignored.push(ignored),
            Err(response) => return response,
        }
    }
    match provider.acknowledgement() {
        Some(ack) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, ack.content_type)],
            ack.body,
        )
            .into_response(),
        None => (StatusCode::OK, Json(accepted)).into_response(),
    }
}

/// Apply what a helpdesk said about a conversation a person has: their message goes in the
/// log (and to the customer), a solved ticket gives the conversation back to the bot with a
/// survey, a reopened one gives it to a person again, a hand-back releases it. A contact or
/// ticket frontline does not know is the helpdesk's alone: ignored, with why; so are a
/// redelivery and a status change older than one applied.
async fn helpdesk_event(
    state: &AppState,
    event: HelpdeskEvent,
) -> Result<Option<String>, Response> {
    let failed = |e: frontline_store::StoreError| crate::ApiError::from(e).into_response();
    let conversation = match &event.about {
        HelpdeskRef::Contact(contact) => helpdesk_conversation(state, contact).await?,
        HelpdeskRef::Ticket(ticket) => state
            .store
            .conversation_of_ticket(event.helpdesk, ticket)
            .await
            .map_err(failed)?,
    };
    let Some(conversation) = conversation else {
        return Ok(Some(match &event.about {
            HelpdeskRef::Contact(contact) => format!("no conversation for {contact}"),
            HelpdeskRef::Ticket(ticket) => {
                format!(
                    "{} ticket {ticket} is not one of frontline's handoffs",
                    event.helpdesk
                )
            }
        }));
    };
    let change = event.change.as_str();
    let applied = state
        .agent
        .apply_helpdesk(
            conversation,
            event.helpdesk,
            event.event_id.as_deref(),
            event.at,
            event.change,
        )
        .await
        .map_err(|e| crate::ApiError::from(e).into_response())?;
    Ok(match applied {
        HelpdeskApplied::Applied => None,
        HelpdeskApplied::Duplicate => Some(format!("{change}: seen before (a redelivery)")),
        HelpdeskApplied::Stale => Some(format!("{change}: older than a status change applied")),
        HelpdeskApplied::Unchanged => Some(format!("{change}: the conversation was already so")),
    })
}

/// Queue the messages, record the receipts, wake the intake worker.
pub async fn accept(state: &AppState, received: Received) -> Result<Accepted, Response> {
    let store = &state.store;
    let mut out = Accepted {
        ignored: received.ignored,
        ..Accepted::default()
    };
    let unavailable = |e: frontline_store::StoreError| {
        tracing::error!(error = %e, "could not queue a webhook; the provider will retry");
        crate::ApiError::unavailable("the store is unavailable; retry shortly").into_response()
    };
    for message in &received.messages {
        if store
            .accept_inbound(message, now())
            .await
            .map_err(unavailable)?
        {
            out.accepted += 1;
        } else {
            out.duplicates += 1;
        }
    }
    for s in &received.statuses {
        store
            .record_delivery_status(
                s.channel,
                &s.provider_message_id,
                &s.status,
                s.detail.as_deref(),
                s.at,
            )
            .await
            .map_err(unavailable)?;
        out.statuses += 1;
    }
    if out.accepted > 0 {
        state.intake.notify_one();
    }
    Ok(out)
}

/// The latest conversation of the customer behind a helpdesk contact, if frontline has one.
async fn helpdesk_conversation(
    state: &AppState,
    contact: &frontline_domain::Identity,
) -> Result<Option<frontline_domain::ConversationId>, Response> {
    let store = &state.store;
    let failed = |e: frontline_store::StoreError| crate::ApiError::from(e).into_response();
    let Some(customer) = store.identity_owner(contact).await.map_err(failed)? else {
        return Ok(None);
    };
    let conversations = store.conversations_of(customer).await.map_err(failed)?;
    Ok(conversations.first().map(|c| c.id))
}
