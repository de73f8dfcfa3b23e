//! The omnichannel KPIs of the conversations opened in a window, computed from their event
//! logs (`frontline_analytics`), and the window's fields as requests give them.

use crate::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use frontline_analytics::{facts, kpis, Kpis, REPEAT_CONTACT_DAYS};
pub use frontline_analytics::{targets, TargetStatus};
use frontline_domain::Timestamp;
use frontline_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The KPIs of the conversations opened in `[from, to)`, reading the customers' conversations
/// opened up to 7 days later too, so repeat contacts are seen.
pub async fn kpis_between(
    store: &Store,
    from: Timestamp,
    to: Timestamp,
) -> Result<Kpis, StoreError> {
    Ok(kpis(&facts_between(store, from, to).await?, from, to))
}

/// The facts of the conversations opened in `[from, to)`, and of those opened up to 7 days
/// later (so repeat contacts are seen): what [`kpis`] needs for any window inside `[from, to)`.
pub async fn facts_between(
    store: &Store,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<frontline_analytics::ConversationFacts>, StoreError> {
    let horizon = to + chrono::Duration::days(REPEAT_CONTACT_DAYS);
    let mut all = vec![];
    for conversation in store.conversations_opened(from, horizon).await? {
        let events = store.events(conversation.id).await?;
        all.push(facts(&conversation, &events));
    }
    Ok(all)
}

/// Read a time as RFC 3339 (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`, midnight UTC).
pub fn parse_time(raw: &str) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// `GET /v1/analytics/kpis` query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// Start of the window (inclusive); default 30 days before `to`.
    pub from: Option<String>,
    /// End of the window (exclusive); default now.
    pub to: Option<String>,
}

/// `GET /v1/analytics/kpis` response.
#[derive(Debug, Serialize)]
pub struct KpiView {
    /// The window's start.
    pub from: Timestamp,
    /// The window's end.
    pub to: Timestamp,
    /// The figures.
    #[serde(flatten)]
    pub kpis: Kpis,
    /// The seed targets beside them.
    pub targets: Vec<TargetStatus>,
}

/// An optional time parameter, or a 400 naming it.
pub fn time_field(name: &str, raw: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    raw.map(|raw| {
        parse_time(raw).ok_or_else(|| {
            ApiError::invalid(
                name.to_string(),
                format!("`{name}` must be a date (2026-11-01) or an RFC 3339 time, not {raw:?}"),
            )
        })
    })
    .transpose()
}
