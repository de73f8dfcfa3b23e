//! Webhook intake throughput (issue #7): verify + parse + durably enqueue, over HTTP on
//! loopback, for the JSON intake (`POST /v1/webchat/messages`, the REST-style endpoint that
//! queues) and Twilio (`POST /webhooks/twilio`, form-encoded, `X-Twilio-Signature` checked).
//! Targets: ≥ 5,000 requests/s and p99 < 10 ms each (release build, this 2-core machine).
//!
//! The server runs in this process on a two-thread runtime with a SQLite store in a temporary
//! folder (WAL, as `serve` runs it); the load comes from keep-alive clients in the same
//! process, so client and server share the two cores and the figures are conservative. Every
//! request is a new message (unique id, valid signature), so each one is a real insert.
//!
//! Run: cargo bench -p frontline-server --bench webhooks
//! (`FRONTLINE_BENCH_CONNECTIONS=N` sets the requests in flight; 16 by default)
//! Under `cargo test` the binary runs a small smoke version so it cannot rot.

use frontline_agent::testing::DemoParts;
use frontline_channels::twilio;
use frontline_channels::{twilio::TwilioConfig, ChannelsConfig};
use frontline_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{ms, percentile};

const TWILIO_TOKEN: &str = "bench-auth-token";

/// One request, prepared before the clock starts.
struct Prepared {
    path: &'static str,
    content_type: &'static str,
    signature: Option<String>,
    cookie: Option<String>,
    body: Vec<u8>,
}

async fn start(dir: &std::path::Path) -> (String, Store) {
    let store = Store::connect(&format!("sqlite://{}", dir.join("frontline.db").display()))
        .await
        .unwrap();
    let agent = Arc::new(DemoParts::new(dir).await.rule_agent(store.clone()));
    let channels = |base: &str| ChannelsConfig {
        twilio: Some(TwilioConfig {
            account_sid: "AC123".into(),
            auth_token: TWILIO_TOKEN.into(),
            from: Some("+18005550000".into()),
            webhook_url: format!("{base}/webhooks/twilio"),
            api_base: "http://127.0.0.1:9".into(),
        }),
        ..ChannelsConfig::default()
    };
    let base = common::serve(agent, channels, Default::default()).await;
    (base, store)
}

fn twilio_requests(base: &str, run: &str, count: usize) -> Vec<Prepared> {
    let url = format!("{base}/webhooks/twilio");
    (0..count)
        .map(|i| {
            let sid = format!("SM{run}{i:08}");
            let from = format!("+1415555{:04}", i % 10_000);
            let fields: Vec<(String, String)> = [
                ("AccountSid", "AC123"),
                ("MessageSid", sid.as_str()),
                ("From", from.as_str()),
                ("To", "+18005550000"),
                ("Body", "where is my order #W0000002?"),
                ("NumMedia", "0"),
                ("NumSegments", "1"),
                ("SmsStatus", "received"),
                ("ApiVersion", "2010-04-01"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            Prepared {
                path: "/webhooks/twilio",
                content_type: "application/x-www-form-urlencoded",
                signature: Some(twilio::signature(TWILIO_TOKEN, &url, &fields)),
                cookie: None,
                body: serde_urlencoded::to_string(&fields).unwrap().into_bytes(),
            }
        })
        .collect()
}

fn json_requests(run: u32, count: usize) -> Vec<Prepared> {
    (0..count)
        .map(|i| Prepared {
            path: "/v1/webchat/messages",
            content_type: "application/json",
            signature: None,
            // One session per hundred messages: visitors who write several times.
            cookie: Some(format!("frontline_session={run:08x}{:024x}", i / 100)),
            body: serde_json::json!({ "text": format!("where is my order #W{:07}?", i % 1000) })
                .to_string()
                .into_bytes(),
        })
        .collect()
}

/// Send `requests` over `concurrency` keep-alive connections; returns each latency and the
/// wall time.
async fn drive(
    base: &str,
    requests: Vec<Prepared>,
    concurrency: usize,
) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let queue = Arc::new(std::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, queue, base) = (client.clone(), queue.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let next = queue.lock().unwrap().pop();
                let Some(r) = next else {
                    break;
                };
                let mut request = client
                    .post(format!("{base}{}", r.path))
                    .header("content-type", r.content_type)
                    .body(r.body);
                if let Some(s) = r.signature {
                    request = request.header("x-twilio-signature", s);
                }
                if let Some(c) = r.cookie {
                    request = request.header("cookie", c);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("the server answers");
                let status = response.status();
                let body = response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, started.elapsed())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (count, default_connections) = if full { (20_000, 16) } else { (300, 8) };
    // FRONTLINE_BENCH_CONNECTIONS: how many requests are in flight at once.
    let concurrency = common::env_count("FRONTLINE_BENCH_CONNECTIONS", default_connections);
    common::runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (base, store) = start(dir.path()).await;
        println!(
            "webhook intake: {count} requests per endpoint, {concurrency} keep-alive connections"
        );
        for (name, run) in [("REST (JSON, web chat intake)", 1u32), ("Twilio (signed form)", 2)] {
            let prepare = |run: u32, n: usize| {
                if name.starts_with("Twilio") {
                    twilio_requests(&base, &run.to_string(), n)
                } else {
                    json_requests(run, n)
                }
            };
            // Warm up connections, caches and the database file.
            drive(&base, prepare(run + 100, count / 10), concurrency).await;
            let before = store.inbound_backlog().await.unwrap();
            let (mut latencies, wall) = drive(&base, prepare(run, count), concurrency).await;
            let queued = store.inbound_backlog().await.unwrap() - before;
            assert_eq!(queued, count as i64, "every request queued exactly one message");
            latencies.sort();
            println!(
                "{name:<30} {:>8.0} req/s   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (target ≥ 5000 req/s, p99 < 10 ms)",
                count as f64 / wall.as_secs_f64(),
                ms(percentile(&latencies, 0.50)),
                ms(percentile(&latencies, 0.99)),
                ms(*latencies.last().unwrap()),
            );
        }
    });
}
