//! What Meta's platforms share (WhatsApp Cloud API, Messenger): the `GET` subscription
//! handshake with a verify token, and `X-Hub-Signature-256`, the HMAC-SHA256 of the raw body
//! with the app secret.

use crate::provider::Webhook;
use crate::{verify_hex_sha256, WebhookError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Answer Meta's subscription handshake: `hub.mode=subscribe` with our verify token gets the
/// challenge echoed back; anything else is refused.
pub fn verify_subscription(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Result<String, WebhookError> {
    if mode != Some("subscribe") {
        return Err(WebhookError::Forbidden(
            "`hub.mode` must be `subscribe`".into(),
        ));
    }
    let matches =
        token.is_some_and(|t| crate::secrets_match(expected_token.as_bytes(), t.as_bytes()));
    if !matches {
        return Err(WebhookError::Forbidden(
            "`hub.verify_token` does not match".into(),
        ));
    }
    challenge
        .map(str::to_string)
        .ok_or_else(|| WebhookError::malformed("`hub.challenge` is missing"))
}

/// Check `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body with the app
/// secret.
pub fn verify_signature(
    app_secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header
        .ok_or_else(|| WebhookError::unauthorized("the X-Hub-Signature-256 header is missing"))?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| WebhookError::unauthorized("X-Hub-Signature-256 is not `sha256=<hex>`"))?;
    verify_hex_sha256(app_secret.as_bytes(), &[body], hex)
}

/// Answer the handshake a [`Webhook`] carries in its query string.
pub fn handshake(webhook: &Webhook<'_>, verify_token: &str) -> Result<String, WebhookError> {
    verify_subscription(
        webhook.query_param("hub.mode").as_deref(),
        webhook.query_param("hub.verify_token").as_deref(),
        webhook.query_param("hub.challenge").as_deref(),
        verify_token,
    )
}
