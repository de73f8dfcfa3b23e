//! Channel webhooks: verify → parse → queue durably → 2xx. The turn runs afterwards in the
//! intake worker, so a provider gets its answer in milliseconds and a crash after it loses
//! nothing.
//!
//! Status codes follow what providers do with them: 401 for a request that is not theirs
//! (nothing stored), 403 for a failed subscription handshake, 400 with the reason for a signed
//! payload we cannot read, 200 for everything else (unknown events are ignored, since anything
//! but 2xx is retried), 404 for a channel that is not configured.

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontline_channels::{chatwoot, email, parse_form, twilio, whatsapp, Received, WebhookError};
use serde::Serialize;
use std::sync::Arc;

/// Which channels this server accepts webhooks for, with their secrets.
pub use frontline_channels::deliver::ChannelsConfig as ChannelSettings;

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
        };
        tracing::warn!(error = %self.0, "webhook refused");
        let body = serde_json::json!({ "error": { "code": code, "message": self.0.to_string() } });
        (status, Json(body)).into_response()
    }
}

fn not_configured(channel: &str) -> Response {
    let body = serde_json::json!({ "error": {
        "code": "not_found",
        "message": format!("the {channel} channel is not configured on this server"),
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now() -> frontline_domain::Timestamp {
    chrono::Utc::now()
}

/// Queue the messages, record the receipts, wake the intake worker.
pub async fn accept(state: &AppState, received: Received) -> Result<Accepted, Response> {
    let store = state.agent.store();
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

/// Queue what a verified, parsed webhook carried; a refusal becomes its error response.
async fn queue(
    state: &AppState,
    checked: Result<Received, WebhookError>,
) -> Result<Accepted, Response> {
    match checked {
        Ok(received) => accept(state, received).await,
        Err(e) => Err(Refused(e).into_response()),
    }
}

fn respond(result: Result<Accepted, Response>) -> Response {
    match result {
        Ok(accepted) => (StatusCode::OK, Json(accepted)).into_response(),
        Err(response) => response,
    }
}

/// `POST /webhooks/twilio`: SMS and WhatsApp through Twilio. Answers an empty TwiML
/// `<Response/>`; replies go out through the REST API once the turn has run.
pub async fn twilio_inbound(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(config) = &state.channels.twilio else {
        return not_configured("twilio");
    };
    let checked = parse_form(&body).and_then(|params| {
        twilio::verify(
            &config.auth_token,
            &config.webhook_url,
            &params,
            header_str(&headers, twilio::SIGNATURE_HEADER),
        )?;
        twilio::parse(&params, &state.normalize, now())
    });
    match queue(&state, checked).await {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml")],
            twilio::twiml(&[]),
        )
            .into_response(),
        Err(response) => response,
    }
}

/// `GET /webhooks/whatsapp`: Meta's subscription handshake.
pub async fn whatsapp_handshake(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(config) = &state.channels.whatsapp else {
        return not_configured("whatsapp");
    };
    let params = match parse_form(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return Refused(e).into_response(),
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match whatsapp::verify_subscription(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
        &config.verify_token,
    ) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(e) => Refused(e).into_response(),
    }
}

/// `POST /webhooks/whatsapp`: Meta's notifications.
pub async fn whatsapp_inbound(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(config) = &state.channels.whatsapp else {
        return not_configured("whatsapp");
    };
    let checked = whatsapp::verify_signature(
        &config.app_secret,
        &body,
        header_str(&headers, whatsapp::SIGNATURE_HEADER),
    )
    .and_then(|()| whatsapp::parse(&body, &state.normalize));
    respond(queue(&state, checked).await)
}

/// `POST /webhooks/email/postmark`: Postmark inbound, authenticated by the basic auth its
/// webhook URL carries.
pub async fn postmark_inbound(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(config) = &state.channels.email else {
        return not_configured("email");
    };
    let Some(expected) = &config.postmark_basic_auth else {
        return not_configured("Postmark email");
    };
    let checked = check_basic_auth(expected, header_str(&headers, "authorization"))
        .and_then(|()| email::parse_postmark(&body, &config.identity(), &state.normalize, now()));
    respond(queue(&state, checked).await)
}

fn check_basic_auth(expected: &str, header: Option<&str>) -> Result<(), WebhookError> {
    use base64::Engine as _;
    let given = header
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .ok_or_else(|| WebhookError::Unauthorized("basic auth is missing".into()))?;
    if frontline_channels::secrets_match(expected.as_bytes(), &given) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized(
            "basic auth does not match".into(),
        ))
    }
}

/// `POST /webhooks/email/mailgun`: Mailgun's inbound route, signed with the webhook key.
pub async fn mailgun_inbound(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(config) = &state.channels.email else {
        return not_configured("email");
    };
    let Some(key) = &config.mailgun_signing_key else {
        return not_configured("Mailgun email");
    };
    // Mailgun posts `multipart/form-data` when the message has attachments (and for "store and
    // notify" forwards), else a URL-encoded form.
    let fields = match header_str(&headers, "content-type") {
        Some(c) if c.starts_with("multipart/form-data") => {
            frontline_channels::parse_multipart_form(c, body)
                .await
                .map(|(fields, files)| {
                    if files > 0 {
                        tracing::info!(
                            files,
                            "email attachments not read; the message is its text"
                        );
                    }
                    fields
                })
        }
        _ => parse_form(&body),
    };
    let checked = fields.and_then(|fields| {
        email::verify_mailgun(key, &fields, now())?;
        email::parse_mailgun(&fields, &config.identity(), &state.normalize, now())
    });
    respond(queue(&state, checked).await)
}

/// `POST /webhooks/chatwoot?token=…`: the Agent Bot's events.
pub async fn chatwoot_inbound(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(config) = &state.channels.chatwoot else {
        return not_configured("chatwoot");
    };
    let token = parse_form(query.unwrap_or_default().as_bytes())
        .ok()
        .and_then(|q| q.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v));
    let event = chatwoot::verify_token(&config.webhook_token, token.as_deref())
        .and_then(|()| chatwoot::parse(&body, &state.normalize, now()));
    let event = match event {
        Ok(e) => e,
        Err(e) => return Refused(e).into_response(),
    };
    let store_failed = |e: frontline_agent::AgentError| crate::ApiError::from(e).into_response();
    let contact = match &event {
        chatwoot::Event::HumanReply { contact, .. }
        | chatwoot::Event::ReturnedToBot { contact } => contact.clone(),
        _ => return respond(accept(&state, event.into()).await),
    };
    // A conversation frontline never took part in is the helpdesk's alone: acknowledged and
    // ignored (Chatwoot would retry an error).
    let conversation = match chatwoot_conversation(&state, &contact).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return respond(Ok(Accepted {
                ignored: vec![format!("no conversation for {contact}")],
                ..Accepted::default()
            }))
        }
        Err(response) => return response,
    };
    let result = match event {
        chatwoot::Event::HumanReply {
            author,
            text,
            private,
            ..
        } => state
            .agent
            .record_human_message(conversation, &author, &text, private)
            .await
            .map(|_| ()),
        _ => state.agent.release(conversation).await.map(|_| ()),
    };
    respond(result.map(|()| Accepted::default()).map_err(store_failed))
}

/// The latest conversation of the customer behind a Chatwoot contact, if frontline has one.
async fn chatwoot_conversation(
    state: &AppState,
    contact: &frontline_domain::Identity,
) -> Result<Option<frontline_domain::ConversationId>, Response> {
    let store = state.agent.store();
    let failed = |e: frontline_store::StoreError| crate::ApiError::from(e).into_response();
    let Some(customer) = store.identity_owner(contact).await.map_err(failed)? else {
        return Ok(None);
    };
    let conversations = store.conversations_of(customer).await.map_err(failed)?;
    Ok(conversations.first().map(|c| c.id))
}
