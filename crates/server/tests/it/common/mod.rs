//! Shared by the channel tests and the continuity eval: a server with every channel
//! configured on a real store, and each provider's wire format, signed as the provider signs.
#![allow(dead_code)]

use base64::Engine as _;
use frontline_agent::testing::DemoParts;
use frontline_agent::Agent;
use frontline_channels::chatwoot::ChatwootConfig;
use frontline_channels::email::EmailConfig;
use frontline_channels::messenger::MessengerConfig;
use frontline_channels::telegram::TelegramConfig;
use frontline_channels::twilio;
use frontline_channels::twilio::TwilioConfig;
use frontline_channels::whatsapp::WhatsappConfig;
use frontline_channels::ChannelsConfig;
use frontline_domain::{Channel, NormalizeOptions};
use frontline_server::{router, AppState};
use frontline_store::testing::{all_backends, sqlite, TestStore};
use frontline_store::Backoff;
use hmac::Mac;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const TWILIO_TOKEN: &str = "twilio-auth-token";
pub const META_SECRET: &str = "meta-app-secret";
pub const MAILGUN_KEY: &str = "mailgun-signing-key";
pub const WIDGET_SECRET: &str = "widget-identity-secret";
pub const TELEGRAM_SECRET: &str = "tg-secret_token-1";

pub struct Server {
    pub base: String,
    /// The providers its webhooks and outbox use.
    pub registry: Arc<frontline_channels::Registry>,
    pub http: reqwest::Client,
    pub agent: Arc<Agent>,
    pub db: TestStore,
    _dir: tempfile::TempDir,
}

/// The site that embeds the widget in these tests.
pub const WIDGET_SITE: &str = "https://shop.example";

pub fn channels(base: &str) -> ChannelsConfig {
    ChannelsConfig {
        twilio: Some(TwilioConfig {
            account_sid: "AC123".into(),
            auth_token: TWILIO_TOKEN.into(),
            from: Some("+18005550000".into()),
            webhook_url: format!("{base}/webhooks/twilio"),
            api_base: "http://127.0.0.1:9".into(),
        }),
        whatsapp: Some(WhatsappConfig {
            app_secret: META_SECRET.into(),
            verify_token: "meta-verify".into(),
            access_token: "EAAB".into(),
            phone_number_id: None,
            template: None,
            template_language: "en_US".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        messenger: Some(MessengerConfig {
            app_secret: META_SECRET.into(),
            verify_token: "meta-verify".into(),
            page_access_token: "page-token".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        telegram: Some(TelegramConfig {
            bot_token: "123456:bot-token".into(),
            secret_token: TELEGRAM_SECRET.into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        email: Some(EmailConfig {
            address: "support@shop.example".into(),
            display_name: "Shop Support".into(),
            reply_domain: None,
            smtp_url: "smtp://127.0.0.1:9".into(),
            mailgun_signing_key: Some(MAILGUN_KEY.into()),
            postmark_basic_auth: Some("postmark:inbound-pass".into()),
        }),
        chatwoot: Some(ChatwootConfig {
            base_url: "http://127.0.0.1:9".into(),
            bot_token: "bot".into(),
            webhook_token: "cw-token".into(),
        }),
        webchat: Some(frontline_channels::WebchatConfig {
            identity_secret: Some(WIDGET_SECRET.into()),
            allowed_origins: vec![WIDGET_SITE.into()],
        }),
    }
}

/// A server on every store backend.
pub async fn servers() -> Vec<Server> {
    let mut out = vec![];
    for db in all_backends().await {
        out.push(server_on(db).await);
    }
    out
}

/// A server on a fresh SQLite store.
pub async fn sqlite_server() -> Server {
    server_on(sqlite().await).await
}

async fn server_on(db: TestStore) -> Server {
    server_with(db, |agent| agent, |_| vec![]).await
}

/// A server on `db` whose agent `agent` adjusts (a handoff target, surveys) and whose
/// registry also holds `extra(base)`'s providers (a helpdesk's webhooks).
pub async fn server_with(
    db: TestStore,
    agent: impl FnOnce(Agent) -> Agent,
    extra: impl FnOnce(&str) -> Vec<Arc<dyn frontline_channels::Provider>>,
) -> Server {
    server_for(db, agent, channels, extra).await
}

/// [`server_with`], with the channels' settings from `channels(base)`.
pub async fn server_for(
    db: TestStore,
    agent: impl FnOnce(Agent) -> Agent,
    channels: impl Fn(&str) -> ChannelsConfig,
    extra: impl FnOnce(&str) -> Vec<Arc<dyn frontline_channels::Provider>>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let parts = DemoParts::new(dir.path()).await;
    let agent = Arc::new(agent(parts.rule_agent(db.store.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut providers = channels(&base).providers(Duration::from_secs(5)).unwrap();
    providers.extend(extra(&base));
    let registry = Arc::new(frontline_channels::Registry::new(providers).unwrap());
    let state = Arc::new(AppState {
        store: agent.store().clone(),
        agent: agent.clone(),
        normalize: NormalizeOptions::default(),
        knowledge: None,
        channels: channels(&base),
        providers: registry.clone(),
        intake: Default::default(),
        access: Default::default(),
        limits: Default::default(),
        console: Default::default(),
    });
    tokio::spawn(frontline_server::serve(
        listener,
        router(state),
        std::future::pending(),
    ));
    Server {
        base,
        registry,
        http: reqwest::Client::new(),
        agent,
        db,
        _dir: dir,
    }
}

/// A provider's API double: records every request (path, headers, body) and answers with the
/// status and body at the front of its script (then 200 and the last body).
#[derive(Clone, Default)]
pub struct ProviderDouble {
    seen: Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>,
    script: Arc<std::sync::Mutex<Vec<(u16, Value)>>>,
}

impl ProviderDouble {
    /// The requests so far (a copy: no lock is held by the caller).
    pub fn requests(&self) -> Vec<(String, axum::http::HeaderMap, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    axum::extract::State(p): axum::extract::State<ProviderDouble>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    p.seen
        .lock()
        .unwrap()
        .push((uri.path().to_string(), headers, body));
    let mut script = p.script.lock().unwrap();
    let (status, body) = if script.len() > 1 {
        script.remove(0)
    } else {
        script.first().cloned().unwrap_or((200, json!({})))
    };
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        axum::Json(body),
    )
}

/// A provider double on a loopback port, and its base URL.
pub async fn provider_double(script: Vec<(u16, Value)>) -> (ProviderDouble, String) {
    let p = ProviderDouble {
        script: Arc::new(std::sync::Mutex::new(script)),
        ..ProviderDouble::default()
    };
    let app = axum::Router::new()
        .fallback(axum::routing::post(record))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (p, base)
}

impl Server {
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Run the queued turns (pass after pass: a pass takes one message per sender); returns how
    /// many ran.
    pub async fn run_turns(&self) -> usize {
        let mut ran = 0;
        loop {
            let pass = frontline_agent::Intake::new(self.agent.clone(), Backoff::default())
                .run_once(chrono::Utc::now())
                .await
                .unwrap();
            if pass.handled == 0 {
                return ran;
            }
            ran += pass.handled;
        }
    }

    pub async fn backlog(&self) -> i64 {
        self.db.store.inbound_backlog().await.unwrap()
    }

    /// Every undelivered reply, oldest first.
    pub async fn replies(&self) -> Vec<frontline_domain::OutboundMessage> {
        self.db
            .store
            .due_outbox(chrono::Utc::now() + chrono::Duration::seconds(1), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }
}

pub fn form(pairs: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let fields: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = serde_urlencoded::to_string(&fields).unwrap().into_bytes();
    (fields, body)
}

pub const FORM: &str = "application/x-www-form-urlencoded";

/// `X-Hub-Signature-256` as Meta computes it.
pub fn meta_signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(META_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Who writes: the handles a customer has; each channel shows the ones it knows.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Customer {
    /// Their email address.
    pub email: String,
    /// Their mobile number (E.164).
    pub phone: String,
    /// Their Chatwoot contact id.
    #[serde(default = "contact")]
    pub chatwoot_contact: u64,
}

fn contact() -> u64 {
    17
}

impl Server {
    /// Deliver `text` from `who` on `channel` in that channel's real wire format (signed where
    /// the provider signs), then run the queued turns. `with_phone`: a web form that also
    /// collected the phone number vouches for it. Returns the HTTP status.
    pub async fn say(
        &self,
        channel: Channel,
        id: &str,
        who: &Customer,
        text: &str,
        with_phone: bool,
    ) -> u16 {
        let json = ("content-type", "application/json".to_string());
        let (status, body) = match channel {
            Channel::Rest | Channel::WebChat => {
                let also: Vec<Value> = if with_phone {
                    vec![json!({ "kind": "phone", "value": who.phone })]
                } else {
                    vec![]
                };
                let body = json!({
                    "channel": channel.as_str(), "channel_message_id": id,
                    "sender": { "kind": "email", "value": who.email },
                    "also_known_as": also, "text": text,
                });
                self.post("/v1/messages", &[json], body.to_string().into_bytes())
                    .await
            }
            Channel::Email => {
                let auth = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("postmark:inbound-pass")
                );
                let body = json!({
                    "FromFull": { "Email": who.email, "Name": "" },
                    "ToFull": [{ "Email": "support@shop.example", "Name": "" }],
                    "Subject": "Help", "MessageID": id, "TextBody": text, "StrippedTextReply": "",
                    "Headers": [
                        { "Name": "Message-ID", "Value": format!("<{id}@mail.example.com>") },
                        // Postmark's own verdict: the sender's domain authorised this mail.
                        { "Name": "Received-SPF", "Value": "Pass (sender SPF authorized) identity=mailfrom; client-ip=192.0.2.10" },
                    ],
                });
                self.post(
                    "/webhooks/email/postmark",
                    &[json, ("authorization", auth)],
                    body.to_string().into_bytes(),
                )
                .await
            }
            Channel::Sms => {
                let url = format!("{}/webhooks/twilio", self.base);
                let (fields, body) = form(&[
                    ("MessageSid", id),
                    ("From", who.phone.as_str()),
                    ("To", "+18005550000"),
                    ("Body", text),
                    ("NumMedia", "0"),
                ]);
                let headers = [
                    ("content-type", FORM.to_string()),
                    (
                        "x-twilio-signature",
                        twilio::signature(TWILIO_TOKEN, &url, &fields),
                    ),
                ];
                self.post("/webhooks/twilio", &headers, body).await
            }
            Channel::Whatsapp => {
                let wa_id = who.phone.trim_start_matches('+');
                let body = json!({
                    "object": "whatsapp_business_account",
                    "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
                        "metadata": { "phone_number_id": "1065" },
                        "contacts": [{ "profile": { "name": "" }, "wa_id": wa_id }],
                        "messages": [{ "from": wa_id, "id": id, "timestamp": "1763800000",
                                       "type": "text", "text": { "body": text } }]
                    } }] }]
                })
                .to_string()
                .into_bytes();
                let signature = ("x-hub-signature-256", meta_signature(&body));
                self.post("/webhooks/whatsapp", &[json, signature], body)
                    .await
            }
            Channel::Messenger => {
                // A page-scoped id of their own, made from the number's digits.
                let psid = format!("73{}", who.phone.trim_start_matches('+'));
                let body = json!({ "object": "page", "entry": [{ "id": "1040", "messaging": [{
                    "sender": { "id": psid }, "recipient": { "id": "1040" },
                    "timestamp": chrono::Utc::now().timestamp_millis(),
                    "message": { "mid": id, "text": text } }] }] })
                .to_string()
                .into_bytes();
                let signature = ("x-hub-signature-256", meta_signature(&body));
                self.post("/webhooks/messenger", &[json, signature], body)
                    .await
            }
            Channel::Telegram => {
                let user: i64 = who.phone.trim_start_matches('+').parse().unwrap();
                let body = json!({ "update_id": 1, "message": {
                    "message_id": id.bytes().map(u64::from).sum::<u64>(),
                    "from": { "id": user, "is_bot": false, "first_name": "Customer" },
                    "chat": { "id": user, "type": "private" },
                    "date": chrono::Utc::now().timestamp(), "text": text } })
                .to_string()
                .into_bytes();
                let secret = (
                    "x-telegram-bot-api-secret-token",
                    TELEGRAM_SECRET.to_string(),
                );
                self.post("/webhooks/telegram", &[json, secret], body).await
            }
            Channel::Chatwoot => {
                let body = json!({
                    "event": "message_created", "id": id, "content": text,
                    "message_type": "incoming", "private": false,
                    "sender": { "id": who.chatwoot_contact, "type": "contact" },
                    "account": { "id": 3 },
                    "conversation": { "id": 42, "status": "pending", "meta": { "sender": {
                        "id": who.chatwoot_contact, "email": who.email, "type": "contact" } } }
                });
                self.post(
                    "/webhooks/chatwoot?token=cw-token",
                    &[json],
                    body.to_string().into_bytes(),
                )
                .await
            }
        };
        assert!(status < 300, "{channel} {id}: {status} {body}");
        self.run_turns().await;
        status
    }
}
