//! Rate limits: token buckets keyed by client address (the public web chat routes) and by
//! sender identity (every customer message on the REST channel and the web chat). A request
//! over its limit gets `429` with `Retry-After`; nothing of it is processed.
//!
//! Provider webhooks are not limited by address: they are authenticated by signature and come
//! from a few provider addresses at the provider's pace; a refused webhook would only be
//! redelivered.

use crate::{ApiError, AppState};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A sustained rate and a burst; a rate of 0 means no limit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell.
    pub burst: f64,
}

/// The limits a server applies.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Per client address, on the public web chat routes.
    pub per_ip: Rate,
    /// Per sender (an identity on the REST channel, a session on the web chat).
    pub per_sender: Rate,
    /// Read the client address from the first `X-Forwarded-For` hop (only behind a proxy that
    /// sets it; otherwise clients could choose their own address).
    pub trust_forwarded_for: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_ip: Rate {
                per_second: 50.0,
                burst: 500.0,
            },
            // A person writes a message every few seconds; a script writing twice a second
            // for a minute is not a person.
            per_sender: Rate {
                per_second: 2.0,
                burst: 30.0,
            },
            trust_forwarded_for: false,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Past this many keys, full buckets are forgotten.
const MAX_KEYS: usize = 100_000;

impl Limiter {
    /// Buckets at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `key` at `now`: `Err(wait)` when there is none.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let rate = self.rate;
            buckets.retain(|_, b| refill(rate, b, now) < rate.burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.rate.burst,
            at: now,
        });
        let tokens = refill(self.rate, bucket, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64(
                (1.0 - tokens) / self.rate.per_second.max(f64::MIN_POSITIVE),
            ))
        }
    }
}

fn refill(rate: Rate, bucket: &Bucket, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate.per_second).min(rate.burst)
}

/// The server's limiters (`None`: not limited).
pub struct RateLimits {
    per_ip: Option<Limiter>,
    per_sender: Option<Limiter>,
    trust_forwarded_for: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(&Limits::default())
    }
}

impl RateLimits {
    /// Limiters for these limits.
    pub fn new(limits: &Limits) -> Self {
        let limiter = |rate: Rate| (rate.per_second > 0.0).then(|| Limiter::new(rate));
        Self {
            per_ip: limiter(limits.per_ip),
            per_sender: limiter(limits.per_sender),
            trust_forwarded_for: limits.trust_forwarded_for,
        }
    }

    /// No limits (load tests).
    pub fn off() -> Self {
        Self {
            per_ip: None,
            per_sender: None,
            trust_forwarded_for: false,
        }
    }

    /// A message from `sender` (a stable key: an identity or a session): 429 when over.
    pub fn sender(&self, sender: &str) -> Result<(), ApiError> {
        match &self.per_sender {
            Some(limiter) => limiter
                .take(sender, Instant::now())
                .map_err(|wait| too_many("this sender", wait)),
            None => Ok(()),
        }
    }

    fn client(&self, request: &Request) -> Option<String> {
        if self.trust_forwarded_for {
            if let Some(first) = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Some(first.to_string());
            }
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
    }
}

fn too_many(who: &str, wait: Duration) -> ApiError {
    let seconds = wait.as_secs_f64().ceil() as u64;
    ApiError::too_many_requests(
        format!("too many requests from {who}; retry in {seconds} s"),
        seconds,
    )
}

/// Middleware: limit requests per client address.
pub async fn per_ip(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limiter = state.limits.per_ip.as_ref();
    if let Some((limiter, client)) = limiter.zip(state.limits.client(&request)) {
        if let Err(wait) = limiter.take(&client, Instant::now()) {
            tracing::info!(%client, "rate limited");
            return too_many("this address", wait).into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = Limiter::new(Rate {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("a", t0).is_ok());
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // Another key has its own bucket.
        assert!(limiter.take("b", t0).is_ok());
        // Half a second later, one more.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.take("a", t1).is_ok());
        assert!(limiter.take("a", t1).is_err());
        // A long pause refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.take("a", t2).is_ok());
        }
        assert!(limiter.take("a", t2).is_err());
    }
}
