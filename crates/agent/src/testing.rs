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

    /// An agent on `store` and `understanding` acting on the demo shop, with the default
    /// configuration, on the real clock. Add `.with_clock(demo_clock())` for a test that needs
    /// the demo shop's dates to hold (e.g. an order still inside its return window), and
    /// `.with_directory(parts.shop.clone())` for one of verified customers.
    pub fn agent(&self, store: Store, understanding: Arc<dyn Understanding>) -> Agent {
        Agent::new(
            store,
            understanding,
            self.shop.clone(),
            Engine::new(self.flows.clone()),
            AgentConfig::default(),
        )
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

/// The local embedding model (all-MiniLM-L6-v2), as `scripts/model.sh` installs it.
pub fn minilm() -> Arc<dyn frontline_knowledge::Embedder> {
    use frontline_knowledge::MiniLm;
    Arc::new(MiniLm::load(&MiniLm::default_dir()).expect("the model installed by scripts/model.sh"))
}
