//! The HTTP API over a real loopback socket.

use frontline_agent::testing::DemoParts;
use frontline_domain::NormalizeOptions;
use frontline_server::access::{new_key, Access, ApiKeyConfig, Scope};
use frontline_server::limit::{Limits, Rate, RateLimits};
use frontline_server::{router, AppState};
use frontline_store::testing::{all_backends, TestStore};
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
        out.push(server_on(db, Access::default(), RateLimits::default()).await);
    }
    out
}

/// A server on `db` with these access rules and rate limits.
async fn server_on(db: TestStore, access: Access, limits: RateLimits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let agent = DemoParts::new(dir.path())
        .await
        .rule_agent(db.store.clone());
    let state = Arc::new(AppState {
        store: agent.store().clone(),
        agent: Arc::new(agent),
        normalize: NormalizeOptions::default(),
        knowledge: None,
        channels: Default::default(),
        providers: Default::default(),
        intake: Default::default(),
        access,
        limits,
        console: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(frontline_server::serve(
        listener,
        router(state),
        std::future::pending(),
    ));
    Server {
        base,
        http: reqwest::Client::new(),
        db,
        _dir: dir,
    }
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
                // Her email, and the account id and phone the shop links to it, each proven
                // by the REST integration.
                "identity_assured",
                "identity_assured",
                "identity_assured",
                "message_received",
                // Plainly English: the conversation's language from its first message.
                "language_changed",
                "commands_understood",
                "action_executed",
                "flow_ended",
                "action_executed",
                "action_executed",
                "flow_ended",
                "flow_updated",
                "reply_sent",
                // The conversation's first tier: a status question is informational.
                "tier_changed",
                // Resolved: its quality score, stored.
                "quality_scored"
            ],
            "{}",
            s.db.label
        );
        assert_eq!(view["events"][4]["to"], json!("en"));
        assert_eq!(view["events"][13]["to"], json!("informational"));
        // The flows started and ended within the turn; the log still says which steps ran.
        let updated = &view["events"][11];
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
            view["events"][3]["text"],
            json!("where is my order #W0000002")
        );

        let (status, customer) = s
            .get(&format!(
                "/v1/customers/{}",
                body["customer_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 200);
        let email = customer["customer"]["identities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["value"] == json!("ada.lovelace1000@example.com"))
            .expect("her email among her identities");
        assert_eq!(email["assurance"], json!("channel"));
        assert_eq!(email["verified"], json!(true));
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

#[tokio::test]
async fn the_management_api_and_the_rest_channel_need_a_key_with_their_scope() {
    let (admin_key, admin_hash) = new_key();
    let (sender_key, sender_hash) = new_key();
    let access = Access::new(&[
        ApiKeyConfig {
            name: "console".into(),
            hash: admin_hash,
            scopes: vec![Scope::Admin],
        },
        ApiKeyConfig {
            name: "shop backend".into(),
            hash: sender_hash,
            scopes: vec![Scope::Messages],
        },
    ])
    .unwrap();
    let s = server_on(
        frontline_store::testing::sqlite().await,
        access,
        RateLimits::default(),
    )
    .await;
    let send = |key: Option<&str>, id: &str| {
        let mut r = s
            .http
            .post(format!("{}/v1/messages", s.base))
            .json(&ada(id, "where is my order #W0000002"));
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        r.send()
    };
    // No key, a tampered key, a key without the scope: refused, and nothing is processed.
    let r = send(None, "k1").await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let mut tampered = sender_key.clone();
    tampered.replace_range(10..11, if &sender_key[10..11] == "a" { "b" } else { "a" });
    assert_eq!(send(Some(&tampered), "k2").await.unwrap().status(), 401);
    assert_eq!(send(Some(&admin_key), "k3").await.unwrap().status(), 403);
    // The right key.
    let r = send(Some(&sender_key), "k4").await.unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    let conversation = reply["conversation_id"].as_str().unwrap().to_string();
    let events =
        s.db.store
            .events(conversation.parse().unwrap())
            .await
            .unwrap();
    let received: Vec<_> = events
        .iter()
        .filter(|e| e.kind.name() == "message_received")
        .collect();
    assert_eq!(
        received.len(),
        1,
        "only the authorised message was processed"
    );

    // The management API: the admin key, in either header.
    let path = format!("{}/v1/conversations/{conversation}", s.base);
    assert_eq!(s.http.get(&path).send().await.unwrap().status(), 401);
    assert_eq!(
        s.http
            .get(&path)
            .bearer_auth(&sender_key)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.http
            .get(&path)
            .bearer_auth(&admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.http
            .get(&path)
            .header("x-api-key", &admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Health probes and the web chat stay public.
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/v1/webchat/session").await.0, 200);
}

/// The value of one sample line (`name{labels} value`) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_are_scraped_in_the_prometheus_format() {
    for s in servers().await {
        s.post(ada("metrics-1", "where is my order #W0000002"))
            .await;
        s.post(ada("metrics-2", "hello")).await;
        s.post(ada("metrics-2", "hello")).await; // a redelivery
        s.post(ada("metrics-3", "I want a human")).await;

        let r = s
            .http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        let text = r.text().await.unwrap();
        let label = s.db.label;
        assert_eq!(
            sample(
                &text,
                r#"frontline_turn_duration_seconds_count{channel="rest",path="rules"}"#
            ),
            Some(3.0),
            "{label}: three turns ran (the redelivery is not a turn):\n{text}"
        );
        assert!(
            sample(
                &text,
                r#"frontline_turn_duration_seconds_sum{channel="rest",path="rules"}"#
            )
            .unwrap()
                > 0.0
        );
        assert_eq!(
            sample(&text, r#"frontline_inbox_duplicates_total{channel="rest"}"#),
            Some(1.0),
            "{label}:\n{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"frontline_escalations_total{reason="explicit_request"}"#
            ),
            Some(1.0),
            "{label}:\n{text}"
        );
        // REST replies are delivered in the response: nothing waits in the outbox.
        assert_eq!(sample(&text, "frontline_outbox_backlog"), Some(0.0));
        assert_eq!(sample(&text, "frontline_inbound_backlog"), Some(0.0));
        assert!(
            text.contains("# TYPE frontline_llm_calls counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_sender_over_its_rate_gets_429_with_retry_after_and_nothing_is_processed() {
    let limits = RateLimits::new(&Limits {
        per_sender: Rate {
            per_second: 0.01,
            burst: 2.0,
        },
        per_ip: Rate {
            per_second: 0.01,
            burst: 3.0,
        },
        trust_forwarded_for: false,
    });
    let s = server_on(
        frontline_store::testing::sqlite().await,
        Access::default(),
        limits,
    )
    .await;
    let (first, reply) = s.post(ada("rl-1", "hello")).await;
    assert_eq!(first, 200);
    assert_eq!(s.post(ada("rl-2", "hello again")).await.0, 200);
    let r = s
        .http
        .post(format!("{}/v1/messages", s.base))
        .json(&ada("rl-3", "and again"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another sender is not affected.
    let other = json!({"channel_message_id": "rl-4", "sender": {"kind": "email", "value": "grace@example.com"}, "text": "hello"});
    assert_eq!(s.post(other).await.0, 200);
    // The refused message left no trace.
    let conversation = reply["conversation_id"].as_str().unwrap().parse().unwrap();
    let texts: Vec<String> =
        s.db.store
            .events(conversation)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.kind {
                frontline_domain::EventKind::MessageReceived { text, .. } => Some(text),
                _ => None,
            })
            .collect();
    assert_eq!(texts, ["hello", "hello again"]);

    // The web chat is limited per address: three requests, then 429.
    for _ in 0..3 {
        assert_eq!(s.get("/v1/webchat/session").await.0, 200);
    }
    assert_eq!(s.get("/v1/webchat/session").await.0, 429);
}

#[tokio::test]
async fn kpis_of_a_scripted_set_of_conversations_match_hand_computed_values() {
    for s in servers().await {
        let label = s.db.label;
        let msg = |id: &str, channel: &str, kind: &str, value: &str, text: &str| {
            json!({"channel": channel, "channel_message_id": id,
                   "sender": {"kind": kind, "value": value}, "text": text})
        };
        // 1. Ada on the REST channel: her order's status, resolved by the agent.
        assert_eq!(
            s.post(ada("kpi-1", "where is my order #W0000002")).await.0,
            200
        );
        // 2. Grace by email, then by SMS from a phone the message ties to her email (one
        //    conversation, two channels), asking for a person: escalated.
        let grace = "grace@example.com";
        assert_eq!(
            s.post(msg("kpi-2", "email", "email", grace, "hello"))
                .await
                .0,
            200
        );
        let mut sms = msg(
            "kpi-3",
            "sms",
            "phone",
            "+14155550199",
            "I want to talk to a human",
        );
        sms["also_known_as"] = json!([{"kind": "email", "value": grace}]);
        let (status, handed) = s.post(sms).await;
        assert_eq!(status, 200);
        assert_eq!(handed["status"], "handed_off", "{label}: {handed}");
        // 3. Alan on WhatsApp says hello: neither resolved nor escalated.
        assert_eq!(
            s.post(msg(
                "kpi-4",
                "whatsapp",
                "whatsapp",
                "+14155550142",
                "hello"
            ))
            .await
            .0,
            200
        );

        let (status, k) = s.get("/v1/analytics/kpis?from=2000-01-01").await;
        assert_eq!(status, 200, "{label}: {k}");
        assert_eq!(k["conversations"], 3, "{label}: {k}");
        let close = |field: &str, want: f64| {
            let got = k[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{label}: no {field} in {k}"));
            assert!(
                (got - want).abs() < 1e-9,
                "{label}: {field} = {got}, want {want}"
            );
        };
        close("channel_switch_rate", 1.0 / 3.0); // Grace's
        close("cross_channel_resolution_rate", 0.0); // Grace's was handed off
        close("first_contact_resolution", 1.0 / 3.0); // Ada's
        close("repeat_contact_rate", 0.0);
        close("escalation_rate", 1.0 / 3.0);
        assert_eq!(
            k["escalation_rate_by_reason"],
            json!({"explicit_request": 1.0 / 3.0})
        );
        // By first channel: rest 1 of 1, email 0 of 1, whatsapp 0 of 1; mean 1/3, variance
        // ((2/3)² + (1/3)² + (1/3)²) / 3 = 2/9.
        assert_eq!(
            k["automation_rate_by_channel"],
            json!({"rest": 1.0, "email": 0.0, "whatsapp": 0.0}),
            "{label}"
        );
        close("automation_rate_variance", 2.0 / 9.0);
        // The handoff summary is complete.
        close("context_transfer_completeness", 1.0);
        // Quality: Ada 1.0 (stored when her request resolved: resolved, answered at once,
        // sentiment steady); Grace 3/4 (not resolved yet, answered at once, sentiment steady,
        // a complete handoff summary); Alan 2/3 (nothing resolved; answered, sentiment steady).
        close("quality_mean", (1.0 + 0.75 + 2.0 / 3.0) / 3.0);
        assert_eq!(k["cross_channel_resolution_seconds_p50"], Value::Null);

        // A bad window is a 400 naming the field.
        let (status, bad) = s.get("/v1/analytics/kpis?from=yesterday").await;
        assert_eq!(status, 400);
        assert_eq!(bad["error"]["field"], "from", "{bad}");
        s.db.cleanup().await;
    }
}
