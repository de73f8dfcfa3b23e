//! Who may call what. The management API (conversations, customers, release, people's messages,
//! knowledge search) and the trusted REST channel are behind API keys with scopes; webhooks
//! prove themselves by their provider's signature and the web chat by its session cookie and
//! identity hash, so they are not here.
//!
//! Keys are random 256-bit tokens (`fl_` + 64 hex digits), shown once when made
//! (`frontline keys new`); the configuration holds only their SHA-256 digest. A fast digest is
//! the right one for a token this long: there is nothing to brute-force, unlike a password.
//! A server configured without keys answers management calls from loopback only, so the demo
//! needs no set-up and a server bound to a public address is never open by accident.

pub use frontline_web::access::*;

use crate::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// Middleware: the request needs a key with the `admin` scope.
pub async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    require(&state.access, Scope::Admin, request, next).await
}

/// Middleware: the request needs a key with the `messages` scope.
pub async fn require_messages(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    require(&state.access, Scope::Messages, request, next).await
}
