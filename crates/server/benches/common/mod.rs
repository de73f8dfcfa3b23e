//! What the HTTP benchmarks share: the server on loopback, in this process, and the figures.

use frontline_agent::Agent;
use frontline_channels::ChannelsConfig;
use frontline_domain::NormalizeOptions;
use frontline_server::{router, AppState};
use std::sync::Arc;
use std::time::Duration;

/// The allocator `frontline serve` runs on (the `frontline` binary sets the same).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve `agent` on a loopback port, as `frontline serve` does but with no rate limits (one
/// client sends everything), with the channels `channels` makes of the base URL (signatures
/// cover webhook URLs); queued messages notify `intake`. Returns the base URL.
pub async fn serve(
    agent: Arc<Agent>,
    channels: impl FnOnce(&str) -> ChannelsConfig,
    intake: Arc<tokio::sync::Notify>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let channels = channels(&base);
    let state = Arc::new(AppState {
        store: agent.store().clone(),
        agent,
        normalize: NormalizeOptions::default(),
        knowledge: None,
        providers: Arc::new(
            channels
                .registry(std::time::Duration::from_secs(5))
                .unwrap(),
        ),
        channels,
        intake,
        access: Default::default(),
        limits: frontline_server::limit::RateLimits::off(),
        console: Default::default(),
    });
    tokio::spawn(frontline_server::serve(
        listener,
        router(state),
        std::future::pending(),
    ));
    base
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A count from the environment variable `name` (the benches' `FRONTLINE_BENCH_*` knobs), or
/// `default` when it is unset or not a number.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A two-thread runtime: the machine's two cores, shared by server and load.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
