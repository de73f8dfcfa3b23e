//! The suites of `evals/suites/` on the real parts: the local understanding (all-MiniLM-L6-v2),
//! the demo knowledge base in an embedded qdrant-edge shard, the demo shop and SQLite. Every case
//! must pass and the figures must meet the issues' targets; a broken flow must fail the gate;
//! the HTML report must render in a real headless Chromium.

use frontline_agent::testing::{demo_now, demo_shop, minilm, repo_path};
use frontline_agent::EscalationSettings;
use frontline_domain::{Channel, EscalationTrigger};
use frontline_evals::{
    compare, figures, load_suites, parse_suite, run_suites, Baseline, Figures, Report, Suite, World,
};
use frontline_flows::{Engine, FlowSet};
use frontline_knowledge::{EdgeIndex, Embedder, KnowledgeBase, KnowledgeSettings};
use frontline_llm::testing::LlamaServer;
use frontline_llm::{Cassette, CassetteMode, LlmClient, LlmSettings};
use frontline_understanding::llm::{
    LlmAnswerWriter, LlmUnderstanding, Template, ANSWER_PLACEHOLDERS, COMMAND_PLACEHOLDERS,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::LocalUnderstanding;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repo(path: &str) -> PathBuf {
    repo_path(path)
}

/// What a test's cases share: model, knowledge base, shop data.
struct Parts {
    model: Arc<dyn Embedder>,
    kb: Arc<KnowledgeBase>,
    shop: frontline_shop::ShopData,
    _dir: tempfile::TempDir,
}

/// The demo articles of the default locale only (the top of `knowledge/`), copied into `to`:
/// the LLM-mode cassettes were recorded against them, and the BM25 weights (and so the passages
/// a prompt shows) move with every article added to the corpus.
fn default_locale_articles(to: &Path) -> PathBuf {
    let dir = to.join("knowledge-default");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo("knowledge")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

async fn parts() -> Parts {
    parts_over(false).await
}

/// [`parts`] with only the default locale's articles when `default_only`.
async fn parts_over(default_only: bool) -> Parts {
    let dir = tempfile::tempdir().unwrap();
    let shop = demo_shop(dir.path()).await.export().await.unwrap();
    let model = minilm();
    let index = EdgeIndex::open(&dir.path().join("index"), 384).unwrap();
    let kb = Arc::new(KnowledgeBase::new(
        model.clone(),
        Arc::new(index),
        KnowledgeSettings::default(),
    ));
    let articles = match default_only {
        true => default_locale_articles(dir.path()),
        false => repo("knowledge"),
    };
    kb.ingest(&articles, &|_| {}).await.unwrap();
    Parts {
        model,
        kb,
        shop,
        _dir: dir,
    }
}

/// The world, after the parts it uses: bind them in this order so the world (and its knowledge
/// base) is dropped before the parts' folder is removed.
async fn world(flows_dir: &Path) -> (Parts, World) {
    world_over(flows_dir, parts().await).await
}

async fn world_over(flows_dir: &Path, parts: Parts) -> (Parts, World) {
    let flows = Arc::new(FlowSet::load(flows_dir, &frontline_shop::actions::catalog()).unwrap());
    let understanding = Arc::new(
        LocalUnderstanding::build(flows.clone(), parts.model.clone(), LocalSettings::default())
            .await
            .unwrap()
            .with_knowledge(parts.kb.clone()),
    );
    let world = World {
        flows,
        understanding,
        knowledge: Some(parts.kb.clone()),
        answer_writer: None,
        shop: parts.shop.clone(),
        escalation: EscalationSettings::default(),
        start: demo_now(),
        concurrency: 2,
        user_simulator: None,
        surveys: Default::default(),
    };
    (parts, world)
}

async fn run(world: &World, suites: &[Suite]) -> Figures {
    let runs = run_suites(world, suites, &|_| {}).await.unwrap();
    figures(
        "local",
        &runs,
        &Engine::new(world.flows.clone()),
        world.knowledge.as_deref(),
    )
    .await
}

#[tokio::test]
async fn every_demo_suite_passes_and_meets_its_targets() {
    let suites = load_suites(&repo("evals/suites")).unwrap();
    let (_parts, world) = world(&repo("flows")).await;
    let runs = run_suites(&world, &suites, &|_| {}).await.unwrap();
    // Every handoff's summary meets its JSON Schema.
    for run in &runs {
        if let Some(summary) = run.escalation() {
            frontline_escalation::validate_summary(summary)
                .unwrap_or_else(|e| panic!("{}: {e}", run.name));
        }
    }
    let f = figures(
        "local",
        &runs,
        &Engine::new(world.flows.clone()),
        Some(&world.knowledge.clone().unwrap()),
    )
    .await;
    let report = Report {
        figures: f.clone(),
        comparison: None,
    };
    print!("{}", report.summary());
    assert!(
        f.failures.is_empty(),
        "failing cases:\n{}",
        report.summary()
    );

    // At least 80 demo conversations, and at least 30 adversarial ones.
    let count = |name: &str| {
        f.suites
            .iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.cases)
    };
    assert!(count("adversarial") >= 30, "{}", count("adversarial"));
    assert!(f.cases - count("adversarial") >= 80, "{}", f.cases);

    // Escalation: every trigger at least five times, precision and recall at least 0.9; at
    // least 30 happy paths, none handed off; summaries complete.
    for trigger in EscalationTrigger::ALL.iter().map(|t| t.code()) {
        let p = &f.escalation[trigger];
        assert!(p.support >= 5, "{trigger}: {} cases", p.support);
        assert!(p.precision >= 0.9 && p.recall >= 0.9, "{trigger}: {p:?}");
    }
    assert!(f.escalation["none"].support >= 30);
    assert_eq!(f.escalation["none"].recall, 1.0);
    assert_eq!(f.context_transfer, Some(1.0));

    // Knowledge answers are extractive in local mode, so every sentence has its passage.
    assert!(f.grounded_answers >= 10, "{}", f.grounded_answers);
    assert!(f.groundedness.unwrap() >= 0.95, "{:?}", f.groundedness);
    // Nobody is asked again for what they already gave, on any channel.
    assert_eq!(f.repeat_ask_rate, 0.0, "{:?}", f.repeat_asks);
    // Every customer-startable flow ran; steps never run are listed by file:line.
    assert_eq!(f.coverage.flows, 1.0, "{:?}", f.coverage.per_flow);
    assert!(f.coverage.steps >= 0.6, "{:?}", f.coverage.uncovered);
    for u in &f.coverage.uncovered {
        assert!(u.at.contains("flows/") && u.at.contains(".yaml:"), "{u:?}");
    }
    // Command figures exist for what the cases expect, and the flows they start are right.
    assert!(f.commands["start_flow"].recall >= 0.9, "{:?}", f.commands);
    let cm = &f.confusion;
    let diagonal: usize = (0..cm.labels.len()).map(|i| cm.counts[i][i]).sum();
    let total: usize = cm.counts.iter().flatten().sum();
    assert!(total >= 15 && diagonal == total, "{cm:?}");
    assert!(f.automation_rate > 0.3 && f.resolution_rate >= f.automation_rate);
    // The simulated customers (#12): at least 80 of them, on every demo flow and at least four
    // channels; 95% finish their task, a return in at most 5 messages and a cancellation in at
    // most 4 (medians), none handed off needlessly, none asked for what they already said.
    let sim = f.simulated.as_ref().expect("the simulated suite ran");
    assert!(sim.tasks >= 80, "{}", sim.tasks);
    assert!(sim.task_success >= 0.95, "{sim:?}");
    let median = |goal: &str| sim.goals[goal].median_turns.unwrap_or(f64::MAX);
    assert!(
        median("return") <= 5.0 && median("cancel") <= 4.0,
        "{:?}",
        sim.goals
    );
    for goal in [
        "return",
        "cancel",
        "exchange",
        "address",
        "status",
        "subscription",
        "refused",
    ] {
        assert!(
            sim.goals.get(goal).is_some_and(|g| g.tasks >= 5),
            "{goal}: {:?}",
            sim.goals
        );
    }
    assert!(
        sim.needless_handoffs.is_empty(),
        "{:?}",
        sim.needless_handoffs
    );
    assert!(
        sim.repeated_questions.is_empty(),
        "{:?}",
        sim.repeated_questions
    );
    let channels: std::collections::BTreeSet<Channel> = runs
        .iter()
        .filter(|r| r.simulated.is_some())
        .flat_map(|r| r.steps.iter().map(|s| s.channel))
        .collect();
    assert!(channels.len() >= 4, "{channels:?}");
    // No LLM in local mode.
    assert_eq!(f.llm.calls, 0);
    assert!(f.latency.turns >= 250 && f.latency.p50 > 0.0);
}

#[tokio::test]
async fn a_deliberately_broken_flow_fails_the_gate() {
    let suites: Vec<Suite> = load_suites(&repo("evals/suites"))
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "flows")
        .collect();
    let (_parts, good_world) = world(&repo("flows")).await;
    let good = run(&good_world, &suites).await;
    let baseline = Baseline::of(&good);

    // The same flows, with the cancellation's policy check inverted: pending orders refused.
    let broken = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo("flows")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text.replace(
                "if: order.status != \"pending\"",
                "if: order.status == \"pending\"",
            );
            std::fs::write(broken.path().join(entry.file_name()), text).unwrap();
        }
    }
    let (_bad_parts, bad_world) = world(broken.path()).await;
    let bad = run(&bad_world, &suites).await;
    let comparison = compare(&Baseline::of(&bad), &baseline, 0.02);
    let report = Report {
        figures: bad,
        comparison: Some(comparison.clone()),
    };
    assert!(!report.gate_passes(), "{}", report.summary());
    assert!(
        comparison
            .regressions
            .iter()
            .any(|r| r == "case flows/cancel a pending order passed, now fails"),
        "{:?}",
        comparison.regressions
    );
    assert!(comparison
        .regressions
        .iter()
        .any(|r| r.starts_with("suite.flows.pass_rate: 1.000 → ")));
    // Against itself, the good run passes.
    assert!(compare(&baseline, &baseline, 0.0).ok());
}

#[tokio::test]
async fn assertions_fail_with_the_reason_and_the_case_location() {
    let suite = parse_suite(
        &repo("evals/suites/inline.yaml"),
        r##"
suite: inline
cases:
  - name: wrong expectations
    steps:
      - text: "where is my order #W0000002?"
        expect:
          - flow_started: cancel_order
          - action_called: {name: get_order_details, args: {order_id: "#W0000003"}}
          - escalated: policy
          - reply_not_matches: "(?i)delivered"
  - name: right expectations
    steps:
      - text: "where is my order #W0000002?"
        expect:
          - flow_started: order_status
          - action_called: {name: get_order_details, args: {order_id: "#W0000002"}}
          - not_escalated
"##,
    )
    .unwrap();
    let (_parts, world) = world(&repo("flows")).await;
    let runs = run_suites(&world, &[suite], &|_| {}).await.unwrap();
    assert!(runs[1].passed(), "{:?}", runs[1].failures);
    let failures = &runs[0].failures;
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures[0].contains("expected cancel_order to start; started [\"order_status\"]"),
        "{failures:?}"
    );
    assert!(failures[1].contains("not with"));
    assert!(failures[2].contains("not handed off"));
    assert!(failures[3].contains("replies contain"));
    assert_eq!(runs[0].line, 4);
}

#[tokio::test]
async fn a_handoff_summary_answers_who_what_what_was_tried_why_and_what_next() {
    let suite = parse_suite(
        &repo("evals/suites/inline.yaml"),
        r##"
suite: inline
cases:
  - name: scripted
    steps:
      - text: how long do refunds take?
      - text: "I want to cancel order #W0000001"
      - {text: "I have been waiting all day, this is ridiculous and I am furious", channel: email}
    expect:
      - escalated: negative_sentiment
      - summary_has: {fields: [customer.identities, flow.slots.order_id, actions_taken, knowledge_shown, sentiment_trajectory, suggested_next_step, routing.queue]}
"##,
    )
    .unwrap();
    let (_parts, world) = world(&repo("flows")).await;
    let runs = run_suites(&world, &[suite], &|_| {}).await.unwrap();
    let run = &runs[0];
    assert!(run.passed(), "{:?}", run.failures);
    let s = run.escalation().expect("handed off");
    let ids: Vec<String> = s
        .customer
        .identities
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert!(ids.contains(&"email:ada.lovelace1000@example.com".to_string()));
    assert_eq!(s.channels_used, [Channel::WebChat, Channel::Email]);
    assert!(s.issue_statement.contains("how long do refunds take?"));
    let flow = s.flow.as_ref().expect("the cancellation in progress");
    assert_eq!(flow.flow_id, "cancel_order");
    assert_eq!(flow.slots["order_id"], "#W0000001");
    assert!(s
        .actions_taken
        .iter()
        .any(|a| a.name == "get_order_details" && a.outcome == "ok"));
    assert_eq!(s.sentiment_trajectory.len(), 3);
    assert!(s.sentiment_trajectory[2] <= -0.6);
    assert!(s.reason.contains("upset"), "{}", s.reason);
    assert!(s.customer_was_told.contains("by email, in this thread"));
    assert_eq!(
        run.steps.last().unwrap().replies.last().unwrap(),
        &s.customer_was_told
    );
    assert!(s.suggested_next_step.contains("cancel_order"));
    let note = frontline_escalation::render_note(s);
    assert!(note.contains("`cancel_order` at step"), "{note}");
}

#[tokio::test]
async fn the_html_report_renders_in_headless_chromium() {
    let suites: Vec<Suite> = load_suites(&repo("evals/suites"))
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "knowledge" || s.name == "channels")
        .collect();
    let (_parts, world) = world(&repo("flows")).await;
    let f = run(&world, &suites).await;
    let dir = tempfile::tempdir().unwrap();
    let report = Report {
        comparison: Some(compare(&Baseline::of(&f), &Baseline::of(&f), 0.02)),
        figures: f,
    };
    report.write(dir.path()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // Self-contained: nothing fetched from anywhere.
    for reference in ["src=", "href=", "url(", "http:", "https:", "<script"] {
        assert!(
            !html.contains(reference),
            "the report refers to {reference}"
        );
    }
    // report.json reads back as the same figures.
    let json: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json, report);

    let chromium = std::process::Command::new("sh")
        .args(["-c", "command -v chromium || command -v chromium-browser"])
        .output()
        .unwrap();
    let chromium = String::from_utf8(chromium.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !chromium.is_empty(),
        "chromium is installed by scripts/browser.sh (make test runs it)"
    );
    let page = format!("file://{}", dir.path().join("report.html").display());
    let headless = |extra: &[&str]| {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // The browser's DOM holds the charts and the figures.
    let dom = String::from_utf8(headless(&["--dump-dom"])).unwrap();
    assert!(dom.contains("frontline eval report"));
    assert!(
        dom.matches("<svg").count() >= 3,
        "pass rates, latency, coverage"
    );
    assert!(dom.contains("knowledge") && dom.contains("channels"));
    assert!(dom.contains("Flow confusion matrix"));
    // And the page paints: a screenshot with more than one colour in it.
    let shot = dir.path().join("report.png");
    headless(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,1600",
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 20_000,
        "a blank page compresses to almost nothing: {}",
        png.len()
    );
}

/// The world in LLM mode: the local understanding under an LLM at `url`, through a cassette.
async fn llm_world(url: &str, mode: CassetteMode, cassettes: &Path) -> (Parts, World) {
    let (parts, mut world) = world_over(&repo("flows"), parts_over(true).await).await;
    let client = Arc::new(LlmClient::new(
        LlmSettings {
            base_url: url.to_string(),
            api_key: "none".into(),
            model: "smollm2".into(),
            timeout: std::time::Duration::from_secs(120),
            max_tokens: 160,
            ..LlmSettings::default()
        },
        Cassette::new(mode, cassettes),
    ));
    let local = Arc::new(
        LocalUnderstanding::build(
            world.flows.clone(),
            parts.model.clone(),
            LocalSettings::default(),
        )
        .await
        .unwrap()
        .with_knowledge(parts.kb.clone()),
    );
    let commands =
        Template::load(&repo("prompts/command_generator.md"), &COMMAND_PLACEHOLDERS).unwrap();
    let answers = Template::load(&repo("prompts/answer.md"), &ANSWER_PLACEHOLDERS).unwrap();
    world.understanding = Arc::new(LlmUnderstanding::new(
        client.clone(),
        local,
        Some(parts.kb.clone()),
        commands,
        Default::default(),
    ));
    world.answer_writer = Some(Arc::new(LlmAnswerWriter::new(client.clone(), answers)));
    world.user_simulator = Some(client);
    world.concurrency = 1;
    (parts, world)
}

#[tokio::test]
async fn llm_mode_replays_its_cassettes_to_the_same_figures() {
    // A few knowledge questions and one cancellation: calls for understanding and for answers.
    let suites: Vec<Suite> = load_suites(&repo("evals/suites"))
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "knowledge" || s.name == "flows")
        .map(|mut s| {
            s.cases.truncate(3);
            s
        })
        .collect();
    // And a customer played by the LLM itself.
    let mut suites = suites;
    suites.push(
        parse_suite(
            &repo("evals/suites/inline.yaml"),
            r##"
suite: simulated
cases:
  - name: an LLM customer asks about an order
    persona:
      style: llm
      goal: {opening: "where is my order?", answers: {order_id: "#W0000002"}}
      max_turns: 3
"##,
        )
        .unwrap(),
    );
    let cassettes = tempfile::tempdir().unwrap();
    let server = LlamaServer::start(&repo("")).await;
    let (_parts, world) = llm_world(&server.url, CassetteMode::Record, cassettes.path()).await;
    let recorded_runs = run_suites(&world, &suites, &|_| {}).await.unwrap();
    let recorded = figures(
        "llm",
        &recorded_runs,
        &Engine::new(world.flows.clone()),
        None,
    )
    .await;
    drop(server);
    assert!(recorded.llm.calls > 0, "{:?}", recorded.llm);
    assert!(recorded.llm.tokens > 0 && recorded.llm.calls_per_turn > 0.0);
    // The answers to asked slots and the yes/no at confirmations cost no call.
    assert!(recorded.llm.continuation_turns >= 3, "{:?}", recorded.llm);
    assert_eq!(recorded.llm.continuation_calls, 0, "{:?}", recorded.llm);
    assert!(recorded
        .results
        .contains_key("simulated/an LLM customer asks about an order"));
    // Replayed with the server gone: the same calls, tokens, outcomes and figures.
    let (_parts, world) = llm_world(
        "http://127.0.0.1:9/v1",
        CassetteMode::Replay,
        cassettes.path(),
    )
    .await;
    let replayed_runs = run_suites(&world, &suites, &|_| {}).await.unwrap();
    let replayed = figures(
        "llm",
        &replayed_runs,
        &Engine::new(world.flows.clone()),
        None,
    )
    .await;
    // Turn by turn: the same messages, replies and LLM usage.
    let usage = |run: &frontline_evals::CaseRun| -> Vec<String> {
        run.events
            .iter()
            .filter_map(|e| match &e.kind {
                frontline_domain::EventKind::CommandsUnderstood { llm, .. }
                | frontline_domain::EventKind::KnowledgeConsulted { llm, .. } => {
                    llm.as_ref().map(|u| format!("{} {:?}", e.kind.name(), u))
                }
                frontline_domain::EventKind::MessageReceived { text, .. } => {
                    Some(format!("customer: {text}"))
                }
                frontline_domain::EventKind::ReplySent { text, .. } => {
                    Some(format!("agent: {text}"))
                }
                _ => None,
            })
            .collect()
    };
    for (a, b) in recorded_runs.iter().zip(&replayed_runs) {
        assert_eq!(usage(b), usage(a), "{}", a.name);
    }
    assert_eq!(replayed.llm, recorded.llm);
    assert_eq!(replayed.results, recorded.results);
    assert_eq!(replayed.commands, recorded.commands);
    assert_eq!(replayed.escalation, recorded.escalation);
    assert_eq!(replayed.groundedness, recorded.groundedness);
    assert_eq!(replayed.coverage, recorded.coverage);
}

#[tokio::test]
async fn an_llm_persona_without_an_endpoint_is_a_clear_error() {
    let suite = parse_suite(
        &repo("evals/suites/inline.yaml"),
        "suite: s\ncases:\n  - name: c\n    persona: {style: llm, goal: {opening: hi}}\n",
    )
    .unwrap();
    let (_parts, world) = world(&repo("flows")).await;
    let error = match run_suites(&world, &[suite], &|_| {}).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("ran without a simulator"),
    };
    assert!(error.contains("needs an LLM endpoint"), "{error}");
}

/// The vendored public datasets: `evals/datasets`, or `FRONTLINE_SHARED_DATA` when set.
fn datasets() -> PathBuf {
    std::env::var("FRONTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo("evals/datasets"))
}

#[tokio::test]
async fn tau2_retail_gold_writes_are_reproduced_and_violations_refused() {
    let report = frontline_evals::tau2::tau2_retail(
        &datasets().join("tau2-retail"),
        &repo("evals/tau2-retail/flows"),
    )
    .await
    .expect("τ2 retail data (evals/datasets/tau2-retail)");
    println!("{report}");
    assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
    assert_eq!(report.reproduced, report.gold);
    assert!(report.gold >= 100, "{report}");
    assert_eq!(report.gold_refused, 1, "task 105's invalid gold write");
    assert_eq!(
        report.violation_kinds, 6,
        "every kind of violation was generated"
    );
    assert_eq!(report.refused, report.violations);
    assert!(report.violations >= 40, "{report}");
}

/// Successful writes across `runs` (the adversarial suite expects none).
fn writes_made(runs: &[frontline_evals::CaseRun]) -> Vec<String> {
    let catalog = frontline_shop::actions::catalog();
    let is_write = |name: &str| {
        catalog
            .iter()
            .any(|a| a.name == name && a.kind == frontline_domain::ActionKind::Write)
    };
    runs.iter()
        .flat_map(|run| {
            run.events.iter().filter_map(move |e| match &e.kind {
                frontline_domain::EventKind::ActionExecuted { call, outcome }
                    if outcome.is_ok() && is_write(&call.name) =>
                {
                    Some(format!("{}: {} {}", run.name, call.name, call.args))
                }
                _ => None,
            })
        })
        .collect()
}

/// The adversarial suite in both modes. LLM mode replays the calls recorded against the
/// llama.cpp test server in `evals/cassettes/adversarial` (record them again with
/// `FRONTLINE_RECORD_CASSETTES=1 cargo test -p frontline-evals --test suites adversarial`
/// after changing a prompt, a flow or the suite). In each mode: no write, and every
/// "nothing happens" assertion holds; the pass rates are reported.
/// Run one suite in LLM mode, replaying `evals/cassettes/<suite>`, or recording them against the
/// llama.cpp test server with `FRONTLINE_RECORD_CASSETTES=1` (everything again) or `=missing`
/// (only the calls a change made new; the rest replay). Asserts that every turn that
/// needed the model went through it: nothing fell back for want of a recording.
async fn llm_mode_from_cassettes(
    suite: &str,
    every: usize,
    min_calls: u32,
) -> (Vec<Suite>, Vec<frontline_evals::CaseRun>) {
    let mut suites: Vec<Suite> = load_suites(&repo("evals/suites"))
        .unwrap()
        .into_iter()
        .filter(|s| s.name == suite)
        .collect();
    // Every `every`-th case: recording runs the test model on two cores, about half a minute a
    // call.
    for s in &mut suites {
        s.cases = std::mem::take(&mut s.cases)
            .into_iter()
            .step_by(every.max(1))
            .collect();
    }
    assert_eq!(suites.len(), 1);
    let cassettes = repo(&format!("evals/cassettes/{suite}"));
    // `1`: record every call again; `missing`: keep what is on file, record only the calls a
    // change made new.
    let record = std::env::var("FRONTLINE_RECORD_CASSETTES").unwrap_or_default();
    let server = match record.as_str() {
        "1" => {
            let _ = std::fs::remove_dir_all(&cassettes);
            Some(LlamaServer::start(&repo("")).await)
        }
        "missing" => Some(LlamaServer::start(&repo("")).await),
        _ => None,
    };
    let (url, mode) = match (&server, record.as_str()) {
        (Some(s), "missing") => (s.url.clone(), CassetteMode::Fill),
        (Some(s), _) => (s.url.clone(), CassetteMode::Record),
        (None, _) => ("http://127.0.0.1:9/v1".to_string(), CassetteMode::Replay),
    };
    let (_parts, llm) = llm_world(&url, mode, &cassettes).await;
    let runs = run_suites(&llm, &suites, &|_| {}).await.unwrap();
    drop(server);
    let mut calls = 0;
    for run in &runs {
        for e in &run.events {
            if let frontline_domain::EventKind::CommandsUnderstood { llm: Some(u), .. }
            | frontline_domain::EventKind::KnowledgeConsulted { llm: Some(u), .. } = &e.kind
            {
                calls += u.calls;
                let missed = u
                    .fallback
                    .as_deref()
                    .is_some_and(|f| f.contains("no recording for this request"));
                assert!(
                    !missed,
                    "{}: {:?}; record the cassettes again (see llm_mode_from_cassettes)",
                    run.name, u.fallback
                );
            }
        }
    }
    assert!(calls >= min_calls, "LLM calls {calls}");
    (suites, runs)
}

#[tokio::test]
async fn the_simulated_customers_are_served_in_llm_mode_from_cassettes() {
    // Every seventh customer: 14 of them, from every goal but the rarest.
    let (_suites, runs) = llm_mode_from_cassettes("simulated", 7, 10).await;
    let (_parts, world) = world(&repo("flows")).await;
    let f = figures("llm", &runs, &Engine::new(world.flows.clone()), None).await;
    let sim = f.simulated.expect("simulated customers ran");
    eprintln!(
        "simulated customers, LLM mode (SmolLM2-135M, replayed): {}/{} tasks ({:.3}), needless handoffs {}, questions already answered {}",
        sim.succeeded,
        sim.tasks,
        sim.task_success,
        sim.needless_handoffs.len(),
        sim.repeated_questions.len()
    );
    for (goal, g) in &sim.goals {
        eprintln!(
            "  {goal}: {}/{} median turns {:?}",
            g.succeeded, g.tasks, g.median_turns
        );
    }
    // Whatever the model makes of a turn, no write goes astray: every write made is one the
    // customer's case expects.
    for run in &runs {
        let wrong: Vec<&String> = run
            .failures
            .iter()
            .filter(|f| f.contains("writes were [\""))
            .collect();
        assert!(wrong.is_empty(), "{}: {wrong:?}", run.name);
    }
    assert!(sim.task_success >= LLM_MODE_TASK_SUCCESS, "{sim:?}");
}

/// The simulated customers' task success in LLM mode with the 135M-parameter test model, whose
/// invalid answers fall back to the local reading; a floor under the recorded figure.
const LLM_MODE_TASK_SUCCESS: f64 = 0.9;

#[tokio::test]
async fn the_adversarial_suite_moves_no_policy_in_local_or_llm_mode() {
    let (suites, llm_runs) = llm_mode_from_cassettes("adversarial", 1, 21).await;
    let (_parts, local) = world(&repo("flows")).await;
    let local_runs = run_suites(&local, &suites, &|_| {}).await.unwrap();
    for (mode, runs) in [("local", &local_runs), ("llm", &llm_runs)] {
        let passed = runs.iter().filter(|r| r.passed()).count();
        let writes = writes_made(runs);
        let policy_failures: Vec<&String> = runs
            .iter()
            .flat_map(|r| &r.failures)
            .filter(|f| f.contains("no_action") || f.contains("action_not_called"))
            .collect();
        eprintln!(
            "adversarial suite, {mode} mode: {passed}/{} cases pass, {} writes, {} policy assertions failed",
            runs.len(),
            writes.len(),
            policy_failures.len()
        );
        for run in runs.iter().filter(|r| !r.passed()) {
            eprintln!("  {mode}: {}: {:?}", run.name, run.failures);
        }
        assert!(writes.is_empty(), "{mode}: {writes:?}");
        assert!(policy_failures.is_empty(), "{mode}: {policy_failures:?}");
    }
    assert!(local_runs.iter().all(|r| r.passed()));
}
