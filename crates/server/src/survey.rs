//! `GET /survey/{conversation}/{question}/{score}?s=…`: the one-click answer links of survey
//! emails. The link's signature (an HMAC of the conversation and the question, keyed by
//! `[surveys] link_secret`) is checked before anything is read; the answer is recorded once,
//! and the page thanks the customer, asking the next question with its own links.

use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use frontline_agent::SurveyLinkAnswer;
use frontline_domain::{ConversationId, SurveyQuestion};
use serde::Deserialize;
use std::sync::Arc;

/// The link's query: its signature.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    s: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small page (inline style, no script): `body` is trusted HTML.
fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Your feedback</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d2330\">\
         {body}</body></html>"
    );
    (status, Html(html)).into_response()
}

/// Markdown links `[n](url)` as HTML anchors, one per answer.
fn links_html(line: &str) -> String {
    line.split(" · ")
        .filter_map(|part| {
            let (label, rest) = part.strip_prefix('[')?.split_once("](")?;
            let url = rest.strip_suffix(')')?;
            Some(format!(
                "<a class=\"answer\" href=\"{}\" style=\"display:inline-block;min-width:2.2rem;text-align:center;padding:.4rem;margin:.2rem;border:1px solid #2457c5;border-radius:6px;color:#2457c5;text-decoration:none\">{}</a>",
                escape(url),
                escape(label)
            ))
        })
        .collect()
}

/// `GET /survey/{conversation}/{question}/{score}`.
pub async fn answer(
    State(state): State<Arc<AppState>>,
    Path((conversation, question, score)): Path<(String, String, String)>,
    Query(query): Query<LinkQuery>,
) -> Response {
    let invalid = || {
        page(
            StatusCode::FORBIDDEN,
            "<h1>This link is not valid</h1><p>It may have been changed or cut short. Just reply to our email with a number from 1 to 5 instead.</p>",
        )
    };
    let (Ok(conversation), Ok(question)) = (
        conversation.parse::<ConversationId>(),
        question.parse::<SurveyQuestion>(),
    ) else {
        return invalid();
    };
    let Ok(score @ 1..=5) = score.parse::<u8>() else {
        return page(
            StatusCode::BAD_REQUEST,
            "<h1>That is not an answer</h1><p>Answers go from 1 to 5.</p>",
        );
    };
    let wording = state.agent.flows().wording();
    match state
        .agent
        .answer_survey_link(conversation, question, score, &query.s)
        .await
    {
        Ok(SurveyLinkAnswer::Recorded { next: Some((next, links)) }) => {
            let asked = match next {
                SurveyQuestion::Csat => "survey_csat",
                SurveyQuestion::Effort => "survey_effort",
            };
            page(
                StatusCode::OK,
                &format!(
                    "<h1>Thank you!</h1><p id=\"recorded\">We recorded your answer: {score} of 5.</p>\
                     <p id=\"next\">{}</p><p>{}</p>",
                    escape(&wording.say(asked, &[])),
                    links_html(&links)
                ),
            )
        }
        Ok(SurveyLinkAnswer::Recorded { next: None }) => page(
            StatusCode::OK,
            &format!(
                "<h1>Thank you!</h1><p id=\"recorded\">We recorded your answer: {score} of 5.</p><p>{}</p>",
                escape(&wording.say("survey_thanks", &[]))
            ),
        ),
        Ok(SurveyLinkAnswer::AlreadyAnswered) => page(
            StatusCode::OK,
            "<h1>Thank you!</h1><p id=\"already\">Your answer to this question was already recorded.</p>",
        ),
        Ok(SurveyLinkAnswer::NotAsked) => page(
            StatusCode::NOT_FOUND,
            "<h1>No question is waiting</h1><p>This survey was closed: you wrote to us again after it was sent, or it was withdrawn.</p>",
        ),
        Ok(SurveyLinkAnswer::Invalid) => invalid(),
        Err(e) => {
            tracing::error!(error = %e, "a survey answer could not be recorded");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "<h1>Sorry, something went wrong</h1><p>Your answer was not recorded; please try the link again in a minute.</p>",
            )
        }
    }
}
