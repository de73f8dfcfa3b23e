//! The real `frontline` binary, driven as a user would: `serve` answers over loopback HTTP on
//! every store backend, `chat` runs the same pipeline in a terminal, bad config fails clearly.

use frontline_store::testing::{postgres, TestStore};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support;

use support::{frontline, sigterm_and_wait, start, start_on, webchat_session, Running};

async fn post_message(http: &reqwest::Client, base: &str, body: &Value) -> Value {
    let response = http
        .post(format!("{base}/v1/messages"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn serve_and_talk(db: Option<TestStore>) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.as_ref().map(TestStore::url);
    let (server, base) = start(dir.path(), url);
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let body = json!({
        "channel_message_id": "e2e-1",
        "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"},
        "text": "Hi! Where is my order #W0000002?"
    });
    let reply = post_message(&http, &base, &body).await;
    let text = reply["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Order #W0000002 was delivered on"), "{reply}");
    let conversation_id = reply["conversation_id"].as_str().unwrap();

    // The same customer on another channel lands in the same conversation.
    let sms = json!({
        "channel": "sms",
        "channel_message_id": "SM-e2e-2",
        "sender": {"kind": "phone", "value": "+1 303 555 0100"},
        "also_known_as": [{"kind": "email", "value": "ada.lovelace1000@example.com"}],
        "text": "thanks!"
    });
    let second = post_message(&http, &base, &sms).await;
    assert_eq!(
        second["conversation_id"].as_str(),
        Some(conversation_id),
        "{second}"
    );

    let view: Value = http
        .get(format!("{base}/v1/conversations/{conversation_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = view["events"].as_array().unwrap();
    let replies: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "reply_sent")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(replies.len(), 2, "{view}");
    assert_eq!(replies[0], text);
    assert_eq!(
        view["conversation"]["channels_seen"],
        json!(["rest", "sms"])
    );

    // Informational questions are answered from the knowledge base, with the source named.
    let question = json!({
        "channel_message_id": "e2e-3",
        "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"},
        "text": "How long does a refund to my credit card take?"
    });
    let answer = post_message(&http, &base, &question).await;
    let text = answer["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("5 to 7 business days")
            && text.contains("Source: When will I get my refund?"),
        "{answer}"
    );
    assert_eq!(
        answer["commands"][0]["type"], "answer_from_knowledge",
        "{answer}"
    );

    // And searchable over the API, with scores, citations and the gate's verdict.
    let found: Value = http
        .get(format!("{base}/v1/knowledge/search"))
        .query(&[("q", "do gift cards expire"), ("k", "3")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let passages = found["passages"].as_array().unwrap();
    assert_eq!(passages.len(), 3, "{found}");
    assert_eq!(
        passages[0]["citation"]["document"], "gift-cards.md",
        "{found}"
    );
    assert!(passages[0]["similarity"].as_f64().unwrap() > 0.4, "{found}");
    assert!(found["abstain"].is_null(), "{found}");
    for (query, field) in [("k=3", "q"), ("q=hi&k=0", "k"), ("q=hi&k=500", "k")] {
        let bad = http
            .get(format!("{base}/v1/knowledge/search?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400, "{query}");
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }

    let status = sigterm_and_wait(server);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    if let Some(db) = db {
        db.cleanup().await;
    }
}

#[tokio::test]
async fn serve_answers_over_http_on_sqlite() {
    serve_and_talk(None).await;
}

#[tokio::test]
async fn serve_answers_over_http_on_postgres() {
    // The helper gives an isolated schema; the server process opens it by URL.
    if let Some(db) = postgres().await {
        serve_and_talk(Some(db)).await;
    }
}

#[test]
fn chat_runs_the_same_pipeline_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = frontline(dir.path())
        .args(["chat", "--as", "email:ada.lovelace1000@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"where is my order?\nW0000001\n/as email:nobody@example.com\nwhere is my order W0000001\n/quit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("frontline> Which order would you like to know about?\n1) #W0000001"),
        "{stdout}"
    );
    assert!(
        stdout.contains("flow order_status · step s3 · waiting for order_id"),
        "{stdout}"
    );
    assert!(stdout.contains("frontline> Order #W0000001"), "{stdout}");
    assert!(
        stdout.contains("(you are now email:nobody@example.com)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("what's the email address you ordered with?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4) #W0000004: Office Chair, Water Bottle, Desk Lamp, delivered, placed "),
        "prompts are whole: {stdout}"
    );
}

#[test]
fn a_bad_configuration_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("frontline.toml"),
        "[server]\nbnid = \"oops\"\n",
    )
    .unwrap();
    let out = frontline(dir.path()).args(["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid configuration") && stderr.contains("bnid"),
        "{stderr}"
    );

    let out = frontline(dir.path())
        .args(["--config", "nope.toml", "serve"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml does not exist"));
}

#[test]
fn ingest_reports_what_changed_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("kb");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.md"), "# Alpha\n\nFirst article.\n").unwrap();
    std::fs::write(docs.join("broken.md"), "---\ntitle: [oops\n---\n# B\n").unwrap();
    let ingest = |extra: &[&str]| {
        let out = frontline(dir.path())
            .arg("ingest")
            .arg(&docs)
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, first) = ingest(&[]);
    assert!(ok, "{first}");
    assert!(
        first.contains("1 files (1 skipped): 1 chunks added"),
        "{first}"
    );
    assert!(
        first.contains("warning: skipped broken.md:3: front matter"),
        "the skipped file is named with its line: {first}"
    );
    let (ok, second) = ingest(&[]);
    assert!(
        ok && second.contains("0 chunks added, 0 updated, 0 removed, 1 unchanged"),
        "{second}"
    );

    // A missing model says which command installs it.
    let out = frontline(dir.path())
        .env(
            "FRONTLINE_KNOWLEDGE__MODEL_DIR",
            dir.path().join("no-model"),
        )
        .arg("ingest")
        .arg(&docs)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scripts/model.sh"), "{stderr}");
}

#[test]
fn ingest_watch_picks_up_edits() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("kb");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("a.md"), "# Alpha\n\nFirst article.\n").unwrap();
    let mut child = Running(
        frontline(dir.path())
            .args(["ingest", "--watch", "--poll-ms", "100"])
            .arg(&docs)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    // Lines arrive through a channel so a watcher that misses the edit fails the test in time
    // instead of blocking it forever.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the watcher printed its next line within a minute")
    };
    assert!(next().contains("1 chunks added"));
    assert!(next().starts_with("watching"));
    std::fs::write(docs.join("b.md"), "# Beta\n\nSecond article.\n").unwrap();
    let line = next();
    assert!(
        line.contains("re-ingested")
            && line.contains("1 chunks added, 0 updated, 0 removed, 1 unchanged"),
        "{line}"
    );
}

#[test]
fn llm_mode_refuses_to_start_without_an_endpoint_or_with_a_bad_cassette_mode() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |envs: &[(&str, &str)]| {
        let mut cmd = frontline(dir.path());
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env("FRONTLINE_UNDERSTANDING__MODE", "llm")
            .env("FRONTLINE_KNOWLEDGE__ENABLED", "false");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stderr) = serve(&[]);
    assert!(!ok);
    assert!(stderr.contains("no endpoint is configured"), "{stderr}");
    let (ok, stderr) = serve(&[
        ("FRONTLINE_LLM__BASE_URL", "http://127.0.0.1:9/v1"),
        ("FRONTLINE_LLM__CASSETTE", "rewind"),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("[llm] cassette")
            && stderr.contains("expected off, record, replay or fill"),
        "{stderr}"
    );
}

/// A folder for a browser test's screenshots, in the target folder.
fn screenshots(name: &str) -> std::path::PathBuf {
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

/// Run `tests/<script>` in a real headless Chromium (Debian `chromium`, driven by
/// playwright-core; `scripts/browser.sh` installs both) against `base`, and return the JSON
/// line it prints of what it saw (failing the test if the script reported an error).
fn in_browser(script: &str, base: &str, shots: &std::path::Path, env: &[(&str, String)]) -> Value {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(format!("{repo}/scripts/browser.sh"))
        .output()
        .expect("running scripts/browser.sh");
    assert!(
        out.status.success(),
        "scripts/browser.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = String::from_utf8(out.stdout).unwrap();
    let (node_modules, chromium) = found.trim().split_once('\t').expect("two paths");
    let run = Command::new("node")
        .arg(format!("{repo}/tests/{script}"))
        .args([base, chromium])
        .arg(shots)
        .env("NODE_PATH", node_modules)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&run.stderr)));
    assert!(seen.get("error").is_none(), "{seen}");
    seen
}

/// The web chat in a real headless Chromium (Debian `chromium`, driven by playwright-core; both
/// installed by `scripts/browser.sh`): a question answered from the knowledge base, streamed
/// into the widget, then the order-status flow run to its end by an anonymous visitor, who
/// proves the account with the one-time code its email received over real SMTP. Leaves a
/// screenshot in the target folder (`webchat/webchat.png`).
#[test]
fn the_web_chat_works_in_a_real_browser() {
    let shots = screenshots("webchat");

    let dir = tempfile::tempdir().unwrap();
    let smtp = support::smtp();
    let mut cmd = frontline(dir.path());
    cmd.env("FRONTLINE_CHANNELS__EMAIL__ADDRESS", "support@shop.example")
        .env(
            "FRONTLINE_KNOWLEDGE__HELP_CENTRE_URL",
            "https://help.shop.example",
        )
        .env(
            "FRONTLINE_CHANNELS__EMAIL__SMTP_URL",
            format!("smtp://127.0.0.1:{}", smtp.port),
        );
    let (server, base) = start_on(cmd, "127.0.0.1:0", None);
    let script = json!([
        "How long does a refund take?",
        "where is my order?",
        "ada.lovelace1000@example.com",
        {"code_in": smtp.maildir.join("new")},
        "W0000002"
    ]);
    let seen = in_browser(
        "webchat.e2e.cjs",
        &base,
        &shots,
        &[("WEBCHAT_SCRIPT", script.to_string())],
    );
    drop(server);
    let replies: Vec<&str> = seen["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(replies.len(), 5, "{seen}");
    assert!(
        replies[0].contains("refund") && replies[0].contains("(Source:"),
        "{}",
        replies[0]
    );
    // The article's hard-wrapped lines are reflowed: every line the customer sees ends a
    // sentence, a list item or a heading, never mid-sentence ("Refunds to / a gift card").
    for line in replies[0].lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.trim_end().ends_with(['.', '?', '!', ':', ')']),
            "a line broken mid-sentence: {line:?} in {}",
            replies[0]
        );
    }
    // Its source is a link to the article in the help centre, opening beside the chat.
    let link = &seen["links"][0];
    assert!(
        link["href"]
            .as_str()
            .unwrap()
            .starts_with("https://help.shop.example/refund-timing"),
        "{seen}"
    );
    assert_eq!(link["target"], "_blank", "{seen}");
    assert!(replies[0].contains(&format!("(Source: {})", link["text"].as_str().unwrap())));
    assert!(replies[1].contains("email address"), "{}", replies[1]);
    assert!(replies[2].contains("6-digit code"), "{}", replies[2]);
    // Her orders are offered; the visitor answers with a number anyway.
    assert!(
        replies[3].contains("Which order would you like to know about?"),
        "{}",
        replies[3]
    );
    assert!(
        replies[4].contains("Order #W0000002 was delivered on"),
        "{}",
        replies[4]
    );
    // The replies arrived streamed, piece by piece, not as four whole messages.
    assert!(seen["tokens"].as_u64().unwrap() > 20, "{seen}");
    assert!(shots.join("webchat.png").metadata().unwrap().len() > 1000);
    // The order found, the survey follows at once with a 1–5 strip; a tap answers it.
    assert_eq!(seen["strip"], json!(["1", "2", "3", "4", "5"]), "{seen}");
    assert!(
        seen["survey"].as_str().unwrap().contains("How satisfied"),
        "{seen}"
    );
    assert_eq!(seen["tapped"], "5", "{seen}");
    assert!(
        seen["after_tap"].as_str().unwrap().contains("how easy"),
        "{seen}"
    );
    assert!(shots.join("webchat-survey.png").metadata().unwrap().len() > 1000);
}

/// The eval gate CI relies on: every conversation suite, through the binary on embedded
/// defaults, against the committed baseline (`evals/baseline.json`). A case that passed there
/// and fails now, or a gated figure that fell by more than the tolerance, fails this test.
#[test]
fn every_suite_holds_the_committed_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = frontline(dir.path())
        .args(["eval", "--mode", "local", "--dir"])
        .arg(format!("{repo}/evals/suites"))
        .arg("--baseline")
        .arg(format!("{repo}/evals/baseline.json"))
        .arg("--report")
        .arg(dir.path().join("report"))
        .output()
        .expect("frontline eval runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("against the baseline: 0 regressions"),
        "{stdout}"
    );
}

#[test]
fn eval_writes_its_report_and_a_broken_flow_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/../../evals/suites");
    let eval = |flows: &std::path::Path, extra: &[&str]| {
        let mut cmd = frontline(dir.path());
        cmd.env("FRONTLINE_FLOWS__DIR", flows)
            .args(["eval", "flows", "--dir", suites, "--report"])
            .arg(dir.path().join("report"))
            .args(extra);
        cmd.output().expect("frontline eval runs")
    };
    let flows = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows"));
    let baseline = dir.path().join("baseline.json");
    let good = eval(flows, &["--save-baseline", baseline.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(stdout.contains("cases passed (100.0%)"), "{stdout}");
    assert!(stdout.contains("coverage: flows"), "{stdout}");
    for file in ["report/report.json", "report/report.html", "baseline.json"] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }

    // Break a flow (pending orders can no longer be cancelled) and compare.
    let broken = dir.path().join("broken-flows");
    std::fs::create_dir_all(&broken).unwrap();
    for entry in std::fs::read_dir(flows).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(entry.path()).unwrap().replace(
                "if: order.status != \"pending\"",
                "if: order.status == \"pending\"",
            );
            std::fs::write(broken.join(entry.file_name()), text).unwrap();
        }
    }
    let bad = eval(&broken, &["--baseline", baseline.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&bad.stdout);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("REGRESSION case flows/cancel a pending order passed, now fails"),
        "{stdout}"
    );
    assert!(stderr.contains("the eval gate failed"), "{stderr}");

    // A malformed suite names its file and line.
    let bad_suites = dir.path().join("bad-suites");
    std::fs::create_dir_all(&bad_suites).unwrap();
    std::fs::write(
        bad_suites.join("typo.yaml"),
        "suite: typo\ncases:\n  - name: one\n    steps:\n      - {text: hi, expect: [flow_startd: x]}\n",
    )
    .unwrap();
    let out = frontline(dir.path())
        .args(["eval", "--dir"])
        .arg(&bad_suites)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("typo.yaml:5:"), "{stderr}");
}

#[tokio::test]
async fn logs_never_show_emails_phones_or_card_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = frontline(dir.path());
    // Debug logs carry each message's sender and text: the most there is to leak.
    cmd.env(
        "RUST_LOG",
        "debug,qdrant_edge=error,sqlx=warn,hyper=warn,h2=warn",
    )
    .stderr(Stdio::piped());
    let (mut server, base) = start_on(cmd, "127.0.0.1:0", None);
    let stderr = server.0.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut all = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut all).unwrap();
        all
    });
    let http = reqwest::Client::new();
    post_message(
        &http,
        &base,
        &json!({
            "channel_message_id": "pii-1",
            "sender": {"kind": "email", "value": "Grace.Hopper@example.com"},
            "text": "my card 4111 1111 1111 1111 was charged twice, call me on 415 555 0199 or write to grace@navy.example.org",
        }),
    )
    .await;
    post_message(
        &http,
        &base,
        &json!({
            "channel_message_id": "pii-2",
            "sender": {"kind": "phone", "value": "+14155550123"},
            "text": "where is my order?",
        }),
    )
    .await;
    assert!(sigterm_and_wait(server).success());
    let logs = logs.join().unwrap();
    for pii in [
        "grace.hopper@example.com",
        "Grace.Hopper@example.com",
        "grace@navy.example.org",
        "4111 1111 1111 1111",
        "415 555 0199",
        "+14155550123",
    ] {
        assert!(!logs.contains(pii), "{pii} is in the logs:\n{logs}");
    }
    // The lines were written, with the values replaced.
    for mask in ["[email]", "[card]", "[phone]"] {
        assert!(logs.contains(mask), "no {mask} in the logs:\n{logs}");
    }
}

#[tokio::test]
async fn sigterm_runs_every_queued_turn_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start(dir.path(), None);
    let http = reqwest::Client::new();
    let (session, cookie) = webchat_session(&http, &base).await;
    let mut queued = vec![];
    for text in [
        "hello",
        "do gift cards expire?",
        "how long does delivery take?",
        "thanks",
        "which payment methods do you accept?",
        "bye",
    ] {
        let r = http
            .post(format!("{base}/v1/webchat/messages"))
            .header("cookie", &cookie)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        queued.push(body["message_id"].as_str().unwrap().to_string());
    }
    // Stop at once: the turns are still queued.
    assert!(sigterm_and_wait(server).success());

    let url = format!(
        "sqlite://{}",
        dir.path().join("data/frontline.db").display()
    );
    let store = frontline_store::Store::connect(&url).await.unwrap();
    assert_eq!(
        store.inbound_backlog().await.unwrap(),
        0,
        "queued turns were left"
    );
    let customer = store
        .identity_owner(&frontline_domain::Identity {
            kind: frontline_domain::IdentityKind::WebSession,
            value: session,
        })
        .await
        .unwrap()
        .expect("the visitor's customer");
    let conversation = &store.conversations_of(customer).await.unwrap()[0];
    let events = store.events(conversation.id).await.unwrap();
    let received: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            frontline_domain::EventKind::MessageReceived {
                channel_message_id, ..
            } => Some(channel_message_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        received, queued,
        "every acknowledged message had its turn, in order"
    );
    let replies = events
        .iter()
        .filter(|e| e.kind.name() == "reply_sent")
        .count();
    assert_eq!(replies, queued.len());
    store.close().await;
}

/// With `[log] otlp_endpoint` set, the spans reach an OpenTelemetry collector (here one on
/// loopback taking OTLP over HTTP with JSON bodies, as a real collector does): each turn is a
/// `turn` span of the service `frontline`, carrying its channel and ids, and nothing the
/// customer wrote. The last spans are sent when the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_spans_are_exported_to_an_opentelemetry_collector() {
    use axum::extract::State;
    use std::sync::{Arc, Mutex};

    /// What the collector received: (content type, body) per export.
    type Exports = Arc<Mutex<Vec<(String, String)>>>;
    let exports: Exports = Arc::default();
    let collector =
        axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(
                    |State(exports): State<Exports>,
                     headers: axum::http::HeaderMap,
                     body: String| async move {
                        let kind = headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        exports.lock().unwrap().push((kind, body));
                        ([("content-type", "application/json")], "{}")
                    },
                ),
            )
            .with_state(exports.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut cmd = frontline(dir.path());
    cmd.env("FRONTLINE_LOG__OTLP_ENDPOINT", &collector_url)
        .env("FRONTLINE_LOG__OTLP_PROTOCOL", "http/json")
        .env("RUST_LOG", "info");
    let (server, base) = start_on(cmd, "127.0.0.1:0", None);
    let http = reqwest::Client::new();
    let body = json!({
        "channel_message_id": "otel-1",
        "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"},
        "text": "Where is my order #W0000002?"
    });
    post_message(&http, &base, &body).await;
    assert!(sigterm_and_wait(server).success());

    let exports = exports.lock().unwrap().clone();
    assert!(!exports.is_empty(), "nothing reached the collector");
    let mut turns = vec![];
    for (kind, body) in &exports {
        assert_eq!(kind, "application/json", "OTLP/HTTP JSON");
        assert!(
            !body.contains("ada.lovelace1000") && !body.contains("Where is my order"),
            "an export carries what the customer wrote: {body}"
        );
        let export: Value = serde_json::from_str(body).unwrap();
        for resource in export["resourceSpans"].as_array().unwrap() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone());
            assert_eq!(service, Some(json!("frontline")));
            for scope in resource["scopeSpans"].as_array().unwrap() {
                for span in scope["spans"].as_array().unwrap() {
                    if span["name"] == "turn" {
                        turns.push(span.clone());
                    }
                }
            }
        }
    }
    assert_eq!(turns.len(), 1, "one turn, one span: {exports:?}");
    let attribute = |key: &str| {
        turns[0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].clone())
            .unwrap_or_else(|| panic!("no {key} on the turn span: {}", turns[0]))
    };
    assert_eq!(attribute("channel"), json!("rest"));
    assert_eq!(attribute("channel_message_id"), json!("otel-1"));
    assert!(attribute("conversation_id").as_str().is_some());
    assert!(attribute("customer_id").as_str().is_some());
    assert!(turns[0]["traceId"].as_str().is_some_and(|t| t.len() == 32));
}

/// The console in a real headless Chromium (Debian `chromium`, driven by playwright-core): sign
/// in with the admin key, open a conversation that switched channels and escalated and see its
/// timeline and summary, open a flow graph, run a knowledge search, chat in the playground and
/// see the decision panel follow. Without the key the console is refused. Leaves a screenshot
/// of each page in the target folder (`console/*.png`).
#[test]
fn the_console_works_in_a_real_browser() {
    let shots = screenshots("console");

    let dir = tempfile::tempdir().unwrap();
    let (admin, admin_hash) = frontline_server::access::new_key();
    let (website, website_hash) = frontline_server::access::new_key();
    std::fs::write(
        dir.path().join("frontline.toml"),
        format!(
            "[[security.api_keys]]\nname = \"cx-lead\"\nhash = \"{admin_hash}\"\nscopes = [\"admin\"]\n\n\
             [[security.api_keys]]\nname = \"website\"\nhash = \"{website_hash}\"\nscopes = [\"messages\"]\n\n\
             [surveys.channels.sms]\ndelay_seconds = 0\n"
        ),
    )
    .unwrap();
    let (server, base) = start(dir.path(), None);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let conversation = runtime.block_on(async {
        let http = reqwest::Client::new();
        let say = |body: Value| {
            http.post(format!("{base}/v1/messages"))
                .bearer_auth(&website)
                .json(&body)
                .send()
        };
        let first: Value = say(json!({
            "channel": "email",
            "channel_message_id": "console-1",
            "sender": {"kind": "email", "value": "ada.lovelace1000@example.com"},
            "text": "Where is my order #W0000002?"
        }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let second: Value = say(json!({
            "channel": "sms",
            "channel_message_id": "console-2",
            "sender": {"kind": "phone", "value": "+1 303 555 0100"},
            "also_known_as": [{"kind": "email", "value": "ada.lovelace1000@example.com"}],
            "text": "This is useless, I want to talk to a human"
        }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(second["status"], "handed_off", "{second}");
        assert_eq!(first["conversation_id"], second["conversation_id"]);
        // Another customer by SMS: a question the help centre cannot answer, one it can,
        // thanks (resolved: scored, and surveyed at once), a low rating with a comment.
        for (i, text) in [
            "do you sell gift wrapping for birthdays?",
            "how long does a refund take?",
            "ok thanks",
            "2 the article never says when the money arrives",
            "4",
        ]
        .into_iter()
        .enumerate()
        {
            let reply: Value = say(json!({
                "channel": "sms",
                "channel_message_id": format!("console-rated-{i}"),
                "sender": {"kind": "phone", "value": "+1 415 555 0123"},
                "text": text
            }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            assert_eq!(reply["status"], "bot", "{text}: {reply}");
        }
        // Without the key, the console is refused (the browser below sees the same).
        let refused = http.get(format!("{base}/console")).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        first["conversation_id"].as_str().unwrap().to_string()
    });

    let seen = in_browser(
        "console.e2e.cjs",
        &base,
        &shots,
        &[
            ("CONSOLE_KEY", admin),
            ("CONSOLE_CONVERSATION", conversation),
        ],
    );
    drop(server);
    assert_eq!(seen["signedOutStatus"], 401, "{seen}");
    assert_eq!(seen["signedOutHasTable"], false, "{seen}");
    assert_eq!(seen["afterSignIn"], "/console", "{seen}");
    assert_eq!(seen["timelineChannels"], json!(["email", "sms"]), "{seen}");
    let summary = seen["summary"].as_str().unwrap();
    assert!(
        summary.contains("ada.lovelace1000@example.com") && summary.contains("#W0000002"),
        "the summary as the person saw it: {summary}"
    );
    assert!(
        seen["escalation"]
            .as_str()
            .unwrap()
            .contains("explicit_request"),
        "{seen}"
    );
    // Quality: worst first; the handed-off conversation (not resolved, a person has it) and
    // the rated one (its survey missed) are both listed, with their distributions.
    let scores: Vec<f64> = seen["qualityScores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 2, "{seen}");
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    let missed = seen["qualityMissed"].to_string();
    assert!(
        missed.contains("survey") && missed.contains("resolved"),
        "{missed}"
    );
    assert_eq!(seen["qualityChannels"], json!(["email", "sms"]), "{seen}");
    assert!(
        !seen["qualityTiers"].as_array().unwrap().is_empty(),
        "{seen}"
    );
    let gaps = seen["gaps"].to_string();
    assert!(gaps.contains("gift wrapping"), "{gaps}");
    assert!(gaps.contains("answered, rated 2/5"), "{gaps}");
    assert!(
        gaps.contains("the article never says when the money arrives"),
        "{gaps}"
    );
    let rubric: Vec<&str> = seen["rubric"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rubric.contains(&"survey: missed"), "{rubric:?}");
    assert!(rubric.contains(&"grounded: met"), "{rubric:?}");
    assert!(rubric.contains(&"summary complete: n/a"), "{rubric:?}");
    for shot in ["console-quality.png", "console-quality-conversation.png"] {
        assert!(shots.join(shot).metadata().unwrap().len() > 1000, "{shot}");
    }
    assert!(seen["flowSteps"].as_u64().unwrap() >= 10, "{seen}");
    assert!(seen["flowEdges"].as_u64().unwrap() >= 10, "{seen}");
    assert!(seen["flowGraphHeight"].as_f64().unwrap() > 300.0, "{seen}");
    assert!(
        seen["verdict"].as_str().unwrap().contains("Would answer"),
        "{seen}"
    );
    assert!(
        seen["firstCitation"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refund"),
        "{seen}"
    );
    assert!(seen["articles"].as_u64().unwrap() >= 25, "{seen}");
    let decisions: Vec<&str> = seen["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        decisions[0].contains("start_flow order_status"),
        "{}",
        decisions[0]
    );
    assert!(
        decisions[0].contains("waiting for email"),
        "{}",
        decisions[0]
    );
    assert!(decisions[1].contains("set_slot email"), "{}", decisions[1]);
    assert_ne!(decisions[0], decisions[1], "the panel follows the turn");
    assert!(
        seen["transcriptChannels"]
            .as_array()
            .unwrap()
            .contains(&json!("sms"))
            && seen["transcriptChannels"]
                .as_array()
                .unwrap()
                .contains(&json!("email")),
        "{seen}"
    );
    for shot in [
        "conversations",
        "conversation",
        "flow",
        "knowledge",
        "playground",
    ] {
        let file = shots.join(format!("console-{shot}.png"));
        assert!(
            file.metadata().map(|m| m.len() > 5000).unwrap_or(false),
            "{} was saved",
            file.display()
        );
    }
}
