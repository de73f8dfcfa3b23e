//! Whole-turn overhead (issue #10, item 2): what frontline adds to a turn, with the LLM out of
//! the picture. The agent runs on its real parts (SQLite store, demo shop, demo flows, knowledge
//! base on embedded qdrant-edge, local MiniLM); in LLM mode the endpoint is a loopback
//! OpenAI-compatible stub that answers at once (JSON commands, with the answer to a knowledge
//! question when the schema asks for it; or a streamed answer), so every
//! millisecond measured is frontline's: prompt building, the HTTP round trip, parsing,
//! validation, the engine, actions, the commit.
//!
//! Each simulated customer (a demo-shop customer with a pending order, by email, so its own
//! conversation; the 58 such customers, five rounds each in the full run) says, in order:
//! a flow start ("where is my order …"), a second flow start ("cancel order …"), the asked
//! reason (a deterministic continuation), "no" at the confirmation (continuation; the shop is
//! left unchanged), then a knowledge question. Flow turns are the first four, knowledge turns
//! the last. Printed per mode and kind: p50/p99 of the whole turn, and of the turn without
//! understanding (the time inside `Understanding::interpret` subtracted), plus LLM calls per
//! turn.
//!
//! Then memory (item 5): 10,000 web chat visitors each open a conversation and are left with a
//! flow waiting for their answer, and the process's resident set is read from /proc (VmRSS, and VmHWM, the
//! peak) before and after.
//!
//! Run: cargo bench -p frontline-agent --bench turn
//! Under `cargo test` a few customers run as a smoke test, so the binary cannot rot.

use async_trait::async_trait;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use frontline_agent::testing::{
    customers_with_a_pending_order, demo_clock, llm_mode, local_with_knowledge, message,
    minilm_remembering, DemoParts,
};
use frontline_agent::Agent;
use frontline_domain::{Channel, Identity, IdentityKind, NormalizeOptions, ScoredCommand};
use frontline_knowledge::RecentEmbeddings;
use frontline_llm::testing::chat_completion_body;
use frontline_understanding::{DialogueContext, Understanding, UnderstandingError, Understood};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The allocator `frontline serve` runs on (the `frontline` binary sets the same).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What one customer says (`{order}` is one of their pending orders); the last line is the
/// knowledge question.
const SCRIPT: [&str; 5] = [
    "where is my order {order}",
    "I'd like to cancel order {order}",
    "I ordered it by mistake",
    "no",
    "how long do refunds take to reach my card?",
];

/// The stub's commands for the messages that need understanding.
fn commands_for(message: &str) -> Value {
    let order = message
        .split_whitespace()
        .find(|w| w.starts_with("#W"))
        .unwrap_or_default();
    let start = |flow: &str| {
        json!({"commands": [
            {"type": "start_flow", "flow_id": flow},
            {"type": "set_slot", "name": "order_id", "value": order}
        ]})
    };
    match message {
        m if m.starts_with("where is my order") => start("order_status"),
        m if m.starts_with("I'd like to cancel") => start("cancel_order"),
        m if m.starts_with("how long") => {
            json!({"commands": [{"type": "answer_from_knowledge", "query": m}]})
        }
        _ => json!({"commands": [{"type": "clarify", "options": []}]}),
    }
}

const ANSWER: &str = "Refunds to a card take 5 to 7 business days after we receive the return [1].";

/// The instant OpenAI-compatible endpoint; counts the calls it answers.
async fn instant_llm(State(calls): State<Arc<AtomicUsize>>, Json(body): Json<Value>) -> Response {
    calls.fetch_add(1, Ordering::Relaxed);
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let content = if let Some(format) = body.get("response_format") {
        let mut object = commands_for(last);
        // Passages were shown: the call answers a knowledge question itself ("" otherwise).
        if format.to_string().contains("\"answer\"") {
            let knowledge = object["commands"][0]["type"] == "answer_from_knowledge";
            object["answer"] = json!(if knowledge { ANSWER } else { "" });
        }
        object.to_string()
    } else {
        ANSWER.to_string()
    };
    let streamed = body["stream"] == true;
    let usage = if streamed { (500, 20) } else { (700, 30) };
    let (content_type, body) = chat_completion_body(&content, streamed, usage);
    ([("content-type", content_type)], body).into_response()
}

/// Understanding that keeps a running total of the time spent inside it.
struct Timed {
    inner: Arc<dyn Understanding>,
    spent: Mutex<Duration>,
}

impl Timed {
    fn take(&self) -> Duration {
        std::mem::take(&mut *self.spent.lock().unwrap())
    }
}

#[async_trait]
impl Understanding for Timed {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn understand(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError> {
        self.inner.understand(message, context).await
    }

    async fn interpret(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Understood, UnderstandingError> {
        let started = Instant::now();
        let understood = self.inner.interpret(message, context).await;
        *self.spent.lock().unwrap() += started.elapsed();
        understood
    }
}

fn identity(kind: IdentityKind, value: &str) -> Identity {
    Identity::parse(kind, value, &NormalizeOptions::default()).expect("a valid identity")
}

#[derive(Default)]
struct Figures {
    whole: Vec<Duration>,
    without_understanding: Vec<Duration>,
    llm_calls: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

impl Figures {
    fn print(mut self, label: &str) {
        self.whole.sort();
        self.without_understanding.sort();
        let turns = self.whole.len();
        println!(
            "{label:<26} n={turns:<5} whole turn p50 {:>7.3} ms  p99 {:>7.3} ms | without understanding p50 {:>7.3} ms  p99 {:>7.3} ms | LLM calls/turn {:.2}",
            ms(percentile(&self.whole, 0.5)),
            ms(percentile(&self.whole, 0.99)),
            ms(percentile(&self.without_understanding, 0.5)),
            ms(percentile(&self.without_understanding, 0.99)),
            self.llm_calls as f64 / turns as f64,
        );
    }
}

/// Run scripted `customers` through `agent`; figures for flow and knowledge turns.
async fn run_customers(
    agent: &Agent,
    memo: &RecentEmbeddings,
    timed: &Timed,
    calls: &AtomicUsize,
    customers: &[(String, String)],
    rounds: usize,
    show_first: bool,
) -> (Figures, Figures) {
    let (mut flow, mut knowledge) = (Figures::default(), Figures::default());
    // A customer's later rounds continue the same conversation (its flows have ended).
    for (round, (email, order)) in (0..rounds).flat_map(|r| customers.iter().map(move |c| (r, c))) {
        for (turn, line) in SCRIPT.iter().enumerate() {
            let text = line.replace("{order}", order);
            timed.take();
            memo.forget();
            let calls_before = calls.load(Ordering::Relaxed);
            let started = Instant::now();
            let outcome = agent
                .handle(message(
                    Channel::WebChat,
                    &format!("bench-{email}-{round}-{turn}"),
                    identity(IdentityKind::Email, email),
                    &text,
                ))
                .await
                .expect("the turn runs");
            let whole = started.elapsed();
            let understanding = timed.take();
            if show_first {
                println!(
                    "  {text:?} → {:?}",
                    outcome.replies.first().map(|r| &r.text)
                );
            }
            let figures = if turn + 1 == SCRIPT.len() {
                &mut knowledge
            } else {
                &mut flow
            };
            figures.whole.push(whole);
            figures
                .without_understanding
                .push(whole.saturating_sub(understanding));
            figures.llm_calls += calls.load(Ordering::Relaxed) - calls_before;
        }
    }
    (flow, knowledge)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, resident) = if full { (5, 10_000) } else { (1, 20) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(rounds, resident));
}

/// A `/proc/self/status` figure in MB (`VmRSS`, `VmHWM`).
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn run(rounds: usize, resident: usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/v1/chat/completions", post(instant_llm))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/v1", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("a temporary folder");
    let parts = DemoParts::new(dir.path()).await;
    // Every message is embedded as if never seen: the memo shares its vector within its turn
    // (router, knowledge probe, answer search), not across the customers' identical lines.
    let memo = minilm_remembering();
    let (local, kb) = local_with_knowledge(parts.flows.clone(), dir.path(), memo.clone()).await;
    let (llm, writer) = llm_mode(&url, local.clone(), kb.clone());

    let people = customers_with_a_pending_order(&frontline_shop::seed::SeedOptions::demo(
        frontline_agent::testing::demo_seed_day(),
    ));
    let (warm_up, measured) = people.split_at(2);
    let measured = if rounds == 1 {
        &measured[..1]
    } else {
        measured
    };
    println!(
        "{} customers × {rounds} rounds × {} turns per mode",
        measured.len(),
        SCRIPT.len()
    );
    for mode in ["local", "llm"] {
        let store = frontline_store::testing::sqlite().await;
        let timed = Arc::new(Timed {
            inner: if mode == "local" {
                local.clone()
            } else {
                llm.clone()
            },
            spent: Mutex::new(Duration::ZERO),
        });
        let mut agent = parts
            .agent(store.store.clone(), timed.clone())
            .with_clock(demo_clock())
            .with_knowledge(kb.clone());
        if mode == "llm" {
            agent = agent.with_answer_writer(writer.clone());
        }
        // Warm-up (first touches of the store, the index and the stub), not measured.
        run_customers(&agent, &memo, &timed, &calls, warm_up, 1, rounds == 1).await;
        let (flow, knowledge) =
            run_customers(&agent, &memo, &timed, &calls, measured, rounds, false).await;
        flow.print(&format!("{mode}: flow turns"));
        knowledge.print(&format!("{mode}: knowledge turns"));
    }

    // Memory: `resident` web chat visitors, each left mid-flow (asked who they are).
    let store = frontline_store::testing::sqlite().await;
    let agent = parts
        .agent(store.store.clone(), local.clone())
        .with_clock(demo_clock())
        .with_knowledge(kb.clone());
    let before = memory_mb("VmRSS");
    let started = Instant::now();
    for customer in 0..resident {
        let visitor = format!("bench-visitor-{customer:06}");
        let outcome = agent
            .handle(message(
                Channel::WebChat,
                &visitor,
                identity(IdentityKind::WebSession, &visitor),
                &SCRIPT[1].replace("{order}", "#W0000001"),
            ))
            .await
            .expect("the turn runs");
        assert!(!outcome.replies.is_empty(), "every opening gets a reply");
    }
    println!(
        "memory: {resident} active conversations opened in {:.1} s; RSS {before:.0} MB before, {:.0} MB after (peak {:.0} MB)",
        started.elapsed().as_secs_f64(),
        memory_mb("VmRSS"),
        memory_mb("VmHWM"),
    );
}
