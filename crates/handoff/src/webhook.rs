//! A generic webhook: the handoff as JSON, POSTed and signed with HMAC-SHA256 over
//! `{timestamp}.{body}` (the timestamp is sent too, so receivers can refuse replays). The
//! delivery id header is the same on every retry, for receivers to deduplicate.
//!
//! Headers: `X-Frontline-Delivery`, `X-Frontline-Timestamp` (Unix seconds),
//! `X-Frontline-Signature: v1=<hex>`.

use crate::{send_json, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

const TARGET: &str = "webhook";

/// `[handoff]` with `target = "webhook"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// The shared signing secret.
    pub secret: String,
}

/// The webhook target.
pub struct Webhook {
    config: WebhookConfig,
    client: reqwest::Client,
}

/// The `v1=<hex>` signature of `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a signed delivery was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is not `v1=<hex>`.
    #[error("signature header is malformed")]
    Malformed,
    /// The timestamp is too far from now.
    #[error("timestamp is {0} s away from now (replay?)")]
    Stale(i64),
    /// The signature does not match the body.
    #[error("signature does not match")]
    Mismatch,
}

/// Check a delivery as a receiver would: the signature must match and the timestamp be within
/// `tolerance_secs` of `now` (Unix seconds). Comparison is constant-time.
pub fn verify(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let hex_sig = signature
        .strip_prefix("v1=")
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale(now - timestamp));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

impl Webhook {
    /// A target for this endpoint.
    pub fn new(config: WebhookConfig, client: reqwest::Client) -> Self {
        Self { config, client }
    }
}

#[async_trait]
impl HandoffTarget for Webhook {
    fn name(&self) -> &'static str {
        TARGET
    }

    async fn deliver(
        &self,
        request: &HandoffRequest,
        progress: &mut Progress,
    ) -> Result<Delivered, HandoffError> {
        step(progress, "posted", async {
            let body = serde_json::to_vec(&json!({
                "type": "handoff",
                "id": request.id,
                "summary": request.summary,
                "note": request.note,
            }))
            .expect("a handoff serialises");
            let timestamp = chrono::Utc::now().timestamp();
            send_json(
                TARGET,
                "post",
                self.client
                    .post(&self.config.url)
                    .header("Content-Type", "application/json")
                    .header("X-Frontline-Delivery", &request.id)
                    .header("X-Frontline-Timestamp", timestamp.to_string())
                    .header(
                        "X-Frontline-Signature",
                        sign(&self.config.secret, timestamp, &body),
                    )
                    .body(body),
            )
            .await
            .map(|_| json!(true))
        })
        .await?;
        Ok(Delivered {
            reference: request.id.clone(),
        })
    }
}
