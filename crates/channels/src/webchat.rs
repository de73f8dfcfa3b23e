//! The web chat's identities. A visitor starts anonymous (a random session id in a cookie);
//! the shop's page can vouch for a signed-in user by passing their id with
//! `identifier_hash = hex(HMAC-SHA256(server secret, user id))`, computed on the shop's server,
//! as helpdesk widgets do. A verified id becomes the customer's account-id identity, so the
//! chat joins whatever that customer started on other channels.

use crate::{hmac_sha256, verify_hex_sha256, WebhookError};
use hmac::Mac;

/// The hash the shop's server computes for `user_id`.
pub fn identifier_hash(secret: &str, user_id: &str) -> String {
    hex::encode(
        hmac_sha256(secret.as_bytes(), &[user_id.as_bytes()])
            .finalize()
            .into_bytes(),
    )
}

/// Check a user id against its hash (constant-time).
pub fn verify_identifier(secret: &str, user_id: &str, hash: &str) -> Result<(), WebhookError> {
    verify_hex_sha256(secret.as_bytes(), &[user_id.as_bytes()], hash).map_err(|_| {
        WebhookError::unauthorized(format!("`identifier_hash` does not match user `{user_id}`"))
    })
}

/// A new anonymous session id: a random (v4) UUID, 122 random bits from the OS generator.
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_from_the_shop_verifies_and_a_forged_one_does_not() {
        let hash = identifier_hash("widget-secret", "ada_lovelace_1000");
        assert_eq!(
            verify_identifier("widget-secret", "ada_lovelace_1000", &hash),
            Ok(())
        );
        assert!(verify_identifier("widget-secret", "grace_hopper_2000", &hash).is_err());
        assert!(verify_identifier("other-secret", "ada_lovelace_1000", &hash).is_err());
        assert!(verify_identifier("widget-secret", "ada_lovelace_1000", "zz").is_err());
    }

    #[test]
    fn session_ids_are_random_hex() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
