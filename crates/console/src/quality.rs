//! `/console/quality`: every conversation's quality score, worst first, the distributions per
//! channel and per tier, and the knowledge gap report; and the score's criteria on a
//! conversation's own page.

use crate::graph::shorten;
use crate::pages::{fail, PageResult};
use crate::timeline::{channel_icon, channel_name};
use crate::{page, Console, Section};
use axum::extract::{Query, State};
use chrono::{Duration, Utc};
use frontline_analytics::gaps::{self, GapGroup, GapWhy};
use frontline_analytics::{ConversationFacts, QualityScore, Verdict};
use frontline_domain::Channel;
use frontline_web::ApiError;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many conversations the worst-first list shows.
const WORST: usize = 50;
/// How many gap groups the report shows.
const GAPS: usize = 30;

/// `GET /console/quality` query: the window in days and filters for the list.
#[derive(Debug, Default, Deserialize)]
pub struct QualityQuery {
    days: Option<i64>,
    channel: Option<String>,
    tier: Option<String>,
}

/// The five score buckets of a distribution: [0, .2), [.2, .4), [.4, .6), [.6, .8), [.8, 1].
fn bucket(score: f64) -> usize {
    ((score * 5.0).floor() as usize).min(4)
}

/// Conversations' scores in one group (a channel, a tier).
#[derive(Default)]
struct Distribution {
    buckets: [usize; 5],
    scores: Vec<f64>,
}

impl Distribution {
    fn add(&mut self, score: f64) {
        self.buckets[bucket(score)] += 1;
        self.scores.push(score);
    }

    fn mean(&self) -> f64 {
        self.scores.iter().sum::<f64>() / self.scores.len().max(1) as f64
    }
}

fn distribution_table(name: &str, class: &str, groups: &BTreeMap<String, Distribution>) -> Markup {
    html! {
        table class=(format!("distribution {class}")) {
            thead { tr { th { (name) } th { "conversations" } th { "mean" } th { "0–.2" } th { ".2–.4" } th { ".4–.6" } th { ".6–.8" } th { ".8–1" } } }
            tbody {
                @for (group, d) in groups {
                    @let most = d.buckets.iter().copied().max().unwrap_or(1).max(1);
                    tr data-group=(group) {
                        td { (group) }
                        td.n { (d.scores.len()) }
                        td.mean { (format!("{:.2}", d.mean())) }
                        @for (i, count) in d.buckets.iter().enumerate() {
                            td.bucket {
                                span class=(format!("bar b{i}")) style=(format!("width:{}px", 4 + 56 * count / most)) {}
                                " " (count)
                            }
                        }
                    }
                }
            }
        }
    }
}

fn score_text(q: &QualityScore) -> String {
    q.score.map_or("—".into(), |s| format!("{s:.2}"))
}

fn why_text(why: &GapWhy) -> String {
    match why {
        GapWhy::Abstained { reason } => format!("no answer: {reason}"),
        GapWhy::RatedLow { csat } => format!("answered, rated {csat}/5"),
        GapWhy::Comment { score, question } => format!("survey comment ({question} {score}/5)"),
    }
}

fn gap_report(groups: &[GapGroup]) -> Markup {
    html! {
        @if groups.is_empty() {
            p.empty { "No gaps: the help centre answered every question, and no low rating or comment came in." }
        } @else {
            ol.gaps {
                @for g in groups.iter().take(GAPS) {
                    li.gap {
                        strong.label { "“" (g.label) "”" }
                        " · " span.count { (g.entries.len()) " time(s), " (g.conversations()) " conversation(s)" }
                        ul {
                            @for e in &g.entries {
                                li {
                                    a href=(format!("/console/conversations/{}", e.conversation_id)) { (e.text) }
                                    " · " span.why { (why_text(&e.why)) }
                                    " · " (e.at.format("%m-%d %H:%M"))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/quality`.
pub async fn quality(
    State(state): State<Arc<Console>>,
    query: Result<Query<QualityQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(q) = query.map_err(|e| fail(ApiError::invalid(None::<String>, e.body_text())))?;
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(fail(ApiError::invalid(
            "days".to_string(),
            format!("`days` must be 1 to 365, not {days}"),
        )));
    }
    let channel: Option<Channel> = match q.channel.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse().map_err(|_| {
            fail(ApiError::invalid(
                "channel".to_string(),
                format!("no channel {c:?}"),
            ))
        })?),
        None => None,
    };
    let tier = q.tier.as_deref().filter(|t| !t.is_empty());
    if let Some(t) = tier {
        if !frontline_escalation::tier::TIERS.contains(&t) {
            return Err(fail(ApiError::invalid(
                "tier".to_string(),
                format!(
                    "no tier {t:?} (one of {})",
                    frontline_escalation::tier::TIERS.join(", ")
                ),
            )));
        }
    }
    let to = Utc::now() + Duration::minutes(1);
    let from = to - Duration::days(days);
    let facts = frontline_web::analytics::facts_between(&state.store, from, to)
        .await
        .map_err(fail)?;
    let window: Vec<&ConversationFacts> = facts
        .iter()
        .filter(|c| c.opened_at >= from && c.customer_messages > 0)
        .collect();
    let mut by_channel: BTreeMap<String, Distribution> = BTreeMap::new();
    let mut by_tier: BTreeMap<String, Distribution> = BTreeMap::new();
    for c in &window {
        let Some(score) = c.quality.score else {
            continue;
        };
        if let Some(ch) = c.first_channel() {
            by_channel.entry(ch.to_string()).or_default().add(score);
        }
        let tier = c.tier.clone().unwrap_or_else(|| "none".into());
        by_tier.entry(tier).or_default().add(score);
    }
    let mut worst: Vec<&&ConversationFacts> = window
        .iter()
        .filter(|c| c.quality.score.is_some())
        .filter(|c| channel.is_none_or(|ch| c.channels.contains(&ch)))
        .filter(|c| tier.is_none_or(|t| c.tier.as_deref() == Some(t)))
        .collect();
    worst.sort_by(|a, b| {
        a.quality
            .score
            .partial_cmp(&b.quality.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.last_activity_at.cmp(&a.last_activity_at))
    });
    let stored = window.iter().filter(|c| c.quality_stored).count();
    let scores: Vec<f64> = window.iter().filter_map(|c| c.quality.score).collect();
    let mean = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    let gap_groups = gaps::group(window.iter().flat_map(|c| c.gaps.clone()).collect());
    Ok(page(
        "Quality",
        Section::Quality,
        html! {
            h1 { "Quality" }
            p { "Every conversation opened in the last " (days) " days, judged by the same rubric whether the bot or a person served it: "
                "resolved (and not contacted again within a week), no question asked twice, the policy followed, answers grounded in cited articles, "
                "response times within each channel's promise, sentiment recovered, a complete handoff summary, and the survey where answered. "
                "A score is stored when the conversation resolves; one still open is judged on its log as it stands." }
            div.tiles {
                div.tile { span.figure { (window.len()) } span.name { "conversations" } }
                div.tile { span.figure { (stored) } span.name { "scored at resolution" } }
                div.tile.quality-mean { span.figure { (mean.map_or("—".to_string(), |m| format!("{m:.2}"))) } span.name { "mean quality score" } }
                div.tile { span.figure { (gap_groups.len()) } span.name { "knowledge gaps" } }
            }
            h2 { "By first channel" }
            (distribution_table("channel", "by-channel", &by_channel))
            h2 { "By tier" }
            (distribution_table("tier", "by-tier", &by_tier))
            h2 #worst { "Worst first" }
            form.filters method="get" action="/console/quality" {
                input type="hidden" name="days" value=(days);
                label { "Channel "
                    select name="channel" {
                        option value="" { "any" }
                        @for c in crate::pages::CHANNELS {
                            option value=(c.to_string()) selected[channel == Some(c)] { (channel_name(c)) }
                        }
                    }
                }
                label { "Tier "
                    select name="tier" {
                        option value="" { "any" }
                        @for t in frontline_escalation::tier::TIERS {
                            option value=(t) selected[tier == Some(t)] { (t) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if worst.is_empty() {
                p.empty { "No conversations match." }
            } @else {
                table.worst {
                    thead { tr { th { "Score" } th { "Conversation" } th { "Channels" } th { "Tier" } th { "Missed" } th { "Last activity" } } }
                    tbody {
                        @for c in worst.iter().take(WORST) {
                            tr data-conversation=(c.conversation_id) data-score=(score_text(&c.quality)) {
                                td.score { (score_text(&c.quality)) @if !c.quality_stored { " " span.provisional title="not resolved yet: judged on the log as it stands" { "open" } } }
                                td { a href=(format!("/console/conversations/{}#quality", c.conversation_id)) { (shorten(&c.conversation_id.to_string(), 13)) } }
                                td { @for ch in &c.channels { (channel_icon(*ch)) " " } }
                                td.tier { @if let Some(t) = &c.tier { (t) } }
                                td.missed { @for m in c.quality.missed() { span.criterion title=(m.reason) { (m.criterion.replace('_', " ")) } " " } }
                                td { (c.last_activity_at.format("%Y-%m-%d %H:%M")) }
                            }
                        }
                    }
                }
                p.count { (worst.len().min(WORST)) " of " (worst.len()) " shown" }
            }
            h2 #gaps { "Knowledge gaps" }
            p.hint { "Questions the help centre could not answer, questions answered in conversations rated 1–2, and what customers wrote with their survey answers, grouped by the words they share; the largest group first." }
            (gap_report(&gap_groups))
        },
    ))
}

/// The conversation page's quality section: the stored score, or the rubric on the log as it
/// stands, with each criterion's verdict and reason.
pub fn section(quality: &QualityScore, stored: bool) -> Markup {
    html! {
        section #quality.quality {
            h2 { "Quality " span.score { (score_text(quality)) }
                @if !stored { " " small.provisional { "(not resolved yet: judged on the log as it stands)" } } }
            table.rubric {
                tbody {
                    @for item in &quality.items {
                        @let verdict = match item.verdict { Verdict::Met => "met", Verdict::Missed => "missed", Verdict::NotApplicable => "n/a" };
                        tr class=(format!("verdict-{}", verdict.replace('/', ""))) {
                            td { (item.criterion.replace('_', " ")) }
                            td.verdict { (verdict) }
                            td { (item.reason) }
                        }
                    }
                }
            }
        }
    }
}
