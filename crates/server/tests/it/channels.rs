//! Channel webhooks over a real loopback socket, on every store backend: each provider's wire
//! format and signature (with tampered copies), the durable queue, the turn that follows, and
//! the reply waiting in the outbox with what its channel needs to thread it.

use crate::common;

use base64::Engine as _;
use common::*;
use frontline_channels::twilio;
use frontline_domain::Channel;
use hmac::Mac;
use serde_json::{json, Value};

#[tokio::test]
async fn twilio_sms_is_verified_queued_answered_once_and_tampering_is_refused() {
    for s in servers().await {
        let url = format!("{}/webhooks/twilio", s.base);
        let (fields, body) = form(&[
            ("MessageSid", "SM100"),
            ("AccountSid", "AC123"),
            ("From", "+14155550123"),
            ("To", "+18005550000"),
            ("Body", "where is my order #W0000002"),
            ("NumMedia", "0"),
        ]);
        let signature = twilio::signature(TWILIO_TOKEN, &url, &fields);
        let headers = [
            ("content-type", FORM.to_string()),
            ("x-twilio-signature", signature.clone()),
        ];

        // Tampered body, same signature: 401 and nothing queued.
        let tampered = String::from_utf8(body.clone())
            .unwrap()
            .replace("W0000002", "W0000003");
        let (status, text) = s
            .post("/webhooks/twilio", &headers, tampered.into_bytes())
            .await;
        assert_eq!(status, 401, "{}: {text}", s.db.label);
        assert_eq!(s.backlog().await, 0);
        let (status, _) = s
            .post("/webhooks/twilio", &headers[..1], body.clone())
            .await;
        assert_eq!(status, 401, "no signature");

        let (status, text) = s.post("/webhooks/twilio", &headers, body.clone()).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("<Response></Response>"), "{text}");
        // Twilio retries: the same MessageSid is queued once.
        let (status, _) = s.post("/webhooks/twilio", &headers, body).await;
        assert_eq!(status, 200);
        assert_eq!(s.backlog().await, 1);

        assert_eq!(s.run_turns().await, 1);
        assert_eq!(s.backlog().await, 0);
        let replies = s.replies().await;
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0].channel, Channel::Sms);
        assert_eq!(replies[0].recipient.to_string(), "phone:+14155550123");
        assert_eq!(replies[0].thread.via.as_deref(), Some("+18005550000"));
        assert!(replies[0].text.contains("W0000002"), "{}", replies[0].text);

        // Signed but unreadable: 400 with the reason.
        let (fields, body) = form(&[("From", "+14155550123"), ("Body", "hi")]);
        let headers = [
            ("content-type", FORM.to_string()),
            (
                "x-twilio-signature",
                twilio::signature(TWILIO_TOKEN, &url, &fields),
            ),
        ];
        let (status, text) = s.post("/webhooks/twilio", &headers, body).await;
        assert_eq!(status, 400);
        assert!(text.contains("MessageSid"), "{text}");
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn whatsapp_cloud_api_handshake_messages_and_receipts() {
    for s in servers().await {
        let get = |query: &str| {
            let url = format!("{}/webhooks/whatsapp?{query}", s.base);
            let http = s.http.clone();
            async move {
                let r = http.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        assert_eq!(
            get("hub.mode=subscribe&hub.verify_token=meta-verify&hub.challenge=8675309").await,
            (200, "8675309".to_string())
        );
        assert_eq!(
            get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")
                .await
                .0,
            403
        );

        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550001111", "phone_number_id": "1065" },
                "contacts": [{ "profile": { "name": "Ada" }, "wa_id": "14155550123" }],
                "messages": [{ "from": "14155550123", "id": "wamid.1", "timestamp": "1763800000",
                               "type": "text", "text": { "body": "where is my order #W0000002" } }],
                "statuses": [{ "id": "wamid.OUT", "status": "delivered", "timestamp": "1763800001",
                               "recipient_id": "14155550123" }]
            } }] }]
        })
        .to_string()
        .into_bytes();
        let mut tampered = body.clone();
        let at = tampered.iter().position(|b| *b == b'W').unwrap();
        tampered[at] = b'X';
        let headers = [
            ("content-type", "application/json".to_string()),
            ("x-hub-signature-256", meta_signature(&body)),
        ];
        let (status, _) = s.post("/webhooks/whatsapp", &headers, tampered).await;
        assert_eq!(status, 401, "{}", s.db.label);
        assert_eq!(s.backlog().await, 0);

        let (status, text) = s.post("/webhooks/whatsapp", &headers, body).await;
        assert_eq!(status, 200, "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (answer["accepted"].as_u64(), answer["statuses"].as_u64()),
            (Some(1), Some(1))
        );
        let receipts =
            s.db.store
                .delivery_statuses(Channel::Whatsapp, "wamid.OUT")
                .await
                .unwrap();
        assert_eq!(receipts[0].0, "delivered");

        assert_eq!(s.run_turns().await, 1);
        let replies = s.replies().await;
        assert_eq!(replies[0].channel, Channel::Whatsapp);
        assert_eq!(replies[0].thread.via.as_deref(), Some("1065"));

        // A signed notification that is not JSON: 400.
        let junk = b"not json".to_vec();
        let headers = [("x-hub-signature-256", meta_signature(&junk))];
        assert_eq!(s.post("/webhooks/whatsapp", &headers, junk).await.0, 400);
        s.db.cleanup().await;
    }
}

/// Mailgun's signature = hex HMAC-SHA256(signing key, timestamp + token). This vector was
/// computed with Python's `hmac` module, an implementation independent of ours:
/// `hmac.new(b"mailgun-signing-key", b"1763800000" + b"e5a0d1c0ffee", hashlib.sha256).hexdigest()`.
const MAILGUN_VECTOR: (&str, &str, &str) = (
    "1763800000",
    "e5a0d1c0ffee",
    "cc0e5b82caad9d871e745a8d20c385cd57c7ff1cd6049e3aa0924c6524337a88",
);

#[tokio::test]
async fn email_threads_by_reply_address_and_ignores_auto_replies() {
    for s in servers().await {
        // Postmark, basic auth.
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("postmark:inbound-pass")
        );
        let postmark = |message_id: &str, to: &str, extra_headers: Value| {
            let mut headers = vec![
                json!({ "Name": "Message-ID", "Value": message_id }),
                json!({ "Name": "Received-SPF", "Value": "Pass (sender SPF authorized) identity=mailfrom" }),
            ];
            headers.extend(extra_headers.as_array().cloned().unwrap_or_default());
            json!({
                "FromFull": { "Email": "Ada.Lovelace1000@example.com", "Name": "Ada Lovelace" },
                "ToFull": [{ "Email": to, "Name": "" }],
                "Subject": "My order",
                "MessageID": "pm-1",
                "TextBody": "where is my order #W0000002\n\nOn Mon, Shop wrote:\n> earlier",
                "StrippedTextReply": "",
                "Headers": headers,
                "Date": "Sat, 22 Nov 2026 10:00:00 +0000"
            })
            .to_string()
            .into_bytes()
        };
        let headers = [
            ("content-type", "application/json".to_string()),
            ("authorization", auth.clone()),
        ];
        let wrong = [(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("postmark:guess")
            ),
        )];
        let first = postmark("<m1@mail.example.com>", "support@shop.example", json!([]));
        assert_eq!(
            s.post("/webhooks/email/postmark", &wrong, first.clone())
                .await
                .0,
            401
        );
        let (status, text) = s.post("/webhooks/email/postmark", &headers, first).await;
        assert_eq!(status, 200, "{}: {text}", s.db.label);
        assert_eq!(s.run_turns().await, 1);
        let reply = s.replies().await.remove(0);
        assert_eq!(reply.channel, Channel::Email);
        assert_eq!(reply.recipient.value, "ada.lovelace1000@example.com");
        assert_eq!(reply.thread.subject.as_deref(), Some("My order"));
        assert_eq!(reply.in_reply_to.as_deref(), Some("<m1@mail.example.com>"));

        // An out-of-office reply is acknowledged and not answered.
        let ooo = postmark(
            "<ooo@mail.example.com>",
            "support@shop.example",
            json!([{ "Name": "Auto-Submitted", "Value": "auto-replied" }]),
        );
        let (status, text) = s.post("/webhooks/email/postmark", &headers, ooo).await;
        assert_eq!(status, 200);
        assert!(text.contains("auto-submitted"), "{text}");
        assert_eq!(s.backlog().await, 0);

        // Mailgun, signed, replying to our reply+<conversation>@ address: it threads into the
        // same conversation.
        let conversation = reply.conversation_id;
        let now = chrono::Utc::now().timestamp().to_string();
        let sign = |ts: &str, tok: &str| {
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
            mac.update(format!("{ts}{tok}").as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        let reply_to = format!("reply+{conversation}@shop.example");
        let fields_from = |from: &str, id: &str, ts: &str, signature: &str| {
            form(&[
                ("recipient", reply_to.as_str()),
                ("sender", from),
                ("from", &format!("Ada <{from}>")),
                ("subject", "Re: My order"),
                ("body-plain", "Thanks, and can I return it?\n> quoted"),
                ("stripped-text", ""),
                ("Message-Id", id),
                ("In-Reply-To", "<frontline.x@shop.example>"),
                // Mailgun's verdicts: her domain authorised the mail, so `From` is hers.
                ("X-Mailgun-Spf", "Pass"),
                ("X-Mailgun-Dkim-Check-Result", "Pass"),
                ("timestamp", ts),
                ("token", "tok-1"),
                ("signature", signature),
            ])
            .1
        };
        let fields = |ts: &str, signature: &str| {
            fields_from(
                "ada.lovelace1000@example.com",
                "<m2@mail.example.org>",
                ts,
                signature,
            )
        };
        let form_headers = [("content-type", FORM.to_string())];
        let stale = (chrono::Utc::now().timestamp() - 3600).to_string();
        let (status, text) = s
            .post(
                "/webhooks/email/mailgun",
                &form_headers,
                fields(&stale, &sign(&stale, "tok-1")),
            )
            .await;
        assert_eq!(status, 401, "a stale timestamp is a replay: {text}");
        let (status, _) = s
            .post(
                "/webhooks/email/mailgun",
                &form_headers,
                fields(&now, &sign(&now, "tok-2")),
            )
            .await;
        assert_eq!(status, 401, "signature over another token");
        let (status, text) = s
            .post(
                "/webhooks/email/mailgun",
                &form_headers,
                fields(&now, &sign(&now, "tok-1")),
            )
            .await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(s.run_turns().await, 1);
        let events = s.db.store.events(conversation).await.unwrap();
        let texts: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.kind {
                frontline_domain::EventKind::MessageReceived { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts,
            [
                "where is my order #W0000002",
                "Thanks, and can I return it?"
            ],
            "the second email joined the first one's conversation, quote stripped"
        );
        // The reply address is no key to someone else's conversation: a stranger writing to it
        // gets a conversation of their own.
        let (status, _) = s
            .post(
                "/webhooks/email/mailgun",
                &form_headers,
                fields_from(
                    "mallory@example.net",
                    "<m3@example.net>",
                    &now,
                    &sign(&now, "tok-1"),
                ),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(s.run_turns().await, 1);
        assert_eq!(
            s.db.store.events(conversation).await.unwrap().len(),
            events.len()
        );
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn mailgun_signature_matches_an_independent_vector_and_not_a_tampered_one() {
    let (timestamp, token, signature) = MAILGUN_VECTOR;
    let fields: Vec<(String, String)> = [
        ("timestamp", timestamp),
        ("token", token),
        ("signature", signature),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let at = chrono::DateTime::from_timestamp(timestamp.parse().unwrap(), 0).unwrap();
    assert_eq!(
        frontline_channels::email::verify_mailgun(MAILGUN_KEY, &fields, at),
        Ok(())
    );
    let mut tampered = fields.clone();
    tampered[1].1.push('0');
    assert!(frontline_channels::email::verify_mailgun(MAILGUN_KEY, &tampered, at).is_err());
}

#[tokio::test]
async fn chatwoot_agent_bot_answers_only_its_own_conversations() {
    for s in servers().await {
        let event = |id: u64, kind: &str, status: &str| {
            json!({
                "event": "message_created", "id": id, "content": "where is my order #W0000002",
                "message_type": kind, "private": false,
                "sender": { "id": 17, "name": "Ada", "type": if kind == "incoming" { "contact" } else { "agent_bot" } },
                "account": { "id": 3 }, "inbox": { "id": 5 },
                "conversation": { "id": 42, "status": status, "meta": { "sender": {
                    "id": 17, "name": "Ada", "email": "ada.lovelace1000@example.com", "type": "contact" } } }
            })
            .to_string()
            .into_bytes()
        };
        let json_headers = [("content-type", "application/json".to_string())];
        assert_eq!(
            s.post(
                "/webhooks/chatwoot?token=guess",
                &json_headers,
                event(1, "incoming", "pending")
            )
            .await
            .0,
            401
        );
        let (status, text) = s
            .post(
                "/webhooks/chatwoot?token=cw-token",
                &json_headers,
                event(2, "outgoing", "pending"),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            text.contains("agent_bot"),
            "no loop on our own message: {text}"
        );
        let (status, _) = s
            .post(
                "/webhooks/chatwoot?token=cw-token",
                &json_headers,
                event(3, "incoming", "open"),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            s.backlog().await,
            0,
            "{}: a person has an open conversation",
            s.db.label
        );
        let (status, text) = s
            .post(
                "/webhooks/chatwoot?token=cw-token",
                &json_headers,
                event(4, "incoming", "pending"),
            )
            .await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(s.run_turns().await, 1);
        let reply = s.replies().await.remove(0);
        assert_eq!(reply.channel, Channel::Chatwoot);
        assert_eq!(reply.thread.provider_thread.as_deref(), Some("3:42"));
        // An unknown event type is acknowledged and ignored.
        let other = json!({ "event": "webwidget_triggered", "account": { "id": 3 } }).to_string();
        let (status, text) = s
            .post(
                "/webhooks/chatwoot?token=cw-token",
                &json_headers,
                other.into_bytes(),
            )
            .await;
        assert_eq!((status, text.contains("webwidget_triggered")), (200, true));
        s.db.cleanup().await;
    }
}

/// Read server-sent events until `count` `message` events arrived; returns the raw text.
async fn read_messages(response: reqwest::Response, count: usize) -> String {
    let mut response = response;
    let mut text = String::new();
    let deadline = std::time::Duration::from_secs(20);
    tokio::time::timeout(deadline, async {
        while text.matches("event: message").count() < count {
            match response.chunk().await.unwrap() {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                None => break,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {count} message events in time: {text}"));
    text
}

/// The ids of the `message` events in a stream's text.
fn message_ids(stream: &str) -> Vec<String> {
    stream
        .split("\n\n")
        .filter(|block| block.contains("event: message"))
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("id: ")))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn web_chat_streams_replies_resumes_after_the_last_event_and_checks_signed_ids() {
    for s in servers().await {
        let session = s
            .http
            .get(format!("{}/v1/webchat/session", s.base))
            .send()
            .await
            .unwrap();
        let cookie = session.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        let cookie = cookie.split(';').next().unwrap().to_string();
        let post = |body: Value| {
            let (http, url, cookie) = (
                s.http.clone(),
                format!("{}/v1/webchat/messages", s.base),
                cookie.clone(),
            );
            async move {
                let r = http
                    .post(url)
                    .header("cookie", cookie)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        // A forged sign-in is refused and queues nothing.
        let (status, text) =
            post(json!({ "text": "hi", "user_id": "ada_lovelace_1000", "identifier_hash": "00" }))
                .await;
        assert_eq!(status, 401, "{}: {text}", s.db.label);
        assert_eq!(s.backlog().await, 0);
        // Signed by the shop's server: the visitor is Ada.
        let hash = frontline_channels::webchat::identifier_hash(WIDGET_SECRET, "ada_lovelace_1000");
        let (status, text) = post(json!({
            "text": "where is my order #W0000002", "user_id": "ada_lovelace_1000", "identifier_hash": hash
        }))
        .await;
        assert_eq!(status, 202, "{text}");
        assert_eq!(s.run_turns().await, 1);

        let events = |last: Option<String>| {
            let mut request = s
                .http
                .get(format!("{}/v1/webchat/events", s.base))
                .header("cookie", cookie.clone());
            if let Some(id) = last {
                request = request.header("last-event-id", id);
            }
            request.send()
        };
        let first = events(None).await.unwrap();
        assert_eq!(first.headers()["content-type"], "text/event-stream");
        let stream = read_messages(first, 1).await;
        assert!(stream.contains("event: token"), "{stream}");
        assert!(stream.contains("W0000002"), "{stream}");
        let first_id = message_ids(&stream)[0].clone();

        // The customer is Ada: her account id joined this session.
        let ada =
            s.db.store
                .identity_owner(&frontline_domain::Identity {
                    kind: frontline_domain::IdentityKind::AccountId,
                    value: "ada_lovelace_1000".into(),
                })
                .await
                .unwrap();
        assert!(ada.is_some());

        let (status, _) = post(json!({ "text": "thanks!" })).await;
        assert_eq!(status, 202);
        assert_eq!(s.run_turns().await, 1);
        // Reconnecting after the first reply gets only the second.
        let resumed = read_messages(events(Some(first_id.clone())).await.unwrap(), 1).await;
        let ids = message_ids(&resumed);
        assert_eq!(ids.len(), 1, "{resumed}");
        assert_ne!(ids[0], first_id);
        // Without a session cookie there is no stream.
        let anonymous = s
            .http
            .get(format!("{}/v1/webchat/events", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        s.db.cleanup().await;
    }
}

/// Mailgun posts `multipart/form-data` when a message has attachments. Build one as Mailgun
/// does: text fields, then a file part.
fn mailgun_multipart(fields: &[(&str, &str)], boundary: &str) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"receipt.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4 not really\r\n--{boundary}--\r\n"
    ));
    body.into_bytes()
}

#[tokio::test]
async fn mailgun_multipart_posts_with_attachments_are_read_and_still_verified() {
    let s = sqlite_server().await;
    let now = chrono::Utc::now().timestamp().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
    mac.update(format!("{now}tok-mp").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let fields = |signature: &str| {
        mailgun_multipart(
            &[
                ("recipient", "support@shop.example"),
                ("sender", "ada.lovelace1000@example.com"),
                ("from", "Ada <ada.lovelace1000@example.com>"),
                ("subject", "Receipt attached"),
                ("body-plain", "where is my order #W0000002"),
                ("Message-Id", "<mp1@mail.example.org>"),
                // Mailgun's own verdicts on the message it received.
                ("X-Mailgun-Spf", "Pass"),
                ("X-Mailgun-Dkim-Check-Result", "Pass"),
                ("timestamp", &now),
                ("token", "tok-mp"),
                ("signature", signature),
            ],
            "----mailgun-b0undary",
        )
    };
    let headers = [(
        "content-type",
        "multipart/form-data; boundary=----mailgun-b0undary".to_string(),
    )];
    let mut tampered = signature.clone();
    tampered.replace_range(0..1, if signature.starts_with('0') { "1" } else { "0" });
    let (status, text) = s
        .post("/webhooks/email/mailgun", &headers, fields(&tampered))
        .await;
    assert_eq!(
        status, 401,
        "a tampered signature in a multipart post: {text}"
    );
    assert_eq!(s.backlog().await, 0);

    let (status, text) = s
        .post("/webhooks/email/mailgun", &headers, fields(&signature))
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(s.run_turns().await, 1);
    let reply = s.replies().await.remove(0);
    assert_eq!(reply.channel, Channel::Email);
    assert_eq!(reply.recipient.value, "ada.lovelace1000@example.com");
    assert_eq!(reply.in_reply_to.as_deref(), Some("<mp1@mail.example.org>"));
    assert!(reply.text.contains("W0000002"), "{}", reply.text);

    // A multipart post cut short is refused with the reason, not half-read.
    let mut cut = fields(&signature);
    cut.truncate(cut.len() / 2);
    let (status, text) = s.post("/webhooks/email/mailgun", &headers, cut).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("multipart"), "{text}");
    s.db.cleanup().await;
}

#[tokio::test]
async fn chatwoot_human_replies_are_recorded_and_pending_returns_the_conversation_to_the_bot() {
    for s in servers().await {
        let json_headers = [("content-type", "application/json".to_string())];
        let contact = json!({ "id": 17, "name": "Ada", "email": "ada.lovelace1000@example.com", "type": "contact" });
        let customer_says = |id: u64, text: &str, status: &str| {
            json!({
                "event": "message_created", "id": id, "content": text,
                "message_type": "incoming", "private": false,
                "sender": { "id": 17, "name": "Ada", "type": "contact" },
                "account": { "id": 3 }, "inbox": { "id": 5 },
                "conversation": { "id": 42, "status": status, "meta": { "sender": contact } }
            })
            .to_string()
            .into_bytes()
        };
        let post = |body: Vec<u8>| s.post("/webhooks/chatwoot?token=cw-token", &json_headers, body);

        // A human reply about a contact frontline never talked to is acknowledged, not an error
        // (Chatwoot would retry it).
        let stranger = json!({
            "event": "message_created", "id": 90, "content": "Hi, this is Sam",
            "message_type": "outgoing", "private": false,
            "sender": { "id": 2, "name": "Sam", "type": "user" }, "account": { "id": 3 },
            "conversation": { "id": 77, "status": "open", "meta": { "sender": {
                "id": 99, "email": "nobody@example.org", "type": "contact" } } }
        });
        let (status, text) = post(stranger.to_string().into_bytes()).await;
        assert_eq!(status, 200, "{}: {text}", s.db.label);
        assert!(text.contains("no conversation"), "{text}");

        // The customer asks for a person: the bot hands off.
        let (status, _) = post(customer_says(1, "I want to talk to a human", "pending")).await;
        assert_eq!(status, 200);
        assert_eq!(s.run_turns().await, 1);
        let conversation =
            s.db.store
                .conversations_of(
                    s.db.store
                        .identity_owner(&frontline_domain::Identity {
                            kind: frontline_domain::IdentityKind::ChatwootContact,
                            value: "3:17".into(),
                        })
                        .await
                        .unwrap()
                        .expect("the contact is a customer"),
                )
                .await
                .unwrap()
                .remove(0);
        assert_eq!(
            conversation.status,
            frontline_domain::ConversationStatus::HandedOff
        );
        let replies_before = s.db.store.outbox_of(conversation.id).await.unwrap().len();

        // The person (a Chatwoot `user`) answers, and leaves a private note: both recorded in
        // the log; neither relayed by frontline, since Chatwoot delivers its agents' messages.
        for (id, text, private) in [
            (2, "Hi Ada, Sam here. Looking now.", false),
            (3, "VIP, be quick", true),
        ] {
            let reply = json!({
                "event": "message_created", "id": id, "content": text,
                "message_type": "outgoing", "private": private,
                "sender": { "id": 2, "name": "Sam", "type": "user" }, "account": { "id": 3 },
                "conversation": { "id": 42, "status": "open", "meta": { "sender": contact } }
            });
            let (status, text) = post(reply.to_string().into_bytes()).await;
            assert_eq!(status, 200, "{text}");
        }
        let humans: Vec<(String, String, bool)> =
            s.db.store
                .events(conversation.id)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|e| match e.kind {
                    frontline_domain::EventKind::HumanMessage {
                        author,
                        text,
                        private,
                    } => Some((author, text, private)),
                    _ => None,
                })
                .collect();
        assert_eq!(
            humans,
            [
                (
                    "Sam".to_string(),
                    "Hi Ada, Sam here. Looking now.".to_string(),
                    false
                ),
                ("Sam".to_string(), "VIP, be quick".to_string(), true)
            ]
        );
        assert_eq!(
            s.db.store.outbox_of(conversation.id).await.unwrap().len(),
            replies_before,
            "nothing relayed a second time"
        );
        // While the person has it, the customer's messages get no bot reply.
        let (status, _) = post(customer_says(4, "thanks Sam", "open")).await;
        assert_eq!(status, 200);
        assert_eq!(s.run_turns().await, 0, "an open conversation is not queued");

        // The person sets it back to pending: the bot has it again and answers.
        let back = json!({
            "event": "conversation_status_changed", "status": "pending", "id": 42,
            "account": { "id": 3 }, "meta": { "sender": contact }
        });
        let (status, text) = post(back.to_string().into_bytes()).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            s.db.store
                .conversation(conversation.id)
                .await
                .unwrap()
                .status,
            frontline_domain::ConversationStatus::Bot
        );
        let (status, _) = post(customer_says(5, "where is my order #W0000002", "pending")).await;
        assert_eq!(status, 200);
        assert_eq!(s.run_turns().await, 1);
        let last = s.db.store.outbox_of(conversation.id).await.unwrap();
        assert!(
            last.last().unwrap().message.text.contains("W0000002"),
            "{}",
            last.last().unwrap().message.text
        );
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_whatsapp_reply_outside_the_window_without_a_template_hands_off() {
    for s in servers().await {
        let ada = Customer {
            email: "ada.lovelace1000@example.com".into(),
            phone: "+14155550123".into(),
            chatwoot_contact: 17,
        };
        s.say(
            Channel::Whatsapp,
            "wamid.W1",
            &ada,
            "I'd like to return something",
            false,
        )
        .await;
        let reply = s.replies().await.remove(0);
        let conversation = reply.conversation_id;
        // The WhatsApp API stayed unreachable for a day: the reply is still in the outbox when
        // the customer's 24-hour window closes, and no template is configured.
        let providers = channels(&s.base)
            .registry(std::time::Duration::from_secs(2))
            .unwrap();
        let worker = frontline_server::delivery::outbox_worker(
            s.agent.clone(),
            std::sync::Arc::new(providers),
            frontline_store::Backoff::default(),
        );
        let later = chrono::Utc::now() + chrono::Duration::hours(25);
        let pass = worker.run_once(later).await.unwrap();
        assert_eq!(
            (pass.failed, pass.handed_off, pass.delivered),
            (1, 1, 0),
            "{}",
            s.db.label
        );
        let entry = s.db.store.outbox_of(conversation).await.unwrap().remove(0);
        assert!(entry.failed_at.is_some());
        assert!(entry.last_error.unwrap().contains("24-hour window"));
        assert_eq!(
            s.db.store.conversation(conversation).await.unwrap().status,
            frontline_domain::ConversationStatus::HandedOff
        );
        let summary =
            s.db.store
                .events(conversation)
                .await
                .unwrap()
                .into_iter()
                .find_map(|e| match e.kind {
                    frontline_domain::EventKind::Escalated { summary } => Some(summary),
                    _ => None,
                })
                .expect("the handoff has a summary");
        assert_eq!(summary.trigger, frontline_domain::EscalationTrigger::Policy);
        assert!(summary.reason.contains("whatsapp"), "{}", summary.reason);
        assert!(
            summary.reason.contains("24-hour window"),
            "{}",
            summary.reason
        );
        assert_eq!(summary.current_channel, Channel::Whatsapp);
        // Handing off twice changes nothing.
        assert!(!s
            .agent
            .escalate_undeliverable(conversation, Channel::Whatsapp, "again")
            .await
            .unwrap());
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn web_chat_streams_its_own_visitors_llm_drafts_then_the_final_reply() {
    let s = sqlite_server().await;
    let session = s
        .http
        .get(format!("{}/v1/webchat/session", s.base))
        .send()
        .await
        .unwrap();
    let cookie = session.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let session_id = cookie.split_once('=').unwrap().1.to_string();
    let stream = s
        .http
        .get(format!("{}/v1/webchat/events", s.base))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    // The answer as the LLM writes it (what the agent publishes while its writer streams),
    // with another visitor's draft in between.
    let web = |session: &str| frontline_domain::Identity {
        kind: frontline_domain::IdentityKind::WebSession,
        value: session.to_string(),
    };
    let drafts = s.agent.drafts();
    drafts.publish(&web(&session_id), "Refunds take ");
    drafts.publish(&web("someone-else"), "not yours");
    drafts.publish(&web(&session_id), "5 to 7 days [1].");
    // Then the turn's final reply lands in the outbox.
    let (status, text) = {
        let r = s
            .http
            .post(format!("{}/v1/webchat/messages", s.base))
            .header("cookie", cookie)
            .json(&json!({ "text": "hello" }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(status, 202, "{text}");
    assert_eq!(s.run_turns().await, 1);
    let text = read_messages(stream, 1).await;
    let tokens: Vec<&str> = text
        .split("\n\n")
        .filter(|b| b.contains("event: token"))
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .collect();
    assert_eq!(
        tokens,
        ["Refunds take ", "5 to 7 days [1]."],
        "the drafts, in order, and not re-sent as words: {text}"
    );
    assert!(!text.contains("not yours"), "{text}");
    assert_eq!(message_ids(&text).len(), 1, "{text}");
    s.db.cleanup().await;
}

#[tokio::test]
async fn only_the_sites_that_embed_the_widget_get_cors_and_only_on_the_web_chat() {
    let s = sqlite_server().await;
    let preflight = |path: &str, origin: &str| {
        s.http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let r = preflight("/v1/webchat/messages", WIDGET_SITE)
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        WIDGET_SITE,
        "{:?}",
        r.headers()
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    // Another site gets no CORS headers, so the browser refuses it.
    let r = preflight("/v1/webchat/messages", "https://evil.example")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The management API and the REST channel are not for browsers on other sites.
    let r = preflight("/v1/messages", WIDGET_SITE).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // With embedding sites configured, the session cookie is sent cross-site.
    let r = s
        .http
        .get(format!("{}/v1/webchat/session", s.base))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("SameSite=None; Secure"), "{cookie}");
    s.db.cleanup().await;
}

#[tokio::test]
async fn an_email_without_an_spf_or_dkim_pass_is_only_a_claim() {
    let s = sqlite_server().await;
    // Ada first writes with a pass: her address is proven, her order answered.
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("postmark:inbound-pass")
    );
    let headers = [
        ("content-type", "application/json".to_string()),
        ("authorization", auth),
    ];
    let postmark = |id: &str, spf: &str| {
        json!({
            "FromFull": { "Email": "ada.lovelace1000@example.com", "Name": "Ada" },
            "ToFull": [{ "Email": "support@shop.example", "Name": "" }],
            "Subject": "My order", "MessageID": id,
            "TextBody": "where is my order #W0000002", "StrippedTextReply": "",
            "Headers": [
                { "Name": "Message-ID", "Value": format!("<{id}@mail.example.com>") },
                { "Name": "Received-SPF", "Value": spf },
            ],
        })
        .to_string()
        .into_bytes()
    };
    let (status, text) = s
        .post(
            "/webhooks/email/postmark",
            &headers,
            postmark("real", "Pass (sender SPF authorized)"),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    s.run_turns().await;
    let real = s.replies().await.remove(0);
    assert!(real.text.contains("was delivered"), "{}", real.text);

    // The same `From` with an SPF fail (Postmark) is a claim: no order data, a new conversation.
    let (status, text) = s
        .post(
            "/webhooks/email/postmark",
            &headers,
            postmark("forged", "Fail (sender not authorized)"),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    s.run_turns().await;
    let forged = s.replies().await.remove(1);
    assert!(!forged.text.contains("delivered"), "{}", forged.text);
    assert!(
        forged.text.contains("email address you ordered with"),
        "{}",
        forged.text
    );
    assert_ne!(forged.conversation_id, real.conversation_id);

    // Mailgun without its SPF and DKIM verdicts passing: a claim too.
    let now = chrono::Utc::now().timestamp().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
    mac.update(format!("{now}tok-forged").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let (_, body) = form(&[
        ("recipient", "support@shop.example"),
        ("sender", "ada.lovelace1000@example.com"),
        ("from", "Ada <ada.lovelace1000@example.com>"),
        ("subject", "Order"),
        ("body-plain", "where is my order #W0000002"),
        ("Message-Id", "<mg-forged@mail.example.org>"),
        ("X-Mailgun-Spf", "Fail"),
        ("X-Mailgun-Dkim-Check-Result", "Fail"),
        ("timestamp", &now),
        ("token", "tok-forged"),
        ("signature", &signature),
    ]);
    let form_headers = [("content-type", FORM.to_string())];
    let (status, text) = s.post("/webhooks/email/mailgun", &form_headers, body).await;
    assert_eq!(status, 200, "{text}");
    s.run_turns().await;
    let mailgun = s.replies().await.remove(2);
    assert!(!mailgun.text.contains("delivered"), "{}", mailgun.text);
    assert_ne!(mailgun.conversation_id, real.conversation_id);
}

/// A Twilio-shaped Messages API on loopback: keeps each message's form (To, From, Body) and
/// answers as Twilio does (`201` with the message's sid).
async fn twilio_api() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>,
) {
    use axum::extract::{Form, State};
    type Sent = std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>;
    let sent: Sent = Default::default();
    async fn create(
        State(sent): State<Sent>,
        Form(form): Form<Vec<(String, String)>>,
    ) -> (axum::http::StatusCode, axum::Json<Value>) {
        let mut all = sent.lock().unwrap();
        all.push(form);
        let sid = format!("SM{:032}", all.len());
        (
            axum::http::StatusCode::CREATED,
            axum::Json(json!({"sid": sid, "status": "queued"})),
        )
    }
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            axum::routing::post(create),
        )
        .with_state(sent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, sent)
}

#[tokio::test]
async fn a_customer_texting_from_a_new_number_proves_the_account_with_a_code_texted_to_its_phone() {
    let s = sqlite_server().await;
    let (api, sent) = twilio_api().await;
    let mut config = channels(&s.base);
    config.twilio.as_mut().unwrap().api_base = api;
    let providers = config.registry(std::time::Duration::from_secs(5)).unwrap();
    let worker = frontline_server::delivery::outbox_worker(
        s.agent.clone(),
        std::sync::Arc::new(providers),
        frontline_store::Backoff::default(),
    );
    let data = frontline_shop::seed::generate(&frontline_shop::seed::SeedOptions::demo(
        frontline_agent::testing::demo_seed_day(),
    ));
    let ada = &data.users["ada_lovelace_1000"];
    let account_phone = ada.phone.clone().expect("Ada's account has a phone");
    // Ada texts from a number on no account: the number proves nothing about her account.
    let new_phone = "+16175550000";
    assert!(data
        .users
        .values()
        .all(|u| u.phone.as_deref() != Some(new_phone)));
    let who = Customer {
        email: ada.email.clone(),
        phone: new_phone.into(),
        chatwoot_contact: 17,
    };
    let texts = |to: &str| -> Vec<String> {
        sent.lock()
            .unwrap()
            .iter()
            .filter(|f| f.iter().any(|(k, v)| k == "To" && v == to))
            .filter_map(|f| f.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()))
            .collect()
    };
    let deliver = || async {
        let pass = worker.run_once(chrono::Utc::now()).await.unwrap();
        assert_eq!(pass.failed, 0);
        pass.delivered
    };

    s.say(
        Channel::Sms,
        "SMa1",
        &who,
        "I want to cancel my order #W0000001",
        false,
    )
    .await;
    s.say(Channel::Sms, "SMa2", &who, &ada.email, false).await;
    assert!(deliver().await >= 3);
    let to_new = texts(new_phone).join("\n");
    assert!(
        to_new.contains("email address you ordered with"),
        "{to_new}"
    );
    assert!(to_new.contains("I've sent a 6-digit code"), "{to_new}");
    // The code went by SMS, through Twilio's API, to the phone on the account and nowhere else.
    let to_account = texts(&account_phone);
    assert_eq!(to_account.len(), 1, "{to_account:?}");
    let at = to_account[0].find("code is ").expect("a code") + "code is ".len();
    let code = to_account[0][at..at + 6].to_string();
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    assert!(!to_new.contains(&code));

    s.say(Channel::Sms, "SMa3", &who, &code, false).await;
    s.say(Channel::Sms, "SMa4", &who, "no longer needed", false)
        .await;
    s.say(Channel::Sms, "SMa5", &who, "yes", false).await;
    deliver().await;
    let to_new = texts(new_phone).join("\n");
    assert!(to_new.contains("Order #W0000001 is cancelled"), "{to_new}");
    s.db.cleanup().await;
}

/// A send API on loopback for Messenger (`/me/messages`) and Telegram (`/bot…/sendMessage`):
/// keeps each call's path, `Authorization` header and JSON body, and answers as each provider
/// does.
async fn messaging_api() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>, Value)>>>,
) {
    use axum::extract::State;
    type Sent = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>, Value)>>>;
    let sent: Sent = Default::default();
    async fn call(
        State(sent): State<Sent>,
        uri: axum::http::Uri,
        headers: axum::http::HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut all = sent.lock().unwrap();
        all.push((uri.path().to_string(), auth, body.clone()));
        let n = all.len();
        axum::Json(if uri.path().ends_with("/sendMessage") {
            json!({ "ok": true, "result": { "message_id": 1000 + n, "chat": { "id": body["chat_id"] } } })
        } else {
            json!({ "recipient_id": body["recipient"]["id"], "message_id": format!("m_out{n}") })
        })
    }
    let app = axum::Router::new()
        .fallback(axum::routing::post(call))
        .with_state(sent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, sent)
}

#[tokio::test]
async fn messenger_and_telegram_run_end_to_end_through_the_one_webhook_route() {
    let s = sqlite_server().await;
    let (api, sent) = messaging_api().await;
    let mut config = channels(&s.base);
    config.messenger.as_mut().unwrap().api_base = api.clone();
    config.telegram.as_mut().unwrap().api_base = api;
    let worker = frontline_server::delivery::outbox_worker(
        s.agent.clone(),
        std::sync::Arc::new(config.registry(std::time::Duration::from_secs(5)).unwrap()),
        frontline_store::Backoff::default(),
    );
    let json_type = ("content-type", "application/json".to_string());

    // Messenger: Meta's handshake, then a signed message; forged copies change nothing.
    let handshake = s
        .http
        .get(format!(
            "{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token=meta-verify&hub.challenge=31337",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 200);
    assert_eq!(handshake.text().await.unwrap(), "31337");
    let psid = "7300112233445566";
    let body = json!({ "object": "page", "entry": [{ "id": "1040", "time": 1796119200000i64,
        "messaging": [{ "sender": { "id": psid }, "recipient": { "id": "1040" },
                        "timestamp": 1796119200000i64,
                        "message": { "mid": "m_in1", "text": "where is my order #W0000002" } }] }] })
    .to_string()
    .into_bytes();
    let signed = [
        json_type.clone(),
        ("x-hub-signature-256", meta_signature(&body)),
    ];
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("W0000002", "W0000003")
        .into_bytes();
    assert_eq!(
        s.post("/webhooks/messenger", &signed, tampered).await.0,
        401
    );
    assert_eq!(
        s.post("/webhooks/messenger", &signed[..1], body.clone())
            .await
            .0,
        401
    );
    assert_eq!(s.backlog().await, 0, "nothing forged was queued");
    let (status, text) = s.post("/webhooks/messenger", &signed, body.clone()).await;
    assert_eq!(status, 200, "{text}");
    let (_, again) = s.post("/webhooks/messenger", &signed, body).await;
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );

    // Telegram: the secret-token header or nothing.
    let update = json!({ "update_id": 918273001, "message": { "message_id": 77,
        "from": { "id": 5512340987i64, "is_bot": false, "first_name": "Ada" },
        "chat": { "id": 5512340987i64, "first_name": "Ada", "type": "private" },
        "date": 1796119200, "text": "where is my order #W0000002" } })
    .to_string()
    .into_bytes();
    let with = |secret: &str| {
        [
            json_type.clone(),
            ("x-telegram-bot-api-secret-token", secret.to_string()),
        ]
    };
    assert_eq!(
        s.post("/webhooks/telegram", &with("guess"), update.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        s.post(
            "/webhooks/telegram",
            std::slice::from_ref(&json_type),
            update.clone()
        )
        .await
        .0,
        401
    );
    // Telegram has no handshake.
    let get = s
        .http
        .get(format!("{}/webhooks/telegram", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(s.backlog().await, 1, "only the signed Messenger message");
    let (status, text) = s
        .post("/webhooks/telegram", &with(TELEGRAM_SECRET), update)
        .await;
    assert_eq!(status, 200, "{text}");

    // Both turns run, and both replies go out through each provider's send API.
    assert_eq!(s.run_turns().await, 2);
    let replies = s.replies().await;
    let reply_on = |channel: Channel| {
        replies
            .iter()
            .find(|r| r.channel == channel)
            .unwrap_or_else(|| panic!("no {channel} reply in {replies:?}"))
            .clone()
    };
    let messenger = reply_on(Channel::Messenger);
    assert_eq!(messenger.recipient.to_string(), format!("messenger:{psid}"));
    let telegram = reply_on(Channel::Telegram);
    assert_eq!(telegram.recipient.to_string(), "telegram:5512340987");
    let pass = worker.run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(pass.delivered, 2, "{pass:?}");
    let calls = sent.lock().unwrap().clone();
    let messenger_call = calls.iter().find(|c| c.0 == "/me/messages").unwrap();
    assert_eq!(messenger_call.1.as_deref(), Some("Bearer page-token"));
    assert_eq!(messenger_call.2["recipient"]["id"], psid);
    assert_eq!(messenger_call.2["messaging_type"], "RESPONSE");
    assert_eq!(
        messenger_call.2["message"]["text"],
        frontline_channels::render::plain_text(&messenger.text)
    );
    let telegram_call = calls
        .iter()
        .find(|c| c.0 == "/bot123456:bot-token/sendMessage")
        .unwrap();
    assert_eq!(telegram_call.2["chat_id"], 5512340987i64);
    assert_eq!(
        telegram_call.2["text"],
        frontline_channels::render::plain_text(&telegram.text)
    );
    // The two are different people: a Telegram user and a Messenger user share nothing.
    assert_ne!(messenger.conversation_id, telegram.conversation_id);
    s.db.cleanup().await;
}

#[tokio::test]
async fn stopping_drains_the_intake_then_the_reply_and_handoff_outboxes() {
    use frontline_domain::{Identity, IdentityKind, NormalizeOptions};
    let dir = tempfile::tempdir().unwrap();
    let parts = frontline_agent::testing::DemoParts::new(dir.path()).await;
    let db = frontline_store::testing::sqlite().await;
    let (helpdesk, posted) = messaging_api().await;
    let target = std::sync::Arc::new(frontline_handoff::webhook::Webhook::new(
        frontline_handoff::webhook::WebhookConfig {
            url: format!("{helpdesk}/hooks/handoff"),
            secret: "helpdesk-secret".into(),
        },
        frontline_handoff::http_client(std::time::Duration::from_secs(5)),
    ));
    let agent = std::sync::Arc::new(
        parts
            .rule_agent(db.store.clone())
            .with_handoff_target(target),
    );
    let (twilio, texted) = twilio_api().await;
    let mut config = channels("http://127.0.0.1:9");
    config.twilio.as_mut().unwrap().api_base = twilio;
    // Ticks of an hour and a wake nobody rings: whatever happens below happens because the
    // workers were told to stop.
    let settings = frontline_server::workers::WorkerSettings {
        intake_every: std::time::Duration::from_secs(3600),
        outbox_every: std::time::Duration::from_secs(3600),
        backoff: Default::default(),
    };
    let workers = frontline_server::workers::Workers::start(
        agent.clone(),
        std::sync::Arc::new(config.registry(std::time::Duration::from_secs(5)).unwrap()),
        std::sync::Arc::new(tokio::sync::Notify::new()),
        &settings,
    );
    // The first passes find nothing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let phone = |n: &str| Identity::parse(IdentityKind::Phone, n, &NormalizeOptions::default());
    let now = chrono::Utc::now();
    for (id, number, text) in [
        ("SM1", "+14155550123", "I want to talk to a real person"),
        ("SM2", "+14155550124", "where is my order #W0000002"),
    ] {
        let message =
            frontline_agent::testing::message(Channel::Sms, id, phone(number).unwrap(), text);
        assert!(db.store.accept_inbound(&message, now).await.unwrap());
    }

    assert!(
        workers.stop(std::time::Duration::from_secs(60)).await,
        "every queue drained within the grace"
    );
    assert_eq!(
        db.store.inbound_backlog().await.unwrap(),
        0,
        "both turns ran"
    );
    let texted = texted.lock().unwrap().clone();
    for number in ["+14155550123", "+14155550124"] {
        assert!(
            texted
                .iter()
                .any(|form| form.iter().any(|(k, v)| k == "To" && v == number)),
            "no reply texted to {number}: {texted:?}"
        );
    }
    let posted = posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "one handoff delivered: {posted:?}");
    assert_eq!(posted[0].0, "/hooks/handoff");
    assert_eq!(posted[0].2["summary"]["trigger"], "explicit_request");
    assert!(
        db.store
            .due_outbox(chrono::Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "no reply left behind"
    );
    db.cleanup().await;
}
