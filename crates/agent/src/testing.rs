//! Test support (feature `testing`), shared by this crate's tests and its dependents' (server,
//! evals, benches): the demo parts an agent is built on (the repository's flows, a seeded demo
//! shop, a fixed clock) and loopback endpoints that fail on purpose, for fault tests.

use crate::{Agent, AgentConfig, Clock};
use chrono::{NaiveDate, TimeZone, Utc};
use frontline_domain::Timestamp;
use frontline_flows::{Engine, FlowSet};
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use frontline_store::Store;
use frontline_understanding::{RuleUnderstanding, Understanding};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A path in the repository, e.g. `flows` or `prompts/command_generator.md`.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The repository's flows, checked against the demo shop's action catalog.
pub fn demo_flows() -> Arc<FlowSet> {
    Arc::new(
        FlowSet::load(&repo_path("flows"), &frontline_shop::actions::catalog())
            .expect("the demo flows load"),
    )
}

/// The day the demo shop is seeded for: its orders are dated around it.
pub fn demo_seed_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("a valid date")
}

/// The demo shop in `dir/shop.db`, seeded for [`demo_seed_day`] (once).
pub async fn demo_shop(dir: &Path) -> Shop {
    let shop = Shop::open(&dir.join("shop.db"))
        .await
        .expect("the demo shop opens");
    shop.seed_if_empty(&SeedOptions::demo(demo_seed_day()))
        .await
        .expect("the demo shop seeds");
    shop
}

/// Monday 2026-11-02 10:00 UTC: the day after the seed, inside business hours.
pub fn demo_now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
        .single()
        .expect("a valid time")
}

/// A clock stopped at [`demo_now`].
pub fn demo_clock() -> Clock {
    Arc::new(demo_now)
}

/// The customers of a shop seeded with `options` who have a pending order: (email, order id),
/// one order per customer, in order id order.
pub fn customers_with_a_pending_order(options: &SeedOptions) -> Vec<(String, String)> {
    let data = frontline_shop::seed::generate(options);
    let mut seen = std::collections::BTreeSet::new();
    data.orders
        .values()
        .filter(|o| o.status == frontline_shop::model::OrderStatus::Pending)
        .filter(|o| seen.insert(o.user_id.clone()))
        .filter_map(|o| {
            Some((
                data.users.get(&o.user_id)?.email.clone(),
                o.order_id.clone(),
            ))
        })
        .collect()
}

/// The demo flows and shop an agent acts on.
#[derive(Clone)]
pub struct DemoParts {
    /// The repository's flows.
    pub flows: Arc<FlowSet>,
    /// The seeded demo shop.
    pub shop: Arc<Shop>,
}

impl DemoParts {
    /// The demo flows and a demo shop in `dir`.
    pub async fn new(dir: &Path) -> DemoParts {
        DemoParts {
            flows: demo_flows(),
            shop: Arc::new(demo_shop(dir).await),
        }
    }

    /// An agent on `store` and `understanding` acting on the demo shop, which is also its
    /// identity directory (as in `frontline serve`: a proven email or phone proves the account
    /// it is on), with the default configuration, on the real clock. Add
    /// `.with_clock(demo_clock())` for a test that needs the demo shop's dates to hold (e.g. an
    /// order still inside its return window).
    pub fn agent(&self, store: Store, understanding: Arc<dyn Understanding>) -> Agent {
        Agent::new(
            store,
            understanding,
            self.shop.clone(),
            Engine::new(self.flows.clone()),
            AgentConfig::default(),
        )
        .with_directory(self.shop.clone())
    }

    /// [`DemoParts::agent`] on rule understanding (no model, no LLM).
    pub fn rule_agent(&self, store: Store) -> Agent {
        self.agent(store, Arc::new(RuleUnderstanding::new(self.flows.clone())))
    }
}

/// A customer's message as a channel would hand it to the agent, received now.
pub fn message(
    channel: frontline_domain::Channel,
    id: &str,
    sender: frontline_domain::Identity,
    text: &str,
) -> frontline_domain::InboundMessage {
    frontline_domain::InboundMessage {
        channel,
        channel_message_id: id.into(),
        sender,
        also_known_as: vec![],
        assurance: frontline_domain::Assurance::Channel,
        display_name: None,
        text: text.into(),
        received_at: Utc::now(),
        conversation_hint: None,
        thread: Default::default(),
    }
}

/// How a loopback endpoint misbehaves (see [`faulty_endpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing listens: connections are refused at once.
    Refused,
    /// Every request is answered `500 Internal Server Error` (HTTP/1.1, a JSON error body).
    ServerError,
    /// Requests are read and never answered.
    Hangs,
    /// The connection is closed as soon as the request is read.
    Closes,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 4] = [
        Fault::Refused,
        Fault::ServerError,
        Fault::Hangs,
        Fault::Closes,
    ];
}

/// A loopback TCP endpoint with `fault`, serving until the runtime ends; its address. Any
/// protocol on top (HTTP, gRPC) sees the fault as a real server's would look.
pub async fn faulty_endpoint(fault: Fault) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    if fault == Fault::Refused {
        return address; // the listener is dropped: the port is closed
    }
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                match fault {
                    Fault::ServerError => {
                        let body =
                            r#"{"error":{"message":"upstream overloaded","type":"server_error"}}"#;
                        let response = format!(
                            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                    }
                    Fault::Hangs => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Fault::Closes | Fault::Refused => {}
                }
            });
        }
    });
    address
}

/// The local embedding model (all-MiniLM-L6-v2), as `scripts/model.sh` installs it, behind
/// the memo of recent texts that `frontline serve` puts in front of it.
pub fn minilm() -> Arc<dyn frontline_knowledge::Embedder> {
    minilm_remembering()
}

/// [`minilm`], typed: a benchmark can make it forget between turns.
pub fn minilm_remembering() -> Arc<frontline_knowledge::RecentEmbeddings> {
    use frontline_knowledge::{MiniLm, RecentEmbeddings};
    let model = MiniLm::load(&frontline_knowledge::testing::model_dir())
        .expect("the model installed by scripts/model.sh");
    Arc::new(RecentEmbeddings::new(
        Arc::new(model),
        RecentEmbeddings::DEFAULT_CAPACITY,
    ))
}

/// The demo knowledge base (`knowledge/`), ingested with `model` into an embedded qdrant-edge
/// index in `dir/index`.
pub async fn demo_knowledge(
    dir: &Path,
    model: Arc<dyn frontline_knowledge::Embedder>,
) -> Arc<frontline_knowledge::KnowledgeBase> {
    use frontline_knowledge::{EdgeIndex, KnowledgeBase, KnowledgeSettings};
    let index = EdgeIndex::open(&dir.join("index"), model.dimension()).expect("an index");
    let kb = KnowledgeBase::new(model, Arc::new(index), KnowledgeSettings::default());
    kb.ingest(&repo_path("knowledge"), &|_| {})
        .await
        .expect("the demo knowledge ingests");
    Arc::new(kb)
}

/// The local understanding of `flows` on `model` (e.g. [`minilm`]), weighing the demo
/// knowledge base, which is ingested with the same model into `dir/index`.
pub async fn local_with_knowledge(
    flows: Arc<FlowSet>,
    dir: &Path,
    model: Arc<dyn frontline_knowledge::Embedder>,
) -> (
    Arc<frontline_understanding::LocalUnderstanding>,
    Arc<frontline_knowledge::KnowledgeBase>,
) {
    use frontline_understanding::{local::LocalSettings, LocalUnderstanding};
    let kb = demo_knowledge(dir, model.clone()).await;
    let local = LocalUnderstanding::build(flows, model, LocalSettings::default())
        .await
        .expect("local understanding")
        .with_knowledge(kb.clone());
    (Arc::new(local), kb)
}

/// LLM mode on the OpenAI-compatible endpoint at `base_url` (`…/v1`, no cassette), with the
/// repository's prompts: the command generator over `local`, and the grounded answer writer.
pub fn llm_mode(
    base_url: &str,
    local: Arc<frontline_understanding::LocalUnderstanding>,
    kb: Arc<frontline_knowledge::KnowledgeBase>,
) -> (
    Arc<frontline_understanding::llm::LlmUnderstanding>,
    Arc<frontline_understanding::llm::LlmAnswerWriter>,
) {
    use frontline_llm::{Cassette, LlmClient, LlmSettings};
    use frontline_understanding::llm::{
        LlmAnswerWriter, LlmUnderstanding, Template, ANSWER_PLACEHOLDERS, COMMAND_PLACEHOLDERS,
    };
    let client = Arc::new(LlmClient::new(
        LlmSettings {
            base_url: base_url.to_string(),
            model: "stub".into(),
            timeout: Duration::from_secs(10),
            ..LlmSettings::default()
        },
        Cassette::off(),
    ));
    let commands = Template::load(
        &repo_path("prompts/command_generator.md"),
        &COMMAND_PLACEHOLDERS,
    )
    .expect("the command prompt");
    let answers = Template::load(&repo_path("prompts/answer.md"), &ANSWER_PLACEHOLDERS)
        .expect("the answer prompt");
    (
        Arc::new(LlmUnderstanding::new(
            client.clone(),
            local,
            Some(kb),
            commands,
            Default::default(),
        )),
        Arc::new(LlmAnswerWriter::new(client, answers)),
    )
}
