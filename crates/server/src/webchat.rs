//! The web chat: an embeddable widget (`/widget.js`, demo page `/chat`), messages sent with
//! `POST /v1/webchat/messages`, replies received over server-sent events
//! (`GET /v1/webchat/events`) that resume after `Last-Event-ID`.
//!
//! A visitor is an anonymous session (a random id in the `frontline_session` cookie). The
//! shop's page may vouch for a signed-in user with `user_id` and
//! `identifier_hash = hex(HMAC-SHA256(identity_secret, user_id))`, computed on its server; a
//! verified user id joins the customer's account, so the chat continues what they started on
//! any channel. A wrong hash is refused (401).

use crate::{ApiError, AppState, ValidJson};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use frontline_channels::webchat;
use frontline_domain::{Channel, Identity, IdentityKind, InboundMessage, OutboxId, ThreadRef};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The session cookie.
pub const COOKIE: &str = "frontline_session";
/// How often an open event stream looks for new replies.
const POLL: Duration = Duration::from_millis(200);

/// `[channels.webchat]`.
pub use frontline_channels::WebchatConfig;

const WIDGET_JS: &str = include_str!("../assets/widget.js");
const DEMO_PAGE: &str = include_str!("../assets/chat.html");

/// `GET /widget.js`.
pub async fn widget() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        WIDGET_JS,
    )
        .into_response()
}

/// `GET /chat`: a demo page with the widget.
pub async fn demo_page() -> Html<&'static str> {
    Html(DEMO_PAGE)
}

/// The session id of a request's cookie, if it has a well-formed one.
fn session_of(headers: &HeaderMap) -> Option<String> {
    frontline_web::cookie(headers, COOKIE)
        .map(str::to_string)
        .filter(|v| v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The session cookie; sent cross-site when other sites embed the widget.
fn set_cookie(state: &AppState, session: &str) -> HeaderValue {
    let cross_site = state
        .channels
        .webchat
        .as_ref()
        .is_some_and(|w| w.cross_site());
    let same_site = if cross_site {
        "SameSite=None; Secure"
    } else {
        "SameSite=Lax"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={session}; Path=/; HttpOnly; {same_site}; Max-Age=31536000"
    ))
    .expect("a hex session id is a valid header value")
}

/// `GET /v1/webchat/session` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionView {
    /// The session id (also in the cookie).
    pub session: String,
}

/// `GET /v1/webchat/session`: the visitor's session, created (cookie set) when missing.
pub async fn session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match session_of(&headers) {
        Some(session) => Json(SessionView { session }).into_response(),
        None => {
            let session = webchat::new_session_id();
            let cookie = set_cookie(&state, &session);
            (
                [(header::SET_COOKIE, cookie)],
                Json(SessionView { session }),
            )
                .into_response()
        }
    }
}

/// `POST /v1/webchat/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatMessage {
    /// What the visitor wrote.
    pub text: String,
    /// The shop's user id of a signed-in visitor.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `hex(HMAC-SHA256(identity_secret, user_id))` from the shop's server.
    #[serde(default)]
    pub identifier_hash: Option<String>,
}

/// `POST /v1/webchat/messages` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct Queued {
    /// The message's id.
    pub message_id: String,
    /// The session it belongs to.
    pub session: String,
}

/// `POST /v1/webchat/messages`: queue the visitor's message (202); the reply arrives on the
/// event stream.
pub async fn post_message(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<WebchatMessage>,
) -> Result<Response, ApiError> {
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("text".to_string(), "`text` is empty"));
    }
    if text.chars().count() > crate::MAX_TEXT_CHARS {
        return Err(ApiError::invalid(
            "text".to_string(),
            format!("`text` is longer than {} characters", crate::MAX_TEXT_CHARS),
        ));
    }
    let mut also_known_as = vec![];
    if let Some(user_id) = body
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        let secret = state
            .channels
            .webchat
            .as_ref()
            .and_then(|w| w.identity_secret.as_deref())
            .ok_or_else(|| {
                ApiError::invalid(
                    "user_id".to_string(),
                    "this server verifies no user ids ([channels.webchat] identity_secret is not set)",
                )
            })?;
        let hash = body.identifier_hash.as_deref().unwrap_or_default();
        webchat::verify_identifier(secret, user_id, hash)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        also_known_as.push(Identity {
            kind: IdentityKind::AccountId,
            value: user_id.to_string(),
        });
    }
    let (session, new_cookie) = match session_of(&headers) {
        Some(s) => (s, None),
        None => {
            let s = webchat::new_session_id();
            let cookie = set_cookie(&state, &s);
            (s, Some(cookie))
        }
    };
    state.limits.sender(&format!("web_session:{session}"))?;
    let message_id = format!("{session}-{}", OutboxId::new());
    let message = InboundMessage {
        channel: Channel::WebChat,
        channel_message_id: message_id.clone(),
        sender: Identity {
            kind: IdentityKind::WebSession,
            value: session.clone(),
        },
        also_known_as,
        // The session cookie proves the session; an account id joins only with a valid hash.
        assurance: frontline_domain::Assurance::Channel,
        display_name: None,
        text: text.to_string(),
        received_at: chrono::Utc::now(),
        conversation_hint: None,
        thread: ThreadRef::default(),
    };
    let received = frontline_channels::Received::messages(vec![message]);
    if let Err(response) = crate::webhooks::accept(&state, received).await {
        return Ok(response);
    }
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Queued {
            message_id,
            session,
        }),
    )
        .into_response();
    if let Some(cookie) = new_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /v1/webchat/events`: the session's replies as server-sent events, from after
/// `Last-Event-ID` (all of them without it). Each reply is streamed as `token` events and closed
/// by a `message` event whose id is the reply's, carrying the whole, final text; a reconnecting
/// client resumes after the last `message` it saw. An answer an LLM writes is streamed as the
/// model produces it (the agent's drafts); a flow's reply, ready at once, as its words.
pub async fn events(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&headers) else {
        return ApiError::unauthorized(format!(
            "no `{COOKIE}` cookie: call GET /v1/webchat/session first"
        ))
        .into_response();
    };
    let after: Option<OutboxId> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let recipient = Identity {
        kind: IdentityKind::WebSession,
        value: session,
    };
    let live = Live {
        drafts: state.agent.drafts().subscribe(),
        state,
        recipient,
        after,
        pending: Default::default(),
        streamed: false,
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await;
        Some((Ok::<_, Infallible>(event), live))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One visitor's open event stream.
struct Live {
    state: Arc<AppState>,
    recipient: Identity,
    /// The last reply sent.
    after: Option<OutboxId>,
    drafts: tokio::sync::broadcast::Receiver<frontline_agent::drafts::Draft>,
    pending: std::collections::VecDeque<Event>,
    /// Whether the reply being written was streamed as drafts (its words are not sent again).
    streamed: bool,
}

impl Live {
    /// The next event: a draft piece as the LLM writes it, or a finished reply from the store
    /// (looked for every [`POLL`]).
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            self.look_for_replies().await;
            if !self.pending.is_empty() {
                continue;
            }
            let poll = tokio::time::Instant::now() + POLL;
            while self.pending.is_empty() {
                use tokio::sync::broadcast::error::RecvError;
                tokio::select! {
                    draft = self.drafts.recv() => match draft {
                        Ok(d) if d.recipient == self.recipient => {
                            self.streamed = true;
                            self.pending.push_back(Event::default().event("token").data(d.delta));
                        }
                        Ok(_) => {}
                        // Pieces missed; the finished reply still arrives whole.
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => tokio::time::sleep_until(poll).await,
                    },
                    _ = tokio::time::sleep_until(poll) => break,
                }
            }
        }
    }

    /// Queue the replies written since the last one sent, and mark them delivered.
    async fn look_for_replies(&mut self) {
        let store = &self.state.store;
        let entries = match store
            .outbox_for_recipient(Channel::WebChat, &self.recipient, self.after)
            .await
        {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "web chat stream: store unavailable; retrying");
                tokio::time::sleep(POLL * 5).await;
                return;
            }
        };
        for entry in entries {
            // A withdrawn survey is never shown; one not yet due waits, and what follows it
            // with it.
            if entry.failed_at.is_some() {
                self.after = Some(entry.id);
                continue;
            }
            if entry.delivered_at.is_none() && entry.next_attempt_at > chrono::Utc::now() {
                break;
            }
            // A reply that was not streamed as it was written (a flow's words) is still shown
            // piece by piece.
            if !std::mem::take(&mut self.streamed) {
                for token in tokens(&entry.message.text) {
                    self.pending
                        .push_back(Event::default().event("token").data(token));
                }
            }
            let data = if entry.message.choices.is_empty() {
                serde_json::json!({ "text": entry.message.text })
            } else {
                serde_json::json!({ "text": entry.message.text, "choices": entry.message.choices })
            };
            self.pending.push_back(
                Event::default()
                    .event("message")
                    .id(entry.id.to_string())
                    .data(data.to_string()),
            );
            if entry.delivered_at.is_none() {
                if let Err(e) = store.mark_delivered(entry.id, chrono::Utc::now()).await {
                    tracing::warn!(error = %e, "could not mark a web chat reply delivered");
                }
            }
            self.after = Some(entry.id);
        }
    }
}

/// A reply cut into the pieces a typing effect shows: words with their following space.
fn tokens(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' || c == '\n' {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_rebuild_the_text() {
        let text = "Order #W2 was delivered.\nAnything else?";
        assert_eq!(tokens(text).concat(), text);
        assert_eq!(tokens(text)[0], "Order ");
    }

    #[test]
    fn only_well_formed_session_cookies_count() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; frontline_session=0123456789abcdef0123456789abcdef"),
        );
        assert_eq!(
            session_of(&headers).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("frontline_session=../../etc"),
        );
        assert_eq!(session_of(&headers), None);
    }
}
