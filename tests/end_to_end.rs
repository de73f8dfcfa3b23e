//! The real `frontline` binary, driven as a user would: `serve` answers over loopback HTTP on
//! every store backend, `chat` runs the same pipeline in a terminal, bad config fails clearly.

use frontline_store::testing::{postgres, TestStore};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_frontline");

/// Kills the server if a test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn frontline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    // Run in an empty folder with only our variables, so no local frontline.toml leaks in.
    cmd.current_dir(dir)
        .env_remove("FRONTLINE_CONFIG")
        .env("FRONTLINE_DATA_DIR", dir.join("data"))
        .env(
            "FRONTLINE_FLOWS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows"),
        )
        .env(
            "FRONTLINE_KNOWLEDGE__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../knowledge"),
        )
        // The default understanding; an OPENAI_* variable of the developer's must not switch
        // these tests to LLM mode.
        .env("FRONTLINE_UNDERSTANDING__MODE", "local")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env("RUST_LOG", "warn");
    cmd
}

/// Start `frontline serve` on a free port; returns the process and its base URL.
fn start(dir: &std::path::Path, database_url: Option<String>) -> (Running, String) {
    let mut cmd = frontline(dir);
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.env("FRONTLINE_STORE__DATABASE_URL", url);
    }
    let mut child = cmd.spawn().expect("spawn frontline serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let base = line
        .trim()
        .strip_prefix("frontline listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (Running(child), base)
}

fn sigterm_and_wait(mut server: Running) -> std::process::ExitStatus {
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "frontline did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

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
        stdout.contains("frontline> Which order should I check?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("flow order_status · step s2 · waiting for order_id"),
        "{stdout}"
    );
    assert!(stdout.contains("frontline> Order #W0000001"), "{stdout}");
    assert!(
        stdout.contains("(you are now email:nobody@example.com)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("I couldn't find an account with nobody@example.com"),
        "{stdout}"
    );
    assert!(stdout.contains("frontline> Which order should I check? Please send its order number (it looks like #W1234567)."), "prompts are whole: {stdout}");
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
        stderr.contains("[llm] cassette") && stderr.contains("expected off, record or replay"),
        "{stderr}"
    );
}

/// The web chat in a real headless Chromium (Debian `chromium`, driven by playwright-core; both
/// installed by `scripts/browser.sh`): a question answered from the knowledge base, streamed
/// into the widget, then the order-status flow run to its end. Leaves a screenshot in the
/// target folder (`webchat/webchat.png`).
#[test]
fn the_web_chat_works_in_a_real_browser() {
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
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("webchat");
    std::fs::create_dir_all(&shots).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start(dir.path(), None);
    let script = json!([
        "How long does a refund take?",
        "where is my order?",
        "ada.lovelace1000@example.com",
        "W0000002"
    ]);
    let run = Command::new("node")
        .arg(format!("{repo}/tests/webchat.e2e.cjs"))
        .args([base.as_str(), chromium])
        .arg(&shots)
        .env("NODE_PATH", node_modules)
        .env("WEBCHAT_SCRIPT", script.to_string())
        .output()
        .expect("node runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&run.stderr)));
    assert!(seen.get("error").is_none(), "{seen}");
    let replies: Vec<&str> = seen["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(replies.len(), 4, "{seen}");
    assert!(
        replies[0].contains("refund") && replies[0].contains("(Source:"),
        "{}",
        replies[0]
    );
    assert!(replies[1].contains("email address"), "{}", replies[1]);
    assert!(replies[2].contains("order number"), "{}", replies[2]);
    assert!(
        replies[3].contains("Order #W0000002 was delivered on"),
        "{}",
        replies[3]
    );
    // The replies arrived streamed, piece by piece, not as four whole messages.
    assert!(seen["tokens"].as_u64().unwrap() > 20, "{seen}");
    assert!(shots.join("webchat.png").metadata().unwrap().len() > 1000);
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
