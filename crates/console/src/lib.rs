//! The console for CX teams, served by `frontline serve` itself under `/console`: server-rendered
//! HTML (maud, escaped by construction), one small stylesheet and one small script, no CDN and
//! no build step.
//!
//! Every console route needs the `admin` scope, like the management API. A browser signs in at
//! `/console/login` with an admin key; the key is then kept in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/console` and checked on every request exactly as a bearer key is (so
//! revoking the key in the configuration signs the browser out, and any replica accepts it).
//! A `Bearer`/`X-Api-Key` header works too. With no keys configured, the console answers loopback
//! clients only, as the management API does.
//!
//! | route | page |
//! |---|---|
//! | `/console` | conversations, filterable by status, channel, escalation reason and date |
//! | `/console/conversations/{id}` | one conversation's cross-channel timeline, live over SSE (`…/live`) |
//! | `/console/customers/{id}` | a customer's identities, merges and conversations |
//! | `/console/flows`, `/console/flows/{id}` | the flows, each drawn as a graph with eval coverage, and the folder's validation errors |
//! | `/console/knowledge` | search playground and the indexed articles |
//! | `/console/try` | chat as any channel; each reply beside the commands, the engine's decision and the escalation policy's standing |
//! | `/console/quality` | every conversation's quality score worst first (filter by channel, tier), the distributions per channel and per tier, the knowledge gap report |
//! | `/console/kpis` | the omnichannel KPIs over time and the latest eval report (`/console/evals/report.html`) |

mod graph;
mod pages;
mod quality;
mod timeline;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use frontline_agent::Agent;
use frontline_domain::NormalizeOptions;
use frontline_knowledge::KnowledgeBase;
use frontline_store::Store;
use frontline_web::access::{presented_key, Access, Scope};
use frontline_web::cookie;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What the console reads: the running agent (its flows, policy and turns, for the
/// playground), the store, the knowledge base, and who may sign in.
pub struct Console {
    /// The agent the playground talks to, and whose flows and policy are shown.
    pub agent: Arc<Agent>,
    /// Where conversations, customers and KPIs are read.
    pub store: Store,
    /// The knowledge base searched on the knowledge page, when one is configured.
    pub knowledge: Option<Arc<KnowledgeBase>>,
    /// How the playground's handles are normalised.
    pub normalize: NormalizeOptions,
    /// The keys that may sign in (the `admin` scope).
    pub access: Access,
    /// Where the console finds what the running agent does not hold.
    pub settings: ConsoleSettings,
}

/// Where the console finds what the running agent does not hold.
#[derive(Clone, Debug, Default)]
pub struct ConsoleSettings {
    /// The flows folder, re-validated on the flows page (edits not yet loaded show their errors).
    pub flows_dir: Option<PathBuf>,
    /// The folder `frontline eval` writes `report.json` and `report.html` to.
    pub eval_report_dir: Option<PathBuf>,
}

/// The cookie holding a signed-in browser's key.
const COOKIE: &str = "frontline_console";
/// How long a sign-in lasts (seconds).
const SIGN_IN_SECONDS: u32 = 12 * 3600;

const STYLE: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");

/// The console's routes, on `console` (merged into the application router).
pub fn router(console: Arc<Console>) -> Router {
    let state = console.clone();
    use axum::middleware::from_fn_with_state;
    let signed_in = Router::new()
        .route("/console", get(pages::conversations))
        .route("/console/", get(pages::conversations))
        .route("/console/conversations/{id}", get(pages::conversation))
        .route("/console/conversations/{id}/live", get(pages::live))
        .route("/console/customers/{id}", get(pages::customer))
        .route("/console/flows", get(pages::flows))
        .route("/console/flows/{id}", get(pages::flow))
        .route("/console/knowledge", get(pages::knowledge))
        .route(
            "/console/try",
            get(pages::playground).post(pages::playground_say),
        )
        .route("/console/kpis", get(pages::kpis))
        .route("/console/quality", get(quality::quality))
        .route("/console/evals/report.html", get(pages::eval_report_page))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .route("/console/logout", post(sign_out))
        .route_layer(from_fn_with_state(state, require_sign_in));
    Router::new()
        .route("/console/login", get(sign_in_page).post(sign_in))
        .merge(signed_in)
        .with_state(console)
}

/// The key a console request presents: the sign-in cookie, or an API key header.
fn console_key(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE).or_else(|| presented_key(headers))
}

fn peer_of(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Middleware: a console page needs an admin key. Browsers asking for a page are sent to sign
/// in (with the 401 status, so nothing is served by mistake); anything else gets the reason.
async fn require_sign_in(
    State(state): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = peer_of(&request);
    match state
        .access
        .check_key(console_key(request.headers()), peer, Scope::Admin)
    {
        Ok(key) => {
            tracing::debug!(%key, path = %request.uri().path(), "console");
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(peer = ?peer, path = %request.uri().path(), "console refused: {}", e.message());
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            if request.method() == Method::GET {
                let wanted = request.uri().path().to_string();
                (status, sign_in_form(Some(e.message()), &wanted)).into_response()
            } else {
                (status, e.message().to_string()).into_response()
            }
        }
    }
}

/// `GET /console/login`
async fn sign_in_page(axum::extract::Query(query): axum::extract::Query<SignInQuery>) -> Markup {
    sign_in_form(None, query.next.as_deref().unwrap_or("/console"))
}

#[derive(serde::Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(serde::Deserialize)]
struct SignInForm {
    key: String,
    #[serde(default)]
    next: String,
}

/// `POST /console/login`: check the key, keep it in the cookie, go where the user was going.
async fn sign_in(State(state): State<Arc<Console>>, request: Request) -> Response {
    use axum::extract::FromRequest;
    let peer = peer_of(&request);
    let form = match Form::<SignInForm>::from_request(request, &()).await {
        Ok(Form(form)) => form,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let key = form.key.trim();
    // Only keys that can be a cookie value (the ones `frontline keys new` makes are `fl_` + hex).
    let well_formed = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let checked = if well_formed {
        state.access.check_key(Some(key), peer, Scope::Admin)
    } else {
        Err(frontline_web::ApiError::unauthorized(
            "the API key is not valid",
        ))
    };
    match checked {
        Ok(name) => {
            tracing::info!(key = %name, "console sign-in");
            let next = safe_next(&form.next);
            let cookie = format!(
                "{COOKIE}={key}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SIGN_IN_SECONDS}"
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
        }
        Err(e) => {
            tracing::info!(peer = ?peer, "console sign-in refused: {}", e.message());
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            (status, sign_in_form(Some(e.message()), &form.next)).into_response()
        }
    }
}

/// Only a console path may follow a sign-in (no open redirect).
fn safe_next(next: &str) -> &str {
    if next.starts_with("/console") && !next.contains("//") && !next.contains('\\') {
        next
    } else {
        "/console"
    }
}

/// `POST /console/logout`
async fn sign_out() -> Response {
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/login"),
    )
        .into_response()
}

fn sign_in_form(error: Option<&str>, next: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · frontline console" }
                style { (PreEscaped(STYLE)) }
            }
            body.signin {
                form.card method="post" action="/console/login" {
                    h1 { "frontline console" }
                    p { "Sign in with an API key that has the " code { "admin" } " scope (make one with " code { "frontline keys new" } ")." }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="current-password" required autofocus;
                    input type="hidden" name="next" value=(safe_next(next));
                    button type="submit" { "Sign in" }
                }
            }
        }
    }
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

/// The console's sections, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Conversations,
    Flows,
    Knowledge,
    Try,
    Kpis,
    Quality,
}

/// A whole page: navigation, then `body`.
fn page(title: &str, section: Section, body: Markup) -> Markup {
    let link = |href: &str, label: &str, this: Section| {
        html! { a href=(href) aria-current=[(section == this).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · frontline console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { "frontline" }
                    nav {
                        (link("/console", "Conversations", Section::Conversations))
                        (link("/console/flows", "Flows", Section::Flows))
                        (link("/console/knowledge", "Knowledge", Section::Knowledge))
                        (link("/console/try", "Try it", Section::Try))
                        (link("/console/quality", "Quality", Section::Quality))
                        (link("/console/kpis", "KPIs & evals", Section::Kpis))
                    }
                    form.signout method="post" action="/console/logout" {
                        button type="submit" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page saying what went wrong, with the status it deserves.
fn error_page(error: frontline_web::ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = page(
        "Error",
        Section::Conversations,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("error")) }
            p.error { (error.message()) }
        },
    );
    (status, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; frontline_console=fl_abc; b=2".parse().unwrap(),
        );
        assert_eq!(console_key(&headers), Some("fl_abc"));
    }

    #[test]
    fn only_console_paths_follow_a_sign_in() {
        assert_eq!(safe_next("/console/flows"), "/console/flows");
        assert_eq!(safe_next("https://evil.example/"), "/console");
        assert_eq!(safe_next("/console//evil.example"), "/console");
        assert_eq!(safe_next("/v1/customers/x"), "/console");
    }
}
