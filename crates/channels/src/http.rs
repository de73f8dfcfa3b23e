//! The providers' HTTP calls: one client shape and one classifier of what came back, so every
//! provider (the channels here, and the helpdesks handoffs go to) retries the same failures
//! (network, 5xx, 408, 429) and gives up on the rest.

use crate::SendError;
use std::time::Duration;

/// A client whose calls time out after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("frontline/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// Classify an HTTP answer from `what`; returns the JSON body of a success (`null` when the
/// body is not JSON).
pub async fn answer(
    what: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<serde_json::Value, SendError> {
    let response = response.map_err(|e| SendError::Transient(format!("{what}: {e}")))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null));
    }
    let detail = format!(
        "{what}: HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(SendError::Transient(detail))
    } else {
        Err(SendError::Permanent(detail))
    }
}
