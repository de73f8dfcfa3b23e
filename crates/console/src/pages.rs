//! The console's pages. Each handler reads what it shows (store, agent, knowledge base, eval
//! report) and renders it; nothing here decides anything the agent decides.

use crate::graph::{flow_svg, line_chart, shorten};
use crate::timeline::{channel_icon, channel_name, command_line, entry, plain, status_name};
use crate::Console;
use crate::{error_page, page, Section};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{Duration, Utc};
use frontline_domain::{
    Channel, ConversationId, ConversationStatus, CustomerId, EscalationTrigger, Event, EventKind,
};
use frontline_flows::graph::FlowGraph;
use frontline_store::ConversationFilter;
use frontline_web::{ApiError, MessageRequest};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) type PageResult = Result<Markup, PageError>;

/// A failed page: rendered as an HTML page with the error's status.
pub struct PageError(ApiError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub(crate) fn fail(e: impl Into<ApiError>) -> PageError {
    PageError(e.into())
}

/// The channels a customer writes on (the console's filters and playground offer these).
pub(crate) const CHANNELS: [Channel; 8] = [
    Channel::WebChat,
    Channel::Email,
    Channel::Sms,
    Channel::Whatsapp,
    Channel::Messenger,
    Channel::Telegram,
    Channel::Chatwoot,
    Channel::Rest,
];

/// An empty query field means "any".
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_field<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
) -> Result<Option<T>, PageError> {
    raw.map(|r| {
        r.parse().map_err(|_| {
            fail(ApiError::invalid(
                name.to_string(),
                format!("`{name}` cannot be {r:?}"),
            ))
        })
    })
    .transpose()
}

/// `GET /console` filters.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    reason: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /console`: the conversations, newest activity first.
pub async fn conversations(
    State(state): State<Arc<Console>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(q) = query.map_err(|e| fail(ApiError::invalid(None::<String>, e.body_text())))?;
    let time = |name: &str, raw: Option<&str>| {
        frontline_web::analytics::time_field(name, raw).map_err(fail)
    };
    let filter = ConversationFilter {
        status: parse_field("status", given(&q.status))?,
        channel: parse_field("channel", given(&q.channel))?,
        escalation: given(&q.reason)
            .map(|r| {
                EscalationTrigger::ALL
                    .into_iter()
                    .find(|t| t.code() == r)
                    .ok_or_else(|| {
                        fail(ApiError::invalid(
                            "reason".to_string(),
                            format!("no escalation reason {r:?}"),
                        ))
                    })
            })
            .transpose()?,
        tier: given(&q.tier)
            .map(|t| {
                frontline_escalation::tier::TIERS
                    .into_iter()
                    .find(|known| *known == t)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        fail(ApiError::invalid(
                            "tier".to_string(),
                            format!(
                                "no tier {t:?} (one of {})",
                                frontline_escalation::tier::TIERS.join(", ")
                            ),
                        ))
                    })
            })
            .transpose()?,
        language: given(&q.language)
            .map(|l| {
                frontline_language::KNOWN
                    .iter()
                    .find(|known| **known == l)
                    .map(|known| known.to_string())
                    .ok_or_else(|| {
                        fail(ApiError::invalid(
                            "language".to_string(),
                            format!(
                                "no language {l:?} (one of {})",
                                frontline_language::KNOWN.join(", ")
                            ),
                        ))
                    })
            })
            .transpose()?,
        active_from: time("from", given(&q.from))?,
        // A date given as `to` includes that whole day.
        active_to: time("to", given(&q.to))?.map(|t| {
            if given(&q.to).is_some_and(|r| r.len() == 10) {
                t + Duration::days(1)
            } else {
                t
            }
        }),
        limit: 200,
    };
    let store = &state.store;
    let rows = store.list_conversations(&filter).await.map_err(fail)?;
    let selected = |field: &Option<String>, value: &str| given(field) == Some(value);
    Ok(page(
        "Conversations",
        Section::Conversations,
        html! {
            h1 { "Conversations" }
            form.filters method="get" action="/console" {
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for s in [ConversationStatus::Bot, ConversationStatus::HandedOff, ConversationStatus::Resolved] {
                            option value=(s.to_string()) selected[selected(&q.status, &s.to_string())] { (status_name(s)) }
                        }
                    }
                }
                label { "Channel "
                    select name="channel" {
                        option value="" { "any" }
                        @for c in CHANNELS {
                            option value=(c.to_string()) selected[selected(&q.channel, &c.to_string())] { (channel_name(c)) }
                        }
                    }
                }
                label { "Escalation reason "
                    select name="reason" {
                        option value="" { "any" }
                        @for t in EscalationTrigger::ALL {
                            option value=(t.code()) selected[selected(&q.reason, t.code())] { (t.code().replace('_', " ")) }
                        }
                    }
                }
                label { "Tier "
                    select name="tier" {
                        option value="" { "any" }
                        @for t in frontline_escalation::tier::TIERS {
                            option value=(t) selected[selected(&q.tier, t)] { (t) }
                        }
                    }
                }
                label { "Language "
                    select name="language" {
                        option value="" { "any" }
                        @for l in frontline_language::KNOWN {
                            option value=(l) selected[selected(&q.language, l)] { (l) }
                        }
                    }
                }
                label { "Active from " input type="date" name="from" value=[given(&q.from)]; }
                label { "to " input type="date" name="to" value=[given(&q.to)]; }
                button type="submit" { "Filter" }
            }
            @if rows.is_empty() {
                p.empty { "No conversations match." }
            } @else {
                table.conversations {
                    thead { tr { th { "Last activity" } th { "Status" } th { "Tier" } th { "Language" } th { "Channels" } th { "Escalation" } th { "Conversation" } th { "Customer" } } }
                    tbody {
                        @for row in &rows {
                            @let c = &row.conversation;
                            tr data-conversation=(c.id) {
                                td { (c.last_activity_at.format("%Y-%m-%d %H:%M")) }
                                td { span class=(format!("status {}", c.status)) { (status_name(c.status)) } }
                                td.tier { @if let Some(t) = &row.tier { (t) } }
                                td.language { @if let Some(l) = &row.language { (l) } }
                                td { @for ch in &c.channels_seen { (channel_icon(*ch)) " " } }
                                td { @if let Some(t) = row.escalation { (t.code().replace('_', " ")) } }
                                td { a href=(format!("/console/conversations/{}", c.id)) { (shorten(&c.id.to_string(), 13)) } }
                                td { a href=(format!("/console/customers/{}", c.customer_id)) { "customer" } }
                            }
                        }
                    }
                }
                p.count { (rows.len()) " shown" @if rows.len() >= filter.limit { " (the newest " (filter.limit) "; narrow the filters to see older ones)" } }
            }
        },
    ))
}

/// `GET /console/conversations/{id}`: one timeline across channels.
pub async fn conversation(State(state): State<Arc<Console>>, Path(id): Path<String>) -> PageResult {
    let id: ConversationId = frontline_web::path_id(&id, "conversation").map_err(fail)?;
    let store = &state.store;
    let conversation = store.conversation(id).await.map_err(fail)?;
    let customer = store
        .customer(conversation.customer_id)
        .await
        .map_err(fail)?;
    let events = store.events(id).await.map_err(fail)?;
    let sentiment: Vec<(String, Option<f64>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandsUnderstood { sentiment, .. } => {
                Some((e.at.format("%H:%M").to_string(), sentiment.map(f64::from)))
            }
            _ => None,
        })
        .collect();
    let last_summary = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Escalated { summary } => Some(summary),
        _ => None,
    });
    let below = f64::from(state.agent.escalation_policy().sentiment.below);
    let (quality, quality_stored) = match frontline_analytics::quality::current(&events) {
        Some(q) => (q.clone(), true),
        None => (
            frontline_analytics::quality::judge(
                &events,
                &frontline_analytics::quality::Judging {
                    settings: state.agent.quality_settings(),
                    now: Utc::now(),
                    came_back: None,
                    team_opens: None,
                },
            ),
            false,
        ),
    };
    let last_seq = events.last().map_or(0, |e| e.seq);
    Ok(page(
        "Conversation",
        Section::Conversations,
        html! {
            h1 { "Conversation " small { (id) } }
            section.facts {
                dl {
                    dt { "Status" } dd { span class=(format!("status {}", conversation.status)) { (status_name(conversation.status)) } }
                    dt { "Channels" } dd.channels { @for ch in &conversation.channels_seen { (channel_icon(*ch)) " " } }
                    dt { "Opened" } dd { (conversation.opened_at.format("%Y-%m-%d %H:%M:%S")) }
                    dt { "Customer" } dd {
                        a href=(format!("/console/customers/{}", customer.id)) { (customer.display_name.clone().unwrap_or_else(|| "customer".into())) }
                        ul.identities { @for i in &customer.identities { li { (i.identity.to_string()) @if i.verified { " ✓" } } } }
                    }
                }
                figure {
                    figcaption { "Sentiment per customer message (dashed: the handoff threshold)" }
                    (line_chart(&sentiment, -1.0, 1.0, Some(below), "sentiment"))
                }
            }
            @if let Some(summary) = last_summary {
                section.handoff {
                    h2 { "Escalation summary, as the person received it" }
                    pre.summary-note { (frontline_escalation::render_note(summary)) }
                }
            }
            (crate::quality::section(&quality, quality_stored))
            h2 { "Timeline" }
            ol #timeline.timeline data-live=(format!("/console/conversations/{id}/live?after={last_seq}")) {
                @for e in &events { (entry(e)) }
            }
        },
    ))
}

/// `GET /console/conversations/{id}/live?after=N` query.
#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    #[serde(default)]
    after: i64,
}

/// `GET /console/conversations/{id}/live`: new timeline entries as they are logged, as
/// server-sent events whose data is the entry's HTML (`Last-Event-ID` resumes).
pub async fn live(
    State(state): State<Arc<Console>>,
    Path(id): Path<String>,
    Query(query): Query<LiveQuery>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, PageError> {
    let id: ConversationId = frontline_web::path_id(&id, "conversation").map_err(fail)?;
    state.store.conversation(id).await.map_err(fail)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = resume.unwrap_or(query.after);
    let stream = futures_util::stream::unfold((state, after), move |(state, after)| async move {
        loop {
            match state.store.events_after(id, after).await {
                Ok(events) if !events.is_empty() => {
                    let last = events.last().map_or(after, |e| e.seq);
                    let html: String = events.iter().map(|e| entry(e).into_string()).collect();
                    let event = SseEvent::default()
                        .event("entries")
                        .id(last.to_string())
                        .data(html);
                    return Some((Ok::<_, std::convert::Infallible>(event), (state, last)));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "console live timeline: reading the log failed; retrying")
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /console/customers/{id}`
pub async fn customer(State(state): State<Arc<Console>>, Path(id): Path<String>) -> PageResult {
    let id: CustomerId = frontline_web::path_id(&id, "customer").map_err(fail)?;
    let store = &state.store;
    let customer = store.customer(id).await.map_err(fail)?;
    let merges = store.merges_of(id).await.map_err(fail)?;
    let conversations = store.conversations_of(id).await.map_err(fail)?;
    Ok(page(
        "Customer",
        Section::Conversations,
        html! {
            h1 { (customer.display_name.clone().unwrap_or_else(|| "Customer".into())) " " small { (customer.id) } }
            @if let Some(survivor) = customer.merged_into {
                p.notice { "This record was merged into " a href=(format!("/console/customers/{survivor}")) { (survivor) } "." }
            }
            p { "Known since " (customer.created_at.format("%Y-%m-%d %H:%M")) }
            h2 { "Identities" }
            table.identities {
                thead { tr { th { "Kind" } th { "Value" } th { "Verified" } th { "First seen" } } }
                tbody { @for i in &customer.identities { tr {
                    td { (i.identity.kind.to_string()) } td { (i.identity.value) }
                    td { @if i.verified { "yes" } @else { "no" } } td { (i.first_seen_at.format("%Y-%m-%d %H:%M")) }
                } } }
            }
            h2 { "Merges" }
            @if merges.is_empty() { p.empty { "None." } } @else {
                table.merges {
                    thead { tr { th { "When" } th { "Kept" } th { "Merged" } th { "Why" } } }
                    tbody { @for m in &merges { tr {
                        td { (m.at.format("%Y-%m-%d %H:%M")) }
                        td { a href=(format!("/console/customers/{}", m.survivor)) { (shorten(&m.survivor.to_string(), 13)) } }
                        td { a href=(format!("/console/customers/{}", m.merged)) { (shorten(&m.merged.to_string(), 13)) } }
                        td { (m.reason) }
                    } } }
                }
            }
            h2 { "Conversations" }
            table.conversations {
                thead { tr { th { "Last activity" } th { "Status" } th { "Channels" } th { "Conversation" } } }
                tbody { @for c in &conversations { tr {
                    td { (c.last_activity_at.format("%Y-%m-%d %H:%M")) }
                    td { (status_name(c.status)) }
                    td { @for ch in &c.channels_seen { (channel_icon(*ch)) " " } }
                    td { a href=(format!("/console/conversations/{}", c.id)) { (c.id) } }
                } } }
            }
        },
    ))
}

/// The latest eval report (`report.json`), if one was written.
fn eval_report(state: &Console) -> Option<serde_json::Value> {
    let dir = state.settings.eval_report_dir.as_ref()?;
    let text = std::fs::read_to_string(dir.join("report.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The steps of `flow` the report says never ran (`None` without a report).
fn uncovered_steps(report: Option<&serde_json::Value>, flow: &str) -> Option<BTreeSet<String>> {
    let uncovered = report?.pointer("/coverage/uncovered")?.as_array()?;
    Some(
        uncovered
            .iter()
            .filter(|u| u["flow"] == flow)
            .filter_map(|u| u["step"].as_str().map(str::to_string))
            .collect(),
    )
}

/// `GET /console/flows`
pub async fn flows(State(state): State<Arc<Console>>) -> Markup {
    let report = eval_report(&state);
    // The folder as it is now: an edit that does not load yet shows its errors here.
    let problems =
        state.settings.flows_dir.as_ref().map(|dir| {
            match frontline_flows::FlowSet::load(dir, &state.agent.action_catalog()) {
                Ok(_) => vec![],
                Err(diagnostics) => diagnostics,
            }
        });
    let coverage = |id: &str| -> Option<String> {
        let per_flow = report.as_ref()?.pointer("/coverage/per_flow")?.as_array()?;
        let f = per_flow.iter().find(|f| f["flow"] == id)?;
        Some(format!("{}/{} steps", f["covered"], f["steps"]))
    };
    page(
        "Flows",
        Section::Flows,
        html! {
            h1 { "Flows" }
            @match &problems {
                Some(p) if !p.is_empty() => {
                    section.problems {
                        h2 { "The flows folder does not load" }
                        p { "The service keeps running the flows it loaded at start. Fix these and restart:" }
                        ul { @for d in p { li.diagnostic { code { (d.file.display()) ":" (d.position.line) ":" (d.position.col) } " " (d.message) } } }
                    }
                }
                Some(_) => { p.ok { "The flows folder loads without errors." } }
                None => {}
            }
            table.flows {
                thead { tr { th { "Flow" } th { "Tier" } th { "Description" } th { "Steps" } th { "Eval coverage" } th { "File" } } }
                tbody { @for f in state.agent.flows().iter() { tr {
                    td { a href=(format!("/console/flows/{}", f.spec.id)) { (f.spec.id) } }
                    td { (f.spec.tier.as_str()) }
                    td { (f.spec.description) }
                    td { (f.coverable_steps().count()) }
                    td { (coverage(&f.spec.id).unwrap_or_else(|| "no eval report".into())) }
                    td { code { (f.file.display()) } }
                } } }
            }
        },
    )
}

/// `GET /console/flows/{id}`
pub async fn flow(State(state): State<Arc<Console>>, Path(id): Path<String>) -> PageResult {
    let Some(flow) = state.agent.flows().get(&id) else {
        return Err(fail(ApiError::not_found(format!(
            "no flow `{id}` is loaded"
        ))));
    };
    let report = eval_report(&state);
    let uncovered = uncovered_steps(report.as_ref(), &id);
    let graph = FlowGraph::of(flow);
    Ok(page(
        &id,
        Section::Flows,
        html! {
            h1 { "Flow " code { (id) } }
            p { (flow.spec.description) " · " (flow.spec.tier.as_str()) " · " code { (flow.file.display()) } }
            p.legend {
                @match &uncovered {
                    Some(u) => { "Coverage from the last eval run: solid steps ran, "
                        span.uncovered-key { "dashed" } " steps never ran (" (u.len()) ")." }
                    None => { "No eval report yet (run " code { "frontline eval" } ") to overlay step coverage." }
                }
            }
            div.graph { (flow_svg(&graph, uncovered.as_ref())) }
            @if !flow.spec.examples.is_empty() {
                h2 { "Started by messages like" }
                ul { @for e in &flow.spec.examples { li { (e) } } }
            }
        },
    ))
}

/// `GET /console/knowledge?q=…&k=…`
#[derive(Debug, Default, Deserialize)]
pub struct KnowledgeQuery {
    q: Option<String>,
    k: Option<usize>,
}

/// `GET /console/knowledge`: search playground and the indexed articles.
pub async fn knowledge(
    State(state): State<Arc<Console>>,
    query: Result<Query<KnowledgeQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(q) = query.map_err(|e| fail(ApiError::invalid(None::<String>, e.body_text())))?;
    let Some(kb) = state.knowledge.as_ref() else {
        return Ok(page(
            "Knowledge",
            Section::Knowledge,
            html! { h1 { "Knowledge" } p.empty { "The knowledge base is switched off ([knowledge] enabled = false)." } },
        ));
    };
    let question = given(&q.q).map(str::to_string);
    let k = q.k.unwrap_or(5).clamp(1, 20);
    let result = match &question {
        Some(question) if question.chars().count() <= frontline_web::MAX_TEXT_CHARS => {
            Some(kb.search(question, k, &Default::default()).await)
        }
        Some(_) => {
            return Err(fail(ApiError::invalid(
                "q".to_string(),
                "the question is too long",
            )))
        }
        None => None,
    };
    let documents = kb.documents().await;
    let last = kb.last_ingest();
    Ok(page(
        "Knowledge",
        Section::Knowledge,
        html! {
            h1 { "Knowledge" }
            form.search method="get" action="/console/knowledge" {
                input type="search" name="q" value=[question.as_deref()] placeholder="Ask what a customer would ask" required;
                label { " passages " input type="number" name="k" min="1" max="20" value=(k); }
                button type="submit" { "Search" }
            }
            @match result {
                Some(Ok(found)) => {
                    section #verdict.verdict data-answer=(found.abstain.is_none()) {
                        @match &found.abstain {
                            None => { strong { "Would answer" } " — the evidence (" (format!("{:.2}", found.confidence)) ") clears the relevance gate." }
                            Some(why) => { strong { "Would abstain" } " — " (why) " (evidence " (format!("{:.2}", found.confidence)) ")" }
                        }
                    }
                    ol.passages { @for p in &found.passages { li.passage {
                        div.meta { span.score { (format!("{:.3}", p.score)) } " "
                            cite { (p.citation.title) } " · " code { (p.citation.document) "#" (p.citation.anchor) } }
                        p { (shorten(&p.text, 600)) }
                    } } }
                }
                Some(Err(e)) => { p.error { "The search failed: " (e.to_string()) } }
                None => {}
            }
            h2 { "Articles" }
            p { "Index: " (kb.backend()) " · "
                @match &last {
                    Some((at, report)) => { "last ingest " (chrono::DateTime::<Utc>::from(*at).format("%Y-%m-%d %H:%M:%S UTC")) ": " (report.to_string()) }
                    None => { "not ingested by this process" }
                }
            }
            @match documents {
                Ok(docs) => {
                    table.articles {
                        thead { tr { th { "Article" } th { "Passages" } } }
                        tbody { @for d in &docs { tr { td { code { (d.path) } } td { (d.chunks) } } } }
                    }
                    p.count { (docs.len()) " articles, " (docs.iter().map(|d| d.chunks).sum::<usize>()) " passages" }
                }
                Err(e) => { p.error { "The index could not be listed: " (e.to_string()) } }
            }
        },
    ))
}

/// The playground's session and channel.
#[derive(Debug, Default, Deserialize)]
pub struct PlaygroundQuery {
    session: Option<String>,
    channel: Option<String>,
}

/// A playground message.
#[derive(Debug, Deserialize)]
pub struct PlaygroundForm {
    session: String,
    channel: String,
    text: String,
}

/// The channels the playground can speak as.
const PLAYGROUND_CHANNELS: [Channel; 4] = [
    Channel::WebChat,
    Channel::Email,
    Channel::Sms,
    Channel::Whatsapp,
];

/// A playground session id: 12 hex digits.
fn valid_session(session: &str) -> bool {
    session.len() == 12 && session.chars().all(|c| c.is_ascii_hexdigit())
}

fn new_session() -> String {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes).expect("the OS random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The handle the playground's customer has on `channel`: every session is one made-up
/// customer with an address on each channel, so switching channel continues the conversation.
fn playground_sender(session: &str, channel: Channel) -> (frontline_domain::IdentityKind, String) {
    use frontline_domain::IdentityKind;
    let digits = u64::from_str_radix(session, 16).unwrap_or(0) % 10_000_000;
    match channel {
        Channel::Email => (IdentityKind::Email, format!("try-{session}@example.com")),
        Channel::Sms => (IdentityKind::Phone, format!("+1555{digits:07}")),
        Channel::Whatsapp => (IdentityKind::Whatsapp, format!("+1555{digits:07}")),
        _ => (IdentityKind::WebSession, format!("console-{session}")),
    }
}

/// `GET /console/try`
pub async fn playground(
    State(state): State<Arc<Console>>,
    Query(q): Query<PlaygroundQuery>,
) -> Result<Response, PageError> {
    let Some(session) = given(&q.session)
        .filter(|s| valid_session(s))
        .map(str::to_string)
    else {
        let channel = given(&q.channel).unwrap_or("web_chat");
        return Ok(Redirect::to(&format!(
            "/console/try?session={}&channel={channel}",
            new_session()
        ))
        .into_response());
    };
    let channel: Channel = parse_field("channel", given(&q.channel))?.unwrap_or(Channel::WebChat);
    let store = &state.store;
    let (kind, value) = playground_sender(&session, Channel::WebChat);
    let identity = frontline_domain::Identity { kind, value };
    let events = match store.identity_owner(&identity).await.map_err(fail)? {
        Some(customer) => match store
            .conversations_of(customer)
            .await
            .map_err(fail)?
            .first()
        {
            Some(c) => store.events(c.id).await.map_err(fail)?,
            None => vec![],
        },
        None => vec![],
    };
    let conversation = events.first().map(|e| e.conversation_id);
    let turn_start = events
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::MessageReceived { .. }));
    let latest: &[Event] = turn_start.map_or(&[], |i| &events[i..]);
    let standing = state.agent.escalation_policy().standing(&events);
    Ok(page(
        "Try it",
        Section::Try,
        html! {
            h1 { "Try it" }
            p { "Write as a customer on any channel. Each message runs the real agent: understanding, the decision engine, actions on the demo shop, the escalation policy." }
            div.playground {
                section.chat {
                    ol #transcript.transcript {
                        @for e in &events {
                            @match &e.kind {
                                EventKind::MessageReceived { .. } | EventKind::ReplySent { .. } | EventKind::HumanMessage { .. } => { (entry(e)) }
                                _ => {}
                            }
                        }
                    }
                    form #say.say method="post" action="/console/try" {
                        input type="hidden" name="session" value=(session);
                        select name="channel" aria-label="channel" {
                            @for c in PLAYGROUND_CHANNELS {
                                option value=(c.to_string()) selected[c == channel] { (channel_name(c)) }
                            }
                        }
                        input #text type="text" name="text" placeholder="Write a message" autocomplete="off" required autofocus;
                        button type="submit" { "Send" }
                    }
                    p.small { "You are " code { (playground_sender(&session, channel).1) } " on " (channel_name(channel)) "."
                        @if let Some(c) = conversation { " " a href=(format!("/console/conversations/{c}")) { "Open the conversation" } }
                        " · " a href="/console/try" { "New customer" } }
                }
                aside #decision.decision {
                    h2 { "Last turn" }
                    @if latest.is_empty() { p.empty { "Nothing yet." } }
                    @for e in latest {
                        @match &e.kind {
                            EventKind::CommandsUnderstood { commands, source, sentiment, .. } => {
                                h3 { "Understood" }
                                p { "by " code { (source) } @if let Some(s) = sentiment { " · sentiment " (format!("{s:+.2}")) } }
                                ul.commands { @for c in commands { li { code { (command_line(c)) } } } }
                            }
                            EventKind::FlowUpdated { stack, ran } => {
                                h3 { "Engine" }
                                @if !ran.is_empty() { p.ran { "ran " @for (i, s) in ran.iter().enumerate() { @if i > 0 { " → " } code { (s.flow) "/" (s.step) } } } }
                                @if stack.is_empty() { p.stack { "no flow active" } }
                                @for f in stack { p.stack { "active: " code { (f.flow_id) } " at " code { (f.step) }
                                    @if let Some(slot) = &f.requested_slot { ", waiting for " code { (slot) } }
                                    @for (k, v) in &f.slots { @if !v.is_null() { br; code { (k) } " = " (plain(v)) } } } }
                            }
                            EventKind::ActionExecuted { call, outcome } => {
                                p.action { "action " code { (call.name) } " → " @match outcome { Ok(_) => { "ok" } Err(e) => { "failed: " (e.to_string()) } } }
                            }
                            EventKind::KnowledgeConsulted { answered, confidence, .. } => {
                                h3 { "Knowledge" }
                                p { @if *answered { "answered" } @else { "abstained" } " (evidence " (format!("{confidence:.2}")) ")" }
                            }
                            EventKind::FlowEnded { flow_id, outcome, .. } => { p { "flow " code { (flow_id) } " ended " strong { (outcome) } } }
                            EventKind::StatusChanged { to, .. } => { p.status { "conversation " strong { (status_name(*to)) } } }
                            EventKind::Escalated { summary } => { p.escalated { "handed off: " strong { (summary.trigger.code()) } " — " (summary.reason) } }
                            _ => {}
                        }
                    }
                    h2 { "Escalation policy" }
                    table.standing {
                        thead { tr { th { "Signal" } th { "Now" } th { "Limit" } th {} } }
                        tbody { @for g in &standing { tr class=(if g.reached { "reached" } else if g.enabled { "" } else { "off" }) {
                            td { (g.what) } td { (format!("{:.2}", g.value).trim_end_matches('0').trim_end_matches('.')) }
                            td { (format!("{:.2}", g.limit).trim_end_matches('0').trim_end_matches('.')) }
                            td { @if !g.enabled { "off" } @else if g.reached { "reached" } }
                        } } }
                    }
                }
            }
        },
    )
    .into_response())
}

/// `POST /console/try`: run one message through the agent as the session's customer.
pub async fn playground_say(
    State(state): State<Arc<Console>>,
    Form(form): Form<PlaygroundForm>,
) -> Response {
    if !valid_session(&form.session) {
        return fail(ApiError::invalid(
            "session".to_string(),
            "the playground session is not valid; open /console/try again",
        ))
        .into_response();
    }
    let channel: Channel = match form.channel.parse() {
        Ok(c) if PLAYGROUND_CHANNELS.contains(&c) => c,
        _ => {
            return fail(ApiError::invalid(
                "channel".to_string(),
                format!("the playground cannot write on {:?}", form.channel),
            ))
            .into_response()
        }
    };
    let (kind, value) = playground_sender(&form.session, channel);
    // The web session ties the session's handles together (not the email address, which the
    // shop would take as the customer's account and try to authenticate with).
    let (tie_kind, tie) = playground_sender(&form.session, Channel::WebChat);
    let request = MessageRequest {
        channel,
        channel_message_id: format!("console-{}-{}", form.session, new_session()),
        sender: frontline_web::IdentityRequest { kind, value },
        also_known_as: if channel == Channel::WebChat {
            vec![]
        } else {
            vec![frontline_web::IdentityRequest {
                kind: tie_kind,
                value: tie,
            }]
        },
        // The playground speaks as a signed-in tester, as the REST channel does.
        assurance: frontline_domain::Assurance::Channel,
        display_name: Some("Console tester".into()),
        text: form.text,
    };
    let message = match request.into_inbound(&state.normalize) {
        Ok(m) => m,
        Err(e) => return fail(e).into_response(),
    };
    if let Err(e) = state.agent.handle(message).await {
        return fail(e).into_response();
    }
    Redirect::to(&format!(
        "/console/try?session={}&channel={channel}",
        form.session
    ))
    .into_response()
}

/// `GET /console/kpis`: the KPIs day by day over the last 14 days, and the latest eval run.
pub async fn kpis(State(state): State<Arc<Console>>) -> PageResult {
    const DAYS: i64 = 14;
    let store = &state.store;
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let from = today - Duration::days(DAYS - 1);
    let to = today + Duration::days(1);
    let facts = frontline_web::analytics::facts_between(store, from, to)
        .await
        .map_err(fail)?;
    let window = frontline_analytics::kpis(&facts, from, to);
    let days: Vec<(String, frontline_analytics::Kpis)> = (0..DAYS)
        .map(|d| {
            let start = from + Duration::days(d);
            (
                start.format("%m-%d").to_string(),
                frontline_analytics::kpis(&facts, start, start + Duration::days(1)),
            )
        })
        .collect();
    let series =
        |f: &dyn Fn(&frontline_analytics::Kpis) -> Option<f64>| -> Vec<(String, Option<f64>)> {
            days.iter().map(|(d, k)| (d.clone(), f(k))).collect()
        };
    let max_conversations = days
        .iter()
        .map(|(_, k)| k.conversations)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.0}%", v * 100.0));
    let report = eval_report(&state);
    Ok(page(
        "KPIs & evals",
        Section::Kpis,
        html! {
            h1 { "KPIs" }
            p { "Conversations opened in the last " (DAYS) " days (" (window.conversations) " in all)." }
            div.tiles {
                div.tile { span.figure { (window.conversations) } span.name { "conversations" } }
                div.tile { span.figure { (pct(window.first_contact_resolution)) } span.name { "first-contact resolution" } }
                div.tile { span.figure { (pct(window.cross_channel_resolution_rate)) } span.name { "cross-channel resolution" } }
                div.tile { span.figure { (pct(window.escalation_rate)) } span.name { "escalation rate" } }
                div.tile { span.figure { (pct(window.context_transfer_completeness)) } span.name { "context transfer" } }
                div.tile { span.figure { (pct(window.channel_switch_rate)) } span.name { "channel switches" } }
                div.tile.csat { span.figure { (pct(window.csat)) } span.name { "CSAT (" (window.csat_responses) " answers)" } }
                div.tile.ces { span.figure { (window.ces.map_or("—".to_string(), |c| format!("{c:.1}"))) } span.name { "CES (target < 2.5)" } }
                div.tile.csat-gap { span.figure { (window.csat_channel_switch_gap.map_or("—".to_string(), |g| format!("{g:+.0} pts"))) } span.name { "channel-switch CSAT gap (target ≤ 5)" } }
            }
            div.charts {
                figure { figcaption { "Conversations per day" } (line_chart(&series(&|k: &frontline_analytics::Kpis| Some(k.conversations as f64)), 0.0, max_conversations, None, "count")) }
                figure { figcaption { "First-contact resolution" } (line_chart(&series(&|k: &frontline_analytics::Kpis| k.first_contact_resolution), 0.0, 1.0, None, "rate")) }
                figure { figcaption { "Escalation rate" } (line_chart(&series(&|k: &frontline_analytics::Kpis| k.escalation_rate), 0.0, 1.0, None, "rate")) }
                figure { figcaption { "Mean quality score" } (line_chart(&series(&|k: &frontline_analytics::Kpis| k.quality_mean), 0.0, 1.0, None, "rate")) }
            }
            h2 { "Escalations by reason" }
            table { tbody { @for (reason, share) in &window.escalation_rate_by_reason { tr { td { (reason.replace('_', " ")) } td { (pct(Some(*share))) } } } } }
            h2 { "Automation by first channel" }
            table { tbody { @for (channel, share) in &window.automation_rate_by_channel { tr { td { (channel) } td { (pct(Some(*share))) } } } } }
            h2 { "Automation by tier" }
            p.hint { "Each conversation at the most demanding tier it reached (emotional, complex, transactional, informational)." }
            table.by-tier { tbody { @for (tier, share) in &window.automation_rate_by_tier { tr { td { (tier) } td { (pct(Some(*share))) } } } } }
            h1 #evals { "Latest eval run" }
            @match &report {
                Some(r) => {
                    p.eval-summary { "Mode " code { (plain(&r["mode"])) } ": " (plain(&r["passed"])) " of " (plain(&r["cases"])) " cases passed ("
                        (pct(r["pass_rate"].as_f64())) "); step coverage " (pct(r.pointer("/coverage/steps").and_then(|v| v.as_f64()))) "." }
                    iframe.report src="/console/evals/report.html" title="eval report" {}
                }
                None => { p.empty { "No eval report yet: run " code { "frontline eval" } " (it writes " code { "data/eval-report" } ")." } }
            }
        },
    ))
}

/// `GET /console/evals/report.html`: the latest eval run's own report.
pub async fn eval_report_page(State(state): State<Arc<Console>>) -> Response {
    let html = state
        .settings
        .eval_report_dir
        .as_ref()
        .and_then(|dir| std::fs::read_to_string(dir.join("report.html")).ok());
    match html {
        Some(html) => axum::response::Html(html).into_response(),
        None => fail(ApiError::not_found(
            "no eval report yet: run `frontline eval`",
        ))
        .into_response(),
    }
}

/// Names used by tests of the playground's identities.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playground_customer_has_one_handle_per_channel_and_sessions_are_checked() {
        let s = "00000000abcd";
        assert!(valid_session(s));
        assert!(!valid_session("../../etc"));
        assert_eq!(
            playground_sender(s, Channel::Email).1,
            "try-00000000abcd@example.com"
        );
        assert_eq!(
            playground_sender(s, Channel::Sms).1,
            format!("+1555{:07}", 0xabcd)
        );
        assert_eq!(
            playground_sender(s, Channel::Sms).1,
            playground_sender(s, Channel::Whatsapp).1
        );
        assert_eq!(new_session().len(), 12);
    }
}
