//! Outbound delivery through the outbox worker: Twilio's Messages API, Meta's send API and
//! Chatwoot's messages API against provider doubles that check each request's real shape and
//! auth; email against a real SMTP server (aiosmtpd, installed by `scripts/smtp.sh`).

use frontline_channels::chatwoot::{ChatwootConfig, ChatwootProvider};
use frontline_channels::email::{EmailConfig, EmailProvider};
use frontline_channels::twilio::{TwilioConfig, TwilioProvider};
use frontline_channels::whatsapp::{WhatsappConfig, WhatsappProvider};
use frontline_channels::{Provider as ChannelProvider, Registry};
use frontline_domain::{
    Channel, ConversationId, ConversationStatus, EventKind, Identity, IdentityKind,
    NormalizeOptions, OutboundMessage, ThreadRef,
};
use frontline_server::delivery::{OutboxWorker, Pass};
use frontline_store::testing::{sqlite, TestStore};
use frontline_store::Backoff;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::common::provider_double as provider;

fn identity(kind: IdentityKind, raw: &str) -> Identity {
    Identity::parse(kind, raw, &NormalizeOptions::default()).unwrap()
}

/// A conversation with one inbound message on `channel`, and a reply to it in the outbox.
async fn queued_reply(
    db: &TestStore,
    channel: Channel,
    recipient: Identity,
    thread: ThreadRef,
    received: chrono::DateTime<chrono::Utc>,
) -> (ConversationId, frontline_domain::OutboxId) {
    let store = &db.store;
    // One message per customer: the provider's id of theirs.
    let message_id = format!("in-{}", recipient.value);
    let customer = store
        .resolve_customer(std::slice::from_ref(&recipient), None, received)
        .await
        .unwrap()
        .customer;
    let conversation = store
        .open_conversation(
            customer.id,
            channel,
            None,
            chrono::Duration::hours(72),
            received,
        )
        .await
        .unwrap();
    store
        .append_event(
            conversation.id,
            received,
            EventKind::MessageReceived {
                channel,
                channel_message_id: message_id.clone(),
                sender: recipient.clone(),
                text: "where is my order".into(),
                thread: thread.clone(),
                language: None,
                prefers: None,
            },
        )
        .await
        .unwrap();
    // The turn that read it finished: the inbox knows when the customer last wrote.
    store
        .claim_inbound(channel, &message_id, chrono::Duration::minutes(5), received)
        .await
        .unwrap();
    store
        .complete_inbound(
            channel,
            &message_id,
            Some(conversation.id),
            &json!({}),
            received,
        )
        .await
        .unwrap();
    let reply = OutboundMessage {
        conversation_id: conversation.id,
        channel,
        recipient,
        text: "**Shipped** — see [tracking](https://t.example/1).".into(),
        in_reply_to: Some(message_id),
        thread,
        choices: vec![],
        survey: None,
    };
    let id = store.enqueue_outbox(&reply, received).await.unwrap();
    (conversation.id, id)
}

fn worker(db: &TestStore, provider: Arc<dyn ChannelProvider>) -> OutboxWorker {
    let providers = Registry::new(vec![provider]).unwrap();
    OutboxWorker::new(db.store.clone(), Arc::new(providers), Backoff::default())
}

fn form_of(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).unwrap()
}

#[tokio::test]
async fn twilio_sms_goes_through_the_messages_api_and_retries_on_5xx_only() {
    let (p, base) = provider(vec![
        (503, json!({ "message": "busy" })),
        (201, json!({ "sid": "SM-out-1" })),
    ])
    .await;
    let db = sqlite().await;
    let config = TwilioConfig {
        account_sid: "AC123".into(),
        auth_token: "tok".into(),
        from: None,
        webhook_url: "https://x.example/webhooks/twilio".into(),
        api_base: base,
    };
    let sender = Arc::new(TwilioProvider::new(config, false, Duration::from_secs(5)));
    let now = chrono::Utc::now();
    let thread = ThreadRef {
        via: Some("+18005550000".into()),
        ..ThreadRef::default()
    };
    let (conversation, id) = queued_reply(
        &db,
        Channel::Sms,
        identity(IdentityKind::Phone, "+14155550123"),
        thread,
        now,
    )
    .await;
    let w = worker(&db, sender);
    assert_eq!(
        w.run_once(now).await.unwrap(),
        Pass {
            retrying: 1,
            ..Pass::default()
        }
    );
    // Not due again until the backoff has passed.
    assert_eq!(w.run_once(now).await.unwrap(), Pass::default());
    let later = now + chrono::Duration::seconds(16);
    assert_eq!(
        w.run_once(later).await.unwrap(),
        Pass {
            delivered: 1,
            ..Pass::default()
        }
    );
    let entry = db.store.outbox_of(conversation).await.unwrap().remove(0);
    assert_eq!(entry.id, id);
    assert_eq!(entry.reference.as_deref(), Some("SM-out-1"));
    assert!(entry.delivered_at.is_some());

    let seen = p.requests();
    let (path, headers, body) = &seen[1];
    assert_eq!(path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(headers["authorization"], "Basic QUMxMjM6dG9r", "AC123:tok");
    let form = form_of(body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("To"), Some("+14155550123"));
    assert_eq!(get("From"), Some("+18005550000"));
    // Plain text, GSM-7 friendly.
    assert_eq!(
        get("Body"),
        Some("Shipped - see tracking (https://t.example/1).")
    );

    // A 4xx will not get better: failed at once, with the reason.
    let (_, base) = provider(vec![(400, json!({ "message": "invalid To" }))]).await;
    let config = TwilioConfig {
        account_sid: "AC123".into(),
        auth_token: "tok".into(),
        from: Some("+18005550000".into()),
        webhook_url: String::new(),
        api_base: base,
    };
    let sender = Arc::new(TwilioProvider::new(config, false, Duration::from_secs(5)));
    let (conversation, _) = queued_reply(
        &db,
        Channel::Sms,
        identity(IdentityKind::Phone, "+14155550999"),
        ThreadRef::default(),
        now,
    )
    .await;
    assert_eq!(
        worker(&db, sender).run_once(later).await.unwrap(),
        Pass {
            failed: 1,
            ..Pass::default()
        }
    );
    let entry = db.store.outbox_of(conversation).await.unwrap().remove(0);
    assert!(entry.failed_at.is_some());
    assert!(entry.last_error.unwrap().contains("invalid To"));
    db.cleanup().await;
}

#[tokio::test]
async fn whatsapp_sends_text_inside_the_window_a_template_outside_and_fails_without_one() {
    let (p, base) = provider(vec![(200, json!({ "messages": [{ "id": "wamid.OUT" }] }))]).await;
    let db = sqlite().await;
    let config = |template: Option<&str>| WhatsappConfig {
        app_secret: "s".into(),
        verify_token: "v".into(),
        access_token: "EAAB-token".into(),
        phone_number_id: None,
        template: template.map(str::to_string),
        template_language: "en_US".into(),
        api_base: base.clone(),
    };
    let now = chrono::Utc::now();
    let thread = ThreadRef {
        via: Some("1065".into()),
        ..ThreadRef::default()
    };
    let wa = identity(IdentityKind::Whatsapp, "14155550123");
    // Inside the window: free-form text, as a reply to the customer's message.
    queued_reply(&db, Channel::Whatsapp, wa.clone(), thread.clone(), now).await;
    let sender = Arc::new(WhatsappProvider::new(config(None), Duration::from_secs(5)));
    assert_eq!(
        worker(&db, sender).run_once(now).await.unwrap().delivered,
        1
    );
    {
        let seen = p.requests();
        let (path, headers, body) = &seen[0];
        assert_eq!(path, "/1065/messages");
        assert_eq!(headers["authorization"], "Bearer EAAB-token");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["type"], "text");
        assert_eq!(body["to"], "14155550123");
        assert_eq!(
            body["text"]["body"],
            "*Shipped* — see tracking: https://t.example/1."
        );
    }

    // A day and more later, without a template: failed, saying why.
    let old = now - chrono::Duration::hours(30);
    let (conversation, _) = queued_reply(
        &db,
        Channel::Whatsapp,
        identity(IdentityKind::Whatsapp, "14155550124"),
        thread.clone(),
        old,
    )
    .await;
    let sender = Arc::new(WhatsappProvider::new(config(None), Duration::from_secs(5)));
    assert_eq!(worker(&db, sender).run_once(now).await.unwrap().failed, 1);
    let entry = db.store.outbox_of(conversation).await.unwrap().remove(0);
    assert!(entry.last_error.unwrap().contains("24-hour window"));

    // With a template configured, the template goes instead.
    queued_reply(
        &db,
        Channel::Whatsapp,
        identity(IdentityKind::Whatsapp, "14155550125"),
        thread,
        old,
    )
    .await;
    let sender = Arc::new(WhatsappProvider::new(
        config(Some("support_update")),
        Duration::from_secs(5),
    ));
    assert_eq!(
        worker(&db, sender).run_once(now).await.unwrap().delivered,
        1
    );
    let seen = p.requests();
    let body: Value = serde_json::from_str(&seen.last().unwrap().2).unwrap();
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "support_update");
    db.cleanup().await;
}

/// A survey on WhatsApp goes out as a list of one-tap scores while the bot has the
/// conversation; once a person has it, it is withdrawn, never sent.
#[tokio::test]
async fn a_survey_goes_out_with_one_tap_scores_and_never_while_a_person_has_the_conversation() {
    let (p, base) = provider(vec![(200, json!({ "messages": [{ "id": "wamid.S" }] }))]).await;
    let db = sqlite().await;
    let config = WhatsappConfig {
        app_secret: "s".into(),
        verify_token: "v".into(),
        access_token: "EAAB-token".into(),
        phone_number_id: Some("1065".into()),
        template: None,
        template_language: "en_US".into(),
        api_base: base.clone(),
    };
    let now = chrono::Utc::now();
    let survey = |conversation_id, recipient: Identity| OutboundMessage {
        conversation_id,
        channel: Channel::Whatsapp,
        recipient,
        text: "How satisfied are you?".into(),
        in_reply_to: None,
        thread: ThreadRef::default(),
        choices: (1..=5)
            .map(|n| frontline_domain::Choice {
                id: format!("csat:{n}"),
                title: n.to_string(),
            })
            .collect(),
        survey: Some(frontline_domain::SurveyQuestion::Csat),
    };
    let mut ids = vec![];
    for (number, status) in [
        ("14155550131", ConversationStatus::Bot),
        ("14155550132", ConversationStatus::HandedOff),
    ] {
        let wa = identity(IdentityKind::Whatsapp, number);
        let (conversation, reply) = queued_reply(
            &db,
            Channel::Whatsapp,
            wa.clone(),
            ThreadRef::default(),
            now,
        )
        .await;
        db.store.mark_delivered(reply, now).await.unwrap();
        db.store.set_status(conversation, status).await.unwrap();
        let id = db
            .store
            .enqueue_outbox(&survey(conversation, wa), now)
            .await
            .unwrap();
        ids.push((conversation, id));
    }
    let sender = Arc::new(WhatsappProvider::new(config, Duration::from_secs(5)));
    let pass = worker(&db, sender).run_once(now).await.unwrap();
    assert_eq!(pass.delivered, 1, "{pass:?}");
    let seen = p.requests();
    assert_eq!(seen.len(), 1);
    let body: Value = serde_json::from_str(&seen[0].2).unwrap();
    assert_eq!(body["to"], "14155550131");
    assert_eq!(body["type"], "interactive");
    assert_eq!(body["interactive"]["type"], "list");
    assert_eq!(
        body["interactive"]["action"]["sections"][0]["rows"][4]["id"],
        "csat:5"
    );
    let (handed_off, survey_id) = ids[1];
    let entry = db
        .store
        .outbox_of(handed_off)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == survey_id)
        .unwrap();
    assert!(entry.delivered_at.is_none());
    assert!(entry.failed_at.is_some());
    assert_eq!(
        entry.last_error.as_deref(),
        Some("withdrawn: a person has the conversation")
    );
    db.cleanup().await;
}

#[tokio::test]
async fn chatwoot_replies_post_to_the_conversation_as_the_bot() {
    let (p, base) = provider(vec![(200, json!({ "id": 991 }))]).await;
    let db = sqlite().await;
    let sender = Arc::new(ChatwootProvider::new(
        ChatwootConfig {
            base_url: base,
            bot_token: "bot-token".into(),
            webhook_token: "w".into(),
        },
        Duration::from_secs(5),
    ));
    let thread = ThreadRef {
        provider_thread: Some("3:42".into()),
        ..ThreadRef::default()
    };
    let now = chrono::Utc::now();
    let (conversation, _) = queued_reply(
        &db,
        Channel::Chatwoot,
        identity(IdentityKind::ChatwootContact, "3:17"),
        thread,
        now,
    )
    .await;
    assert_eq!(
        worker(&db, sender).run_once(now).await.unwrap().delivered,
        1
    );
    let seen = p.requests();
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/api/v1/accounts/3/conversations/42/messages");
    assert_eq!(headers["api_access_token"], "bot-token");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["message_type"], "outgoing");
    assert_eq!(body["private"], false);
    let entry = db.store.outbox_of(conversation).await.unwrap().remove(0);
    assert_eq!(entry.reference.as_deref(), Some("991"));
    db.cleanup().await;
}

/// A real SMTP server on loopback that stores what it receives in a maildir.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
    /// The virtualenv's python (its standard `email` package reads what was received).
    python: String,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_server() -> SmtpServer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp.sh");
    let out = std::process::Command::new(script)
        .output()
        .expect("running scripts/smtp.sh");
    assert!(
        out.status.success(),
        "scripts/smtp.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(&python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("inbox"))
        .spawn()
        .expect("start aiosmtpd");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    SmtpServer {
        child,
        port,
        maildir,
        python,
    }
}

/// A received mail's MIME structure, as Python's `email` package reads it: one line per part,
/// `<content type>: <decoded text>` for the leaves.
fn mime_structure(python: &str, mail: &str) -> Vec<String> {
    let script = r#"
import email, sys
from email import policy
msg = email.message_from_string(sys.stdin.read(), policy=policy.default)
for part in msg.walk():
    if part.is_multipart():
        print(part.get_content_type())
    else:
        print(part.get_content_type() + ": " + part.get_content().replace("\n", "\\n"))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(mail.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn email_replies_go_out_over_smtp_with_threading_headers() {
    let smtp = smtp_server();
    let db = sqlite().await;
    let config = EmailConfig {
        address: "support@shop.example".into(),
        display_name: "Shop Support".into(),
        reply_domain: None,
        smtp_url: format!("smtp://127.0.0.1:{}", smtp.port),
        mailgun_signing_key: None,
        postmark_basic_auth: None,
    };
    let sender = Arc::new(EmailProvider::new(config.clone(), Duration::from_secs(10)).unwrap());
    let thread = ThreadRef {
        subject: Some("My order".into()),
        references: vec![
            "<m0@mail.example.com>".into(),
            "<m1@mail.example.com>".into(),
        ],
        ..ThreadRef::default()
    };
    let now = chrono::Utc::now();
    let (conversation, outbox) = {
        let (c, _) = queued_reply(
            &db,
            Channel::Email,
            identity(IdentityKind::Email, "ada@example.com"),
            thread.clone(),
            now,
        )
        .await;
        // Answer the customer's email by its Message-ID, like the agent does.
        let reply = OutboundMessage {
            conversation_id: c,
            channel: Channel::Email,
            recipient: identity(IdentityKind::Email, "ada@example.com"),
            text: "Your order **W0000002** has shipped.".into(),
            in_reply_to: Some("<m1@mail.example.com>".into()),
            thread,
            choices: vec![],
            survey: None,
        };
        // Leave only this reply due (the helper's reply has a non-email in_reply_to).
        let id = db.store.enqueue_outbox(&reply, now).await.unwrap();
        (c, id)
    };
    let pass = worker(&db, sender).run_once(now).await.unwrap();
    assert_eq!(pass.delivered, 2, "{pass:?}");
    let entries = db.store.outbox_of(conversation).await.unwrap();
    let ours = entries.iter().find(|e| e.id == outbox).unwrap();
    let message_id = ours.reference.clone().unwrap();
    assert!(
        message_id.starts_with(&format!("<frontline.{conversation}.")),
        "{message_id}"
    );

    let new = smtp.maildir.path().join("inbox/new");
    let mails: Vec<String> = std::fs::read_dir(&new)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    let mail = mails
        .iter()
        .find(|m| m.contains(&message_id))
        .unwrap_or_else(|| panic!("{message_id} not among {mails:?}"));
    let unfolded = mail.replace("\r\n ", " ").replace("\n ", " ");
    assert!(unfolded.contains("Subject: Re: My order"), "{mail}");
    assert!(
        unfolded.contains("In-Reply-To: <m1@mail.example.com>"),
        "{mail}"
    );
    assert!(
        unfolded.contains("References: <m0@mail.example.com> <m1@mail.example.com>"),
        "{mail}"
    );
    assert!(
        unfolded.contains(&format!("Reply-To: reply+{conversation}@shop.example")),
        "{mail}"
    );
    assert!(unfolded.contains("Auto-Submitted: auto-replied"), "{mail}");
    // multipart/alternative: the plain part, then the HTML part, each decoded as a mail client
    // would.
    let parts = mime_structure(&smtp.python, mail);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0], "multipart/alternative");
    assert_eq!(
        parts[1].trim_end_matches("\\n"),
        "text/plain: Your order W0000002 has shipped."
    );
    assert!(
        parts[2].starts_with("text/html: <div style=")
            && parts[2].contains(
                "<p style=\"margin:0 0 12px\">Your order <strong>W0000002</strong> has shipped.</p>"
            ),
        "{parts:?}"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn messenger_replies_inside_its_window_only_and_a_blocked_telegram_bot_is_unreachable() {
    use frontline_channels::messenger::{MessengerConfig, MessengerProvider};
    use frontline_channels::telegram::{TelegramConfig, TelegramProvider};
    let now = chrono::Utc::now();
    let (api, base) = provider(vec![(
        200,
        json!({"recipient_id": "7300112233445566", "message_id": "m_out1"}),
    )])
    .await;
    let messenger = Arc::new(MessengerProvider::new(
        MessengerConfig {
            app_secret: "secret".into(),
            verify_token: "verify".into(),
            page_access_token: "page-token".into(),
            api_base: base,
        },
        Duration::from_secs(5),
    ));
    let psid = identity(IdentityKind::Messenger, "7300112233445566");
    let page = ThreadRef {
        via: Some("1040".into()),
        ..ThreadRef::default()
    };
    let db = sqlite().await;
    queued_reply(&db, Channel::Messenger, psid.clone(), page.clone(), now).await;
    let pass = worker(&db, messenger.clone()).run_once(now).await.unwrap();
    assert_eq!(pass.delivered, 1, "{pass:?}");
    let (path, headers, body) = api.requests().remove(0);
    assert_eq!(path, "/me/messages");
    assert_eq!(headers["authorization"], "Bearer page-token");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "recipient": { "id": "7300112233445566" },
            "messaging_type": "RESPONSE",
            "message": { "text": "Shipped — see tracking (https://t.example/1)." },
        })
    );
    // The customer last wrote 25 hours ago: past Messenger's window, nobody can reply there.
    let late = sqlite().await;
    let (conversation, _) = queued_reply(
        &late,
        Channel::Messenger,
        psid,
        page,
        now - chrono::Duration::hours(25),
    )
    .await;
    let pass = worker(&late, messenger).run_once(now).await.unwrap();
    assert_eq!((pass.failed, pass.delivered), (1, 0), "{pass:?}");
    let entry = late.store.outbox_of(conversation).await.unwrap().remove(0);
    assert!(
        entry.last_error.unwrap().contains("24-hour"),
        "the reason is kept"
    );
    assert_eq!(api.requests().len(), 1, "nothing was sent past the window");

    // A customer who blocked the bot: Telegram answers 403; no retry can help.
    let (telegram_api, base) = provider(vec![(
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    )])
    .await;
    let telegram = Arc::new(TelegramProvider::new(
        TelegramConfig {
            bot_token: "123456:SECRET-TOKEN".into(),
            secret_token: "s".into(),
            api_base: base,
        },
        Duration::from_secs(5),
    ));
    let blocked = sqlite().await;
    let (conversation, _) = queued_reply(
        &blocked,
        Channel::Telegram,
        identity(IdentityKind::Telegram, "5512340987"),
        ThreadRef {
            provider_thread: Some("5512340987".into()),
            ..ThreadRef::default()
        },
        now,
    )
    .await;
    let pass = worker(&blocked, telegram).run_once(now).await.unwrap();
    assert_eq!((pass.failed, pass.retrying), (1, 0), "{pass:?}");
    let (path, _, body) = telegram_api.requests().remove(0);
    assert_eq!(path, "/bot123456:SECRET-TOKEN/sendMessage");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["chat_id"], 5512340987i64);
    let error = blocked
        .store
        .outbox_of(conversation)
        .await
        .unwrap()
        .remove(0)
        .last_error
        .unwrap();
    assert!(error.starts_with("unreachable: "), "{error}");
    assert!(
        !error.contains("SECRET-TOKEN"),
        "the bot token is never logged: {error}"
    );
    for db in [db, late, blocked] {
        db.cleanup().await;
    }
}
