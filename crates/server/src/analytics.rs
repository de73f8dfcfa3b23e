//! `GET /v1/analytics/kpis`: the omnichannel KPIs of the conversations opened in a window
//! ([`frontline_web::analytics`]).

pub use frontline_web::analytics::*;

use crate::{ApiError, AppState};
use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use std::sync::Arc;

/// `GET /v1/analytics/kpis?from=…&to=…`
pub async fn get_kpis(
    State(state): State<Arc<AppState>>,
    query: Result<Query<KpiQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<KpiView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(None::<String>, e.body_text()))?;
    let to = time_field("to", query.to.as_deref())?.unwrap_or_else(Utc::now);
    let from =
        time_field("from", query.from.as_deref())?.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(ApiError::invalid(
            "from".to_string(),
            "`from` must be before `to`",
        ));
    }
    let kpis = kpis_between(&state.store, from, to).await?;
    let targets = targets(&kpis);
    Ok(Json(KpiView {
        from,
        to,
        kpis,
        targets,
    }))
}
