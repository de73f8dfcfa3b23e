//! The HTTP API over a real loopback socket.

use chrono::NaiveDate;
use frontline_agent::{Agent, AgentConfig};
use frontline_domain::NormalizeOptions;
use frontline_flows::{Engine, FlowSet};
use frontline_server::{router, AppState};
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use frontline_store::testing::{all_backends, TestStore};
use frontline_understanding::RuleUnderstanding;
use serde_json::{json, Value};
use std::sync::Arc;

struct Server {
    base: String,
    http: reqwest::Client,
    db: TestStore,
    _dir: tempfile::TempDir,
}

async fn servers() -> Vec<Server> {
    let mut out = vec![];
    for db in all_backends().await {
        let dir = tempfile::tempdir().unwrap();
        let shop = Shop::open(&dir.path().join("shop.db")).await.unwrap();
        shop.seed_if_empty(&SeedOptions::demo(
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        ))
        .await
        .unwrap();
        let flows_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
        let flows =
            Arc::new(FlowSet::load(&flows_dir, &frontline_shop::actions::catalog()).unwrap());
        let agent = Agent::new(
            db.store.clone(),
            Arc::new(RuleUnderstanding::new(flows.clone())),
            Arc::new(shop),
            Engine::new(flows),
            AgentConfig::default(),
        );
        let state = Arc::new(AppState {
            agent: Arc::new(agent),
            normalize: NormalizeOptions::default(),
            knowledge: None,
            channels: Default::default(),
            intake: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(frontline_server::serve(
            listener,
            router(state),
            std::future::pending(),
        ));
        out.push(Server {
            base,
            http: reqwest::Client::new(),
            db,
            _dir: dir,
        });
    }
    out
}

impl Server {
    async fn post(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/messages", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    async fn post_raw(&self, body: &'static str, content_type: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/messages", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn ada(id: &str, text: &str) -> Value {
    json!({"channel_message_id": id, "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"}, "text": text})
}

#[tokio::test]
async fn a_message_gets_a_reply_and_the_conversation_shows_it() {
    for s in servers().await {
        let (status, body) = s.post(ada("m1", "where is my order #W0000002")).await;
        assert_eq!(status, 200, "{}: {body}", s.db.label);
        assert!(
            body["replies"][0]["text"]
                .as_str()
                .unwrap()
                .contains("was delivered"),
            "{body}"
        );
        assert_eq!(body["duplicate"], json!(false));
        let conversation_id = body["conversation_id"].as_str().unwrap();

        let (status, view) = s.get(&format!("/v1/conversations/{conversation_id}")).await;
        assert_eq!(status, 200);
        let kinds: Vec<&str> = view["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "message_received",
                "commands_understood",
                "action_executed",
                "flow_ended",
                "action_executed",
                "flow_ended",
                "flow_updated",
                "reply_sent"
            ],
            "{}",
            s.db.label
        );
        // The flows started and ended within the turn; the log still says which steps ran.
        let updated = &view["events"][6];
        assert_eq!(updated["stack"], json!([]));
        let ran: Vec<&str> = updated["ran"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["flow"].as_str().unwrap())
            .collect();
        assert!(
            ran.contains(&"order_status") && ran.contains(&"authenticate"),
            "{ran:?}"
        );
        assert_eq!(
            view["events"][0]["text"],
            json!("where is my order #W0000002")
        );

        let (status, customer) = s
            .get(&format!(
                "/v1/customers/{}",
                body["customer_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            customer["customer"]["identities"][0]["value"],
            json!("ada.lovelace1000@example.com")
        );
        assert_eq!(
            customer["conversations"][0]["id"].as_str(),
            Some(conversation_id)
        );
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_redelivered_message_is_answered_once_over_http() {
    for s in servers().await {
        let (_, first) = s.post(ada("dup-1", "hello")).await;
        let (status, second) = s.post(ada("dup-1", "hello")).await;
        assert_eq!(status, 200);
        assert_eq!(second["duplicate"], json!(true), "{}", s.db.label);
        assert_eq!(second["replies"], first["replies"]);
        let (_, view) = s
            .get(&format!(
                "/v1/conversations/{}",
                first["conversation_id"].as_str().unwrap()
            ))
            .await;
        let replies = view["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "reply_sent")
            .count();
        assert_eq!(replies, 1, "{}", s.db.label);
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn another_channel_with_a_shared_identity_joins_the_same_conversation() {
    for s in servers().await {
        let (_, chat) = s.post(json!({"channel": "web_chat", "channel_message_id": "c1", "sender": {"kind": "email", "value": "ADA.LOVELACE1000@example.com"}, "text": "where is my order?"})).await;
        let (_, sms) = s
            .post(json!({"channel": "sms", "channel_message_id": "SM1", "sender": {"kind": "phone", "value": "(303) 555-0100"},
                         "also_known_as": [{"kind": "email", "value": "ada.lovelace1000@example.com"}], "text": "W0000003"}))
            .await;
        assert_eq!(
            sms["conversation_id"], chat["conversation_id"],
            "{}",
            s.db.label
        );
        assert!(
            sms["replies"][0]["text"]
                .as_str()
                .unwrap()
                .contains("has shipped"),
            "{sms}"
        );
        let (_, view) = s
            .get(&format!(
                "/v1/conversations/{}",
                chat["conversation_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            view["conversation"]["channels_seen"],
            json!(["web_chat", "sms"])
        );
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn bad_requests_get_a_400_naming_the_field() {
    let servers = servers().await;
    let s = &servers[0];
    let cases = [
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email", "value": "a@b.c"}}),
            Some("text"),
        ),
        (
            json!({"channel_message_id": "x", "text": "hi"}),
            Some("sender"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "fax", "value": "1"}, "text": "hi"}),
            Some("sender.kind"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email"}, "text": "hi"}),
            Some("sender.value"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email", "value": "not-an-email"}, "text": "hi"}),
            Some("sender.value"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "phone", "value": "12"}, "text": "hi"}),
            Some("sender.value"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email", "value": "a@b.c"}, "text": "   "}),
            Some("text"),
        ),
        (
            json!({"channel_message_id": "", "sender": {"kind": "email", "value": "a@b.c"}, "text": "hi"}),
            Some("channel_message_id"),
        ),
        (
            json!({"channel_message_id": 7, "sender": {"kind": "email", "value": "a@b.c"}, "text": "hi"}),
            Some("channel_message_id"),
        ),
        (
            json!({"channel": "pigeon", "channel_message_id": "x", "sender": {"kind": "email", "value": "a@b.c"}, "text": "hi"}),
            Some("channel"),
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email", "value": "a@b.c"}, "text": "hi", "txt": "typo"}),
            None,
        ),
        (
            json!({"channel_message_id": "x", "sender": {"kind": "email", "value": "a@b.c"}, "text": "hi", "also_known_as": [{"kind": "phone", "value": "nope"}]}),
            Some("also_known_as[0].value"),
        ),
    ];
    for (body, field) in cases {
        let (status, err) = s.post(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {err}");
        assert_eq!(err["error"]["code"], json!("invalid_request"));
        match field {
            Some(f) => assert_eq!(err["error"]["field"], json!(f), "{body} -> {err}"),
            None => assert!(
                err["error"]["message"].as_str().unwrap().contains("txt"),
                "{err}"
            ),
        }
    }
    let (status, err) = s.post_raw("{\"text\": ", "application/json").await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{err}"
    );
    assert!(err["error"].get("field").is_none());
    let (status, err) = s
        .post_raw("text=hi", "application/x-www-form-urlencoded")
        .await;
    assert_eq!(status, 415, "{err}");
    let huge = format!("{{\"text\": \"{}\"}}", "a".repeat(300 * 1024));
    let r = s
        .http
        .post(format!("{}/v1/messages", s.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    let (status, err) = s.get("/v1/conversations/not-a-uuid").await;
    assert_eq!((status, err["error"]["field"].clone()), (400, json!("id")));
    let (status, err) = s
        .get("/v1/conversations/0190a5f0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = s
        .get("/v1/customers/0190a5f0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
    for s in servers {
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let servers = servers().await;
    for s in &servers {
        assert_eq!(s.get("/healthz").await, (200, Value::String("ok".into())));
        assert_eq!(s.get("/readyz").await, (200, Value::String("ready".into())));
    }
    // A store that went away makes the service not ready (but still alive).
    let s = &servers[0];
    s.db.store.close().await;
    assert_eq!(s.get("/readyz").await.0, 503);
    assert_eq!(s.get("/healthz").await.0, 200);
    let (status, err) = s.post(ada("after-close", "hello")).await;
    assert_eq!(status, 503, "{err}");
    for s in servers {
        s.db.cleanup().await;
    }
}

impl Server {
    async fn post_to(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn a_handed_off_conversation_takes_human_messages_and_is_released_over_http() {
    for s in servers().await {
        let (_, handed) = s.post(ada("h1", "I want to talk to a real person")).await;
        assert_eq!(handed["status"], "handed_off", "{}: {handed}", s.db.label);
        let id = handed["conversation_id"].as_str().unwrap().to_string();

        let (status, event) = s
            .post_to(
                &format!("/v1/conversations/{id}/human-messages"),
                json!({"author": "Grace", "text": "Hello Ada, Grace here."}),
            )
            .await;
        assert_eq!(status, 201, "{event}");
        assert_eq!(event["kind"], "human_message");
        assert_eq!(event["author"], "Grace");

        let (status, err) = s
            .post_to(
                &format!("/v1/conversations/{id}/human-messages"),
                json!({"author": "Grace", "text": "  "}),
            )
            .await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (400, Some("text"))
        );
        let (status, err) = s
            .post_to(
                &format!("/v1/conversations/{id}/human-messages"),
                json!({"author": "Grace", "text": "hi", "visibility": "all"}),
            )
            .await;
        assert_eq!(status, 400, "unknown fields are refused: {err}");
        let unknown = "0196f0a0-0000-7000-8000-00000000ffff";
        let (status, _) = s
            .post_to(&format!("/v1/conversations/{unknown}/release"), json!({}))
            .await;
        assert_eq!(status, 404);
        let (status, _) = s
            .post_to("/v1/conversations/not-a-uuid/release", json!({}))
            .await;
        assert_eq!(status, 400);

        let (status, released) = s
            .post_to(&format!("/v1/conversations/{id}/release"), json!({}))
            .await;
        assert_eq!(status, 200, "{released}");
        assert_eq!(released, json!({"previous": "handed_off", "status": "bot"}));
        let (_, back) = s.post(ada("h2", "where is my order #W0000002")).await;
        assert_eq!(back["conversation_id"], id.as_str());
        assert_eq!(back["status"], "bot");
        assert!(!back["replies"].as_array().unwrap().is_empty());
        s.db.cleanup().await;
    }
}
