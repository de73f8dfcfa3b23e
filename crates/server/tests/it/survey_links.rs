//! One-click survey answers in email: the survey email carries five signed links per question
//! (plain and HTML parts), a click records the answer once and the page asks the next question
//! with its own links, and a tampered or cut link is refused with nothing recorded.

use crate::common::*;
use frontline_agent::{Agent, ChannelSurvey, EscalationSettings, SurveySettings};
use frontline_domain::{Channel, EventKind, SurveyQuestion};
use frontline_store::testing::sqlite;
use serde_json::json;

const PUBLIC: &str = "https://support.shop.example";

fn agent_with_links(agent: Agent) -> Agent {
    let mut surveys = SurveySettings::default();
    surveys.channels.insert(
        Channel::Email,
        ChannelSurvey {
            enabled: true,
            delay_seconds: 0,
        },
    );
    surveys.link_secret = Some("survey-link-secret-for-tests".into());
    agent
        .with_surveys(surveys)
        .with_escalation(EscalationSettings {
            public_url: PUBLIC.into(),
            ..EscalationSettings::default()
        })
}

/// The `[n](url)` link answering with `n` in `text`, as a path on this server.
fn link(text: &str, n: u8) -> String {
    let marker = format!("[{n}]({PUBLIC}");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no link {n} in {text}"))
        + marker.len();
    let end = start + text[start..].find(')').unwrap();
    text[start..end].to_string()
}

#[tokio::test]
async fn a_click_in_the_survey_email_records_the_answer_once_and_asks_the_next_question() {
    let server = server_with(sqlite().await, agent_with_links, |_| vec![]).await;
    let body = json!({
        "channel": "email", "channel_message_id": "<q1@mail.example>",
        "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"},
        "text": "Where is my order #W0000002?"
    });
    let (status, reply) = server
        .post(
            "/v1/messages",
            &[("content-type", "application/json".into())],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let survey = server
        .replies()
        .await
        .into_iter()
        .find(|m| m.survey == Some(SurveyQuestion::Csat))
        .expect("the survey email is queued");
    assert!(survey.text.contains("Click your answer"), "{}", survey.text);
    // The email's two parts: each number a link in HTML, its address written out in plain text.
    let us = frontline_channels::email::EmailIdentity {
        address: "support@shop.example".into(),
        display_name: "Shop support".into(),
        reply_domain: "shop.example".into(),
    };
    let email = frontline_channels::email::reply(&us, &survey, frontline_domain::OutboxId::new());
    let path4 = link(&survey.text, 4);
    assert!(
        email
            .html
            .contains(&format!("href=\"{PUBLIC}{}\"", path4.replace('&', "&amp;"))),
        "{}",
        email.html
    );
    assert!(
        email.body.contains(&format!("{PUBLIC}{path4}")),
        "{}",
        email.body
    );
    let conversation = survey.conversation_id;
    let answers = || async {
        server
            .db
            .store
            .events(conversation)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::SurveyAnswered {
                    question,
                    score,
                    channel,
                    ..
                } => Some((question, score, channel)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let get = |path: String| {
        let url = format!("{}{path}", server.base);
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // Tampered: one character of the signature changed; cut: half of it; another question's
    // path with this one's signature. Each refused, nothing recorded.
    let flipped = {
        let mut p = path4.clone();
        let last = p.pop().unwrap();
        p.push(if last == '0' { '1' } else { '0' });
        p
    };
    let cut = path4[..path4.len() - 16].to_string();
    let other_question = path4.replace("/csat/", "/effort/");
    for bad in [flipped, cut, other_question] {
        let (status, page) = get(bad.clone()).await;
        assert_eq!(status, 403, "{bad}: {page}");
        assert!(page.contains("not valid"), "{page}");
    }
    assert_eq!(get(path4.replace("/4?", "/9?")).await.0, 400);
    assert!(answers().await.is_empty());

    // The click: recorded, and the page asks the effort question with its own links.
    let (status, page) = get(path4.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("We recorded your answer: 4 of 5"), "{page}");
    assert!(page.contains("how easy"), "{page}");
    assert_eq!(answers().await, [(SurveyQuestion::Csat, 4, Channel::Email)]);
    let effort_2 = {
        let at = page
            .find(&format!(
                "href=\"{PUBLIC}/survey/{conversation}/effort/2?s="
            ))
            .unwrap_or_else(|| panic!("no effort link on {page}"))
            + "href=\"".len()
            + PUBLIC.len();
        page[at..at + page[at..].find('"').unwrap()].to_string()
    };
    // A second click (or a mail scanner's), or another score for the same question, changes
    // nothing.
    for again in [path4.clone(), path4.replace("/4?", "/5?")] {
        let (status, page) = get(again).await;
        assert_eq!(status, 200);
        assert!(page.contains("already recorded"), "{page}");
    }
    assert_eq!(answers().await.len(), 1);

    // The effort link from the page.
    let (status, page) = get(effort_2).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("We recorded your answer: 2 of 5"), "{page}");
    assert_eq!(
        answers().await,
        [
            (SurveyQuestion::Csat, 4, Channel::Email),
            (SurveyQuestion::Effort, 2, Channel::Email)
        ]
    );
    // The quality score was stored again with the answers.
    let scored = server
        .db
        .store
        .events(conversation)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::QualityScored { occasion, .. } if occasion == "survey_answered"))
        .count();
    assert_eq!(scored, 2);
    server.db.cleanup().await;
}
