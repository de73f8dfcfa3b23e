//! Who may call what. The management API (conversations, customers, release, people's messages,
//! knowledge search) and the trusted REST channel are behind API keys with scopes; webhooks
//! prove themselves by their provider's signature and the web chat by its session cookie and
//! identity hash, so they are not here.
//!
//! Keys are random 256-bit tokens (`fl_` + 64 hex digits), shown once when made
//! (`frontline keys new`); the configuration holds only their SHA-256 digest. A fast digest is
//! the right one for a token this long: there is nothing to brute-force, unlike a password.
//! A server configured without keys answers management calls from loopback only, so the demo
//! needs no set-up and a server bound to a public address is never open by accident.

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

use crate::ApiError;

/// What a key lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Send customer messages on the REST channel (`POST /v1/messages`).
    Messages,
    /// Read and act on conversations, customers and the knowledge base.
    Admin,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Messages => "messages",
            Scope::Admin => "admin",
        })
    }
}

/// A key as configured: its name, its digest and its scopes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds it (shown in logs, never the key).
    pub name: String,
    /// `sha256:<64 hex digits>` of the key.
    pub hash: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// A configured key that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyConfigError {
    /// The hash is not `sha256:` and 64 hex digits.
    #[error("API key `{name}`: hash must be `sha256:` followed by 64 hex digits (make one with `frontline keys new`)")]
    BadHash {
        /// The key's name.
        name: String,
    },
    /// The key grants nothing.
    #[error("API key `{name}` has no scopes (use messages and/or admin)")]
    NoScopes {
        /// The key's name.
        name: String,
    },
}

#[derive(Clone)]
struct ApiKey {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// The server's access rules.
#[derive(Clone, Default)]
pub struct Access {
    keys: Vec<ApiKey>,
}

/// A new random key and the `sha256:` digest to configure for it.
pub fn new_key() -> (String, String) {
    let bytes: [u8; 32] = rand_bytes();
    let key = format!("fl_{}", hex(&bytes));
    let hash = format!("sha256:{}", hex(&Sha256::digest(key.as_bytes())));
    (key, hash)
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    getrandom::getrandom(&mut out).expect("the OS random source");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.strip_prefix("sha256:")?;
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Access {
    /// Access by these keys; with none, management calls are answered from loopback only.
    pub fn new(keys: &[ApiKeyConfig]) -> Result<Self, KeyConfigError> {
        let keys = keys
            .iter()
            .map(|k| {
                let digest = parse_digest(&k.hash).ok_or_else(|| KeyConfigError::BadHash {
                    name: k.name.clone(),
                })?;
                if k.scopes.is_empty() {
                    return Err(KeyConfigError::NoScopes {
                        name: k.name.clone(),
                    });
                }
                Ok(ApiKey {
                    name: k.name.clone(),
                    digest,
                    scopes: k.scopes.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// True when keys are configured.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Decide a request for `scope` from `peer` (unknown for in-process calls) with `headers`.
    /// Returns the key's name, or `loopback` when no keys are configured.
    pub fn check(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        scope: Scope,
    ) -> Result<String, ApiError> {
        self.check_key(presented_key(headers), peer, scope)
    }

    /// [`Access::check`] for a key presented some other way (the console's sign-in cookie).
    pub fn check_key(
        &self,
        presented: Option<&str>,
        peer: Option<SocketAddr>,
        scope: Scope,
    ) -> Result<String, ApiError> {
        if self.keys.is_empty() {
            return match peer {
                Some(addr) if !addr.ip().is_loopback() => Err(ApiError::forbidden(
                    "this server has no API keys configured, so its management API answers \
                     loopback clients only (add [[security.api_keys]]; see `frontline keys new`)",
                )),
                _ => Ok("loopback".into()),
            };
        }
        let presented = presented.ok_or_else(|| {
            ApiError::unauthorized(
                "an API key is required: send `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
            )
        })?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let key = self
            .keys
            .iter()
            .find(|k| k.digest == digest)
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        if !key.scopes.contains(&scope) {
            return Err(ApiError::forbidden(format!(
                "API key `{}` lacks the `{scope}` scope",
                key.name
            )));
        }
        Ok(key.name.clone())
    }
}

/// The key a request presents in `Authorization: Bearer` or `X-Api-Key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Let `request` through to `next` when it presents a key of `access` with `scope` (or, with no
/// keys configured, comes from loopback); otherwise answer with the reason.
pub async fn require(access: &Access, scope: Scope, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match access.check(request.headers(), peer, scope) {
        Ok(key) => {
            tracing::debug!(%key, %scope, "authorised");
            next.run(request).await
        }
        Err(e) => {
            tracing::info!(%scope, peer = ?peer, "refused: {}", e.message());
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn access_with(scopes: Vec<Scope>) -> (Access, String) {
        let (key, hash) = new_key();
        let access = Access::new(&[ApiKeyConfig {
            name: "ops".into(),
            hash,
            scopes,
        }])
        .unwrap();
        (access, key)
    }

    fn bearer(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_key_is_checked_by_its_digest_and_scope() {
        let (access, key) = access_with(vec![Scope::Admin]);
        assert_eq!(
            access.check(&bearer(&key), None, Scope::Admin).unwrap(),
            "ops"
        );
        let mut x = HeaderMap::new();
        x.insert("x-api-key", HeaderValue::from_str(&key).unwrap());
        assert!(access.check(&x, None, Scope::Admin).is_ok());
        // Missing, tampered (one digit changed) and out-of-scope keys are refused.
        let missing = access
            .check(&HeaderMap::new(), None, Scope::Admin)
            .unwrap_err();
        assert_eq!(missing.status(), 401);
        let mut tampered = key.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            access
                .check(&bearer(&tampered), None, Scope::Admin)
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            access
                .check(&bearer(&key), None, Scope::Messages)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn the_digest_is_sha256_of_the_key() {
        // A known vector: SHA-256("abc").
        let access = Access::new(&[ApiKeyConfig {
            name: "vector".into(),
            hash: "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
            scopes: vec![Scope::Messages],
        }])
        .unwrap();
        assert!(access.check(&bearer("abc"), None, Scope::Messages).is_ok());
        assert!(access.check(&bearer("abd"), None, Scope::Messages).is_err());
    }

    #[test]
    fn without_keys_only_loopback_is_answered() {
        let open = Access::default();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        assert!(open
            .check(&HeaderMap::new(), Some(local), Scope::Admin)
            .is_ok());
        assert!(open.check(&HeaderMap::new(), None, Scope::Admin).is_ok());
        assert_eq!(
            open.check(&HeaderMap::new(), Some(remote), Scope::Admin)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn bad_key_configuration_is_named() {
        let bad = Access::new(&[ApiKeyConfig {
            name: "ops".into(),
            hash: "md5:abc".into(),
            scopes: vec![Scope::Admin],
        }]);
        assert_eq!(
            bad.err(),
            Some(KeyConfigError::BadHash { name: "ops".into() })
        );
        let (_, hash) = new_key();
        let none = Access::new(&[ApiKeyConfig {
            name: "ops".into(),
            hash,
            scopes: vec![],
        }]);
        assert_eq!(
            none.err(),
            Some(KeyConfigError::NoScopes { name: "ops".into() })
        );
    }
}
