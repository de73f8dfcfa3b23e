//! The helpdesks' webhooks back to frontline, read as they arrive: Zendesk's signature
//! (computed here independently, with Python's hmac as the reference), Freshdesk's shared
//! secret, and what each event becomes.

use base64::Engine as _;
use frontline_channels::{HelpdeskRef, Provider, Webhook, WebhookError};
use frontline_domain::{HelpdeskChange, NormalizeOptions};
use frontline_handoff::freshdesk::FreshdeskWebhooks;
use frontline_handoff::inbound::Inbound;
use frontline_handoff::zendesk::{webhook_signature, ZendeskWebhooks};
use serde_json::json;

fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn receive(
    provider: &dyn Provider,
    headers: Vec<(&str, String)>,
    body: &[u8],
    now: &str,
) -> Result<frontline_channels::Received, WebhookError> {
    let headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    provider
        .receive(&Webhook {
            path: provider.name(),
            headers: &headers,
            query: "",
            body,
            received_at: at(now),
            normalize: &NormalizeOptions::default(),
        })
        .await
}

#[test]
fn zendesk_signature_matches_a_known_vector() {
    // python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'secret',
    //   b'2024-04-17T17:18:10Z{\"a\":1}',hashlib.sha256).digest()).decode())"
    assert_eq!(
        webhook_signature("secret", "2024-04-17T17:18:10Z", br#"{"a":1}"#),
        "8iM+oBXTtDxQEp8+cUGg3FSJztBudRDYRgQNbnwbjPs="
    );
}

#[tokio::test]
async fn zendesk_events_become_replies_solves_and_reopens_and_anything_else_is_ignored() {
    let zendesk = Inbound(ZendeskWebhooks::new("s3cret"));
    let signed = |body: &[u8], ts: &str, secret: &str| {
        vec![
            (
                "x-zendesk-webhook-signature",
                webhook_signature(secret, ts, body),
            ),
            ("x-zendesk-webhook-signature-timestamp", ts.to_string()),
        ]
    };
    let ts = "2026-12-07T10:00:00Z";
    let comment = |staff: bool, public: bool| {
        serde_json::to_vec(&json!({
            "type": "zen:event-type:ticket.comment_added", "id": "ev-1", "time": ts,
            "subject": "zen:ticket:7", "detail": { "id": "7" },
            "event": { "comment": { "id": "1", "body": "Done, refunded.", "is_public": public,
                "author": { "id": "2", "is_staff": staff, "name": "Priya" } } }
        }))
        .unwrap()
    };
    let body = comment(true, true);
    let got = receive(&zendesk, signed(&body, ts, "s3cret"), &body, ts)
        .await
        .unwrap();
    assert_eq!(got.helpdesk.len(), 1);
    let event = &got.helpdesk[0];
    assert_eq!(event.about, HelpdeskRef::Ticket("7".into()));
    assert_eq!(event.event_id.as_deref(), Some("ev-1"));
    assert_eq!(event.at, Some(at(ts)));
    assert_eq!(
        event.change,
        HelpdeskChange::PersonWrote {
            author: "Priya".into(),
            text: "Done, refunded.".into(),
            private: false
        }
    );
    // An internal comment is a private note; the requester's own comment is not a person's.
    let body = comment(true, false);
    let got = receive(&zendesk, signed(&body, ts, "s3cret"), &body, ts)
        .await
        .unwrap();
    assert!(matches!(
        got.helpdesk[0].change,
        HelpdeskChange::PersonWrote { private: true, .. }
    ));
    let body = comment(false, true);
    let got = receive(&zendesk, signed(&body, ts, "s3cret"), &body, ts)
        .await
        .unwrap();
    assert!(
        got.helpdesk.is_empty() && got.ignored[0].contains("requester"),
        "{got:?}"
    );

    let status = |current: &str, previous: &str| {
        serde_json::to_vec(&json!({
            "type": "zen:event-type:ticket.status_changed", "id": "ev-2", "time": ts,
            "subject": "zen:ticket:7", "detail": { "id": "7", "status": current },
            "event": { "current": current, "previous": previous }
        }))
        .unwrap()
    };
    for (current, previous, change) in [
        ("SOLVED", "OPEN", Some(HelpdeskChange::Solved)),
        ("closed", "pending", Some(HelpdeskChange::Solved)),
        ("OPEN", "SOLVED", Some(HelpdeskChange::Reopened)),
        ("PENDING", "OPEN", None),
    ] {
        let body = status(current, previous);
        let got = receive(&zendesk, signed(&body, ts, "s3cret"), &body, ts)
            .await
            .unwrap();
        assert_eq!(
            got.helpdesk.first().map(|e| e.change.clone()),
            change,
            "{current}"
        );
        assert_eq!(got.ignored.is_empty(), change.is_some());
    }

    // Tampered: another secret, an edited body, an old timestamp, no signature.
    let body = status("SOLVED", "OPEN");
    for (headers, body, now) in [
        (signed(&body, ts, "other"), body.clone(), ts),
        (signed(&body, ts, "s3cret"), status("SOLVED", "NEW"), ts),
        (
            signed(&body, ts, "s3cret"),
            body.clone(),
            "2026-12-07T12:00:00Z",
        ),
        (vec![], body.clone(), ts),
    ] {
        let refused = receive(&zendesk, headers, &body, now).await;
        assert!(
            matches!(refused, Err(WebhookError::Unauthorized(_))),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn freshdesk_takes_its_secret_by_header_or_basic_auth_and_reads_its_rule_payloads() {
    let freshdesk = Inbound(FreshdeskWebhooks::new("rule-secret"));
    let now = "2026-12-07T10:00:00Z";
    let basic = |secret: &str| {
        vec![(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("any:{secret}"))
            ),
        )]
    };
    let reply = serde_json::to_vec(&json!({ "freshdesk_webhook": {
        "ticket_id": 8801, "ticket_status": "Open", "ticket_agent_name": "Priya",
        "ticket_latest_public_comment": "<p>Refunded &amp; done.</p>",
        "triggered_event": "{reply_sent:sent}"
    }}))
    .unwrap();
    let got = receive(&freshdesk, basic("rule-secret"), &reply, now)
        .await
        .unwrap();
    assert_eq!(got.helpdesk.len(), 1, "{got:?}");
    assert_eq!(got.helpdesk[0].about, HelpdeskRef::Ticket("8801".into()));
    assert_eq!(
        got.helpdesk[0].change,
        HelpdeskChange::PersonWrote {
            author: "Priya".into(),
            text: "Refunded & done.".into(),
            private: false
        }
    );
    // The same body twice is the same event; a header carries the secret as well.
    let again = receive(
        &freshdesk,
        vec![("x-frontline-secret", "rule-secret".into())],
        &reply,
        now,
    )
    .await
    .unwrap();
    assert_eq!(again.helpdesk[0].event_id, got.helpdesk[0].event_id);

    let status = |status: &str| {
        serde_json::to_vec(&json!({
            "ticket_id": "8801", "ticket_status": status,
            "ticket_updated_at": "2026-12-07 09:58:00",
            "triggered_event": format!("{{status:{{from:Open,to:{status}}}}}")
        }))
        .unwrap()
    };
    let solved = receive(&freshdesk, basic("rule-secret"), &status("Resolved"), now)
        .await
        .unwrap();
    assert_eq!(solved.helpdesk[0].change, HelpdeskChange::Solved);
    assert_eq!(solved.helpdesk[0].at, Some(at("2026-12-07T09:58:00Z")));
    let reopened = receive(&freshdesk, basic("rule-secret"), &status("Open"), now)
        .await
        .unwrap();
    assert_eq!(reopened.helpdesk[0].change, HelpdeskChange::Reopened);

    for headers in [
        basic("rule-secreT"),
        vec![("x-frontline-secret", "".into())],
        vec![],
    ] {
        let refused = receive(&freshdesk, headers, &reply, now).await;
        assert!(
            matches!(refused, Err(WebhookError::Unauthorized(_))),
            "{refused:?}"
        );
    }
    let no_ticket = receive(
        &freshdesk,
        basic("rule-secret"),
        br#"{"ticket_status":"Open"}"#,
        now,
    )
    .await;
    assert!(
        matches!(no_ticket, Err(WebhookError::Malformed(_))),
        "{no_ticket:?}"
    );
}
