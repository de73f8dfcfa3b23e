//! The console over real HTTP on a real store: refused without an admin key (every route), a
//! browser signs in with one, and each page shows what the store, the flows and the eval report
//! hold. (The same pages in a real Chromium: `tests/end_to_end.rs`.)

use frontline_agent::testing::{repo_path, DemoParts};
use frontline_agent::Agent;
use frontline_domain::{Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions};
use frontline_server::access::{new_key, Access, ApiKeyConfig, Scope};
use frontline_server::console::ConsoleSettings;
use frontline_server::{router, AppState};
use frontline_store::testing::sqlite;
use std::sync::Arc;

struct Console {
    base: String,
    /// Follows no redirects, keeps no cookies: every request says exactly what it sends.
    http: reqwest::Client,
    agent: Arc<Agent>,
    admin: String,
    messages_only: String,
    _db: frontline_store::testing::TestStore,
    _dir: tempfile::TempDir,
}

async fn console(settings: impl FnOnce(&std::path::Path) -> ConsoleSettings) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite().await;
    let parts = DemoParts::new(dir.path()).await;
    let agent = Arc::new(parts.rule_agent(db.store.clone()));
    let (admin, admin_hash) = new_key();
    let (messages_only, messages_hash) = new_key();
    let access = Access::new(&[
        ApiKeyConfig {
            name: "cx-lead".into(),
            hash: admin_hash,
            scopes: vec![Scope::Admin],
        },
        ApiKeyConfig {
            name: "website".into(),
            hash: messages_hash,
            scopes: vec![Scope::Messages],
        },
    ])
    .unwrap();
    let state = Arc::new(AppState {
        store: agent.store().clone(),
        agent: agent.clone(),
        normalize: NormalizeOptions::default(),
        knowledge: None,
        channels: Default::default(),
        providers: Default::default(),
        intake: Default::default(),
        access,
        limits: Default::default(),
        console: settings(dir.path()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(frontline_server::serve(
        listener,
        router(state),
        std::future::pending(),
    ));
    Console {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        agent,
        admin,
        messages_only,
        _db: db,
        _dir: dir,
    }
}

fn message(channel: Channel, id: &str, sender: Identity, text: &str) -> InboundMessage {
    InboundMessage {
        channel,
        channel_message_id: id.into(),
        sender,
        also_known_as: vec![Identity {
            kind: IdentityKind::Email,
            value: "ada.lovelace1000@example.com".into(),
        }],
        assurance: frontline_domain::Assurance::Channel,
        display_name: None,
        text: text.into(),
        received_at: chrono::Utc::now(),
        conversation_hint: None,
        thread: Default::default(),
    }
}

/// A conversation that starts by email, moves to SMS and is handed to a person on request.
async fn switched_and_escalated(agent: &Agent) -> frontline_domain::ConversationId {
    let email = Identity {
        kind: IdentityKind::Email,
        value: "ada.lovelace1000@example.com".into(),
    };
    let phone = Identity {
        kind: IdentityKind::Phone,
        value: "+13035550100".into(),
    };
    let first = agent
        .handle(message(
            Channel::Email,
            "c-1",
            email,
            "Where is my order #W0000002?",
        ))
        .await
        .unwrap();
    let second = agent
        .handle(message(
            Channel::Sms,
            "c-2",
            phone,
            "I want to talk to a human",
        ))
        .await
        .unwrap();
    assert_eq!(first.conversation_id, second.conversation_id);
    assert_eq!(
        second.status,
        frontline_domain::ConversationStatus::HandedOff
    );
    first.conversation_id
}

impl Console {
    async fn get(&self, path: &str, auth: Option<(&str, String)>) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn admin_get(&self, path: &str) -> String {
        let (status, body) = self
            .get(
                path,
                Some(("authorization", format!("Bearer {}", self.admin))),
            )
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

#[tokio::test]
async fn every_console_route_is_refused_without_an_admin_key_and_a_browser_signs_in_with_one() {
    let c = console(|_| ConsoleSettings::default()).await;
    let conversation = switched_and_escalated(&c.agent).await;
    let customer = c
        .agent
        .store()
        .conversation(conversation)
        .await
        .unwrap()
        .customer_id;
    let pages = [
        "/console".to_string(),
        "/console/".to_string(),
        "/console?status=handed_off".to_string(),
        format!("/console/conversations/{conversation}"),
        format!("/console/conversations/{conversation}/live?after=0"),
        format!("/console/customers/{customer}"),
        "/console/flows".into(),
        "/console/flows/order_status".into(),
        "/console/knowledge?q=refund".into(),
        "/console/try".into(),
        "/console/kpis".into(),
        "/console/evals/report.html".into(),
        "/console/assets/console.css".into(),
        "/console/assets/console.js".into(),
    ];
    let forged = format!("frontline_console={}x", c.admin);
    for page in &pages {
        for (auth, expected) in [
            (None, 401),
            (Some(("cookie", forged.clone())), 401),
            (Some(("cookie", "frontline_console=".to_string())), 401),
            (
                Some(("authorization", format!("Bearer {}", c.messages_only))),
                403,
            ),
        ] {
            let (status, body) = c.get(page, auth.clone()).await;
            assert_eq!(status, expected, "{page} with {auth:?}: {body}");
            // Nothing the store or the flows hold, beyond what the request itself named.
            for private in [
                conversation.to_string(),
                customer.to_string(),
                "ada.lovelace1000".to_string(),
                "order_status".to_string(),
                "Where is my order".to_string(),
            ] {
                assert!(
                    page.contains(&private) || !body.contains(&private),
                    "{page} leaks {private} when refused: {body}"
                );
            }
        }
    }
    // Writes are refused too.
    for (path, body) in [
        ("/console/try", "session=00000000abcd&channel=sms&text=hi"),
        ("/console/logout", ""),
    ] {
        let response = c
            .http
            .post(format!("{}{path}", c.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    // A page asked for without a key shows the sign-in form, remembering where to go back to.
    let (_, form) = c.get("/console/flows", None).await;
    assert!(form.contains(r#"action="/console/login""#), "{form}");
    assert!(
        form.contains(r#"name="next" value="/console/flows""#),
        "{form}"
    );

    let sign_in = |key: String, next: &str| {
        c.http
            .post(format!("{}/console/login", c.base))
            .form(&[("key", key.as_str()), ("next", next)])
            .send()
    };
    // A key without the admin scope, and a wrong key, do not sign in.
    let refused = sign_in(c.messages_only.clone(), "/console").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
    let wrong = sign_in("fl_0000".into(), "/console").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("not valid"));
    // The admin key does: a cookie only the console gets, and back to the page asked for (but
    // never off the console).
    let signed = sign_in(c.admin.clone(), "/console/flows").await.unwrap();
    assert_eq!(signed.status(), 303);
    assert_eq!(signed.headers()["location"], "/console/flows");
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let offsite = sign_in(c.admin.clone(), "https://evil.example/")
        .await
        .unwrap();
    assert_eq!(offsite.headers()["location"], "/console");
    let pair = cookie.split(';').next().unwrap().to_string();
    for page in &pages[..4] {
        let (status, _) = c.get(page, Some(("cookie", pair.clone()))).await;
        assert_eq!(status, 200, "{page} with the sign-in cookie");
    }
    let out = c
        .http
        .post(format!("{}/console/logout", c.base))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

#[tokio::test]
async fn the_conversation_list_filters_and_the_timeline_shows_channels_commands_and_the_summary() {
    let c = console(|_| ConsoleSettings::default()).await;
    let conversation = switched_and_escalated(&c.agent).await;
    let id = conversation.to_string();

    for (filter, listed) in [
        ("", true),
        ("?status=handed_off", true),
        ("?status=bot", false),
        ("?channel=sms", true),
        ("?channel=whatsapp", false),
        ("?reason=explicit_request", true),
        ("?reason=negative_sentiment", false),
        // A status question, then a person: the tier is complex now.
        ("?tier=complex", true),
        ("?tier=informational", false),
        // Nothing in it reads as Spanish.
        ("?language=es", false),
        ("?from=2000-01-01&to=2999-12-31", true),
        ("?to=2000-01-01", false),
    ] {
        let page = c.admin_get(&format!("/console{filter}")).await;
        assert_eq!(page.contains(&id), listed, "{filter}: {page}");
    }
    let (status, bad) = c
        .get(
            "/console?reason=bored",
            Some(("x-api-key", c.admin.clone())),
        )
        .await;
    assert_eq!(status, 400);
    assert!(bad.contains("no escalation reason"), "{bad}");
    let (status, bad) = c
        .get("/console?tier=calm", Some(("x-api-key", c.admin.clone())))
        .await;
    assert_eq!(status, 400);
    assert!(bad.contains("no tier"), "{bad}");
    let (status, bad) = c
        .get("/console?language=xx", Some(("x-api-key", c.admin.clone())))
        .await;
    assert_eq!(status, 400);
    assert!(bad.contains("no language"), "{bad}");

    let page = c.admin_get(&format!("/console/conversations/{id}")).await;
    // One timeline across channels: each message with its channel's icon.
    assert!(page.contains(r#"data-channel="email""#), "{page}");
    assert!(page.contains(r#"data-channel="sms""#), "{page}");
    assert!(page.contains("Where is my order #W0000002?"));
    assert!(page.contains("I want to talk to a human"));
    // What understanding made of it, the flow and the action, and the handoff.
    assert!(page.contains("start_flow order_status"), "{page}");
    assert!(page.contains("get_order_details"), "{page}");
    assert!(page.contains("human_handoff"), "{page}");
    assert!(page.contains("Escalation summary, as the person received it"));
    assert!(page.contains("Handed to a person: explicit_request"));
    // Each change of tier, with why.
    assert!(
        page.contains("informational → <strong>complex</strong>"),
        "{page}"
    );
    assert!(
        page.contains("handed to a person (explicit_request)"),
        "{page}"
    );
    assert!(
        page.contains("ada.lovelace1000@example.com"),
        "identities shown"
    );
    assert!(page.contains(r#"class="chart sentiment""#));

    // Live: a new message appears on the timeline's stream.
    let logged = c.agent.store().event_count(conversation).await.unwrap();
    let live = format!("{}/console/conversations/{id}/live?after={logged}", c.base);
    let mut stream = c
        .http
        .get(&live)
        .header("x-api-key", &c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let agent = c.agent.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let phone = Identity {
            kind: IdentityKind::Phone,
            value: "+13035550100".into(),
        };
        agent
            .handle(message(Channel::Sms, "c-3", phone, "hello? anyone there"))
            .await
            .unwrap();
    });
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("hello? anyone there") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the new message arrives on the live stream")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: entries"), "{seen}");
    assert!(
        !seen.contains("Where is my order"),
        "only entries after the one asked for: {seen}"
    );
}

#[tokio::test]
async fn flows_are_drawn_with_eval_coverage_and_folder_errors_name_file_and_line() {
    let c = console(|dir| {
        // A copy of the demo flows with one broken file, and an eval report.
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        for entry in std::fs::read_dir(repo_path("flows")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                std::fs::copy(&path, flows.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::write(
            flows.join("broken.yaml"),
            "id: broken\ndescription: x\ntier: transactional\nsteps:\n  - collect: nowhere\n",
        )
        .unwrap();
        let report = dir.join("eval-report");
        std::fs::create_dir_all(&report).unwrap();
        ConsoleSettings {
            flows_dir: Some(flows),
            eval_report_dir: Some(report),
        }
    })
    .await;
    let flow = c.agent.flows().get("order_status").unwrap().clone();
    let graph = frontline_flows::graph::FlowGraph::of(&flow);
    let never = &graph.nodes[1].id;
    let ran = &graph.nodes[0].id;

    // No report yet: drawn without coverage.
    let page = c.admin_get("/console/flows/order_status").await;
    assert!(page.contains("No eval report yet"), "{page}");
    for node in &graph.nodes {
        assert!(
            page.contains(&format!(r#"data-step="{}""#, node.id)),
            "{} drawn",
            node.id
        );
    }
    let report_dir = c._dir.path().join("eval-report");
    std::fs::write(
        report_dir.join("report.json"),
        serde_json::json!({
            "mode": "local", "cases": 4, "passed": 3, "pass_rate": 0.75,
            "coverage": {"flows": 1.0, "steps": 0.9,
                "per_flow": [{"flow": "order_status", "steps": graph.nodes.len(), "covered": graph.nodes.len() - 1}],
                "uncovered": [{"flow": "order_status", "step": never, "at": "flows/order_status.yaml:20"}]}
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(report_dir.join("report.html"), "<h1>the eval report</h1>").unwrap();
    let page = c.admin_get("/console/flows/order_status").await;
    assert!(
        page.contains(&format!(r#"uncovered" data-step="{never}""#)),
        "the step no case ran is marked: {page}"
    );
    assert!(
        page.contains(&format!(r#"covered" data-step="{ran}""#)),
        "{page}"
    );

    let list = c.admin_get("/console/flows").await;
    assert!(list.contains("The flows folder does not load"), "{list}");
    assert!(
        list.contains("broken.yaml:5:"),
        "file:line of the error: {list}"
    );
    assert!(list.contains(&format!(
        "{}/{} steps",
        graph.nodes.len() - 1,
        graph.nodes.len()
    )));

    let kpis = c.admin_get("/console/kpis").await;
    assert!(kpis.contains("3 of 4 cases passed"), "{kpis}");
    assert_eq!(
        c.admin_get("/console/evals/report.html").await,
        "<h1>the eval report</h1>"
    );
    let (status, _) = c
        .get("/console/flows/nope", Some(("x-api-key", c.admin.clone())))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_playground_runs_the_agent_as_any_channel_and_shows_its_decision() {
    let c = console(|_| ConsoleSettings::default()).await;
    // A new visitor gets a session.
    let (status, _) = c
        .get("/console/try", Some(("x-api-key", c.admin.clone())))
        .await;
    assert_eq!(status, 303);
    let say = |channel: &str, text: &str| {
        c.http
            .post(format!("{}/console/try", c.base))
            .header("x-api-key", &c.admin)
            .form(&[
                ("session", "0000000abc12"),
                ("channel", channel),
                ("text", text),
            ])
            .send()
    };
    let sent = say("sms", "where is my order?").await.unwrap();
    assert_eq!(sent.status(), 303);
    let back = sent.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(back, "/console/try?session=0000000abc12&channel=sms");
    let page = c.admin_get(&back).await;
    assert!(page.contains("where is my order?"), "{page}");
    assert!(
        page.contains("start_flow order_status"),
        "the commands: {page}"
    );
    assert!(
        page.contains("active: <code>order_status</code>"),
        "the engine: {page}"
    );
    assert!(
        page.contains("unsure turns in a row"),
        "the policy's standing: {page}"
    );
    assert!(page.contains(r#"data-channel="sms""#));

    // Switching channel continues the same conversation.
    say("email", "ada.lovelace1000@example.com").await.unwrap();
    let page = c
        .admin_get("/console/try?session=0000000abc12&channel=email")
        .await;
    assert!(page.contains(r#"data-channel="email""#), "{page}");
    assert!(
        page.contains("where is my order?"),
        "one conversation: {page}"
    );
    assert!(page.contains("set_slot email"), "{page}");

    // Bad input is refused with a reason.
    let bad = say("chatwoot", "hi").await.unwrap();
    assert_eq!(bad.status(), 400);
    let bad = c
        .http
        .post(format!("{}/console/try", c.base))
        .header("x-api-key", &c.admin)
        .form(&[("session", "../x"), ("channel", "sms"), ("text", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
