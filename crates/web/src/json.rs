//! A JSON body extractor whose errors name the field at fault (`sender.kind`, `text`), so a
//! client fixing a 400 knows where to look.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// Like `axum::Json`, with field-naming 400s.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default();
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Err(ApiError::unsupported_media_type(format!(
                    "expected Content-Type application/json, got {ct}"
                )));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(None, e.body_text()))?;
        parse(&bytes).map(ValidJson)
    }
}

/// Parse JSON, turning serde's error into a field name and a message.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = inner.to_string();
        // Syntax errors have no field; a missing field is reported at its parent's path.
        let field = if inner.is_syntax() || inner.is_eof() {
            None
        } else if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(if path == "." {
                missing.to_string()
            } else {
                format!("{path}.{missing}")
            })
        } else if path != "." {
            Some(path)
        } else {
            None
        };
        let message = match &field {
            Some(f) => format!("`{f}`: {}", strip_position(&message)),
            None => format!("malformed JSON: {message}"),
        };
        ApiError::invalid(field, message)
    })
}

/// serde_json appends " at line 1 column 42"; with a field name that is noise.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}
