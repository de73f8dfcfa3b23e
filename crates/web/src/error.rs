//! API errors: every failure is a JSON body `{"error": {"code", "message", "field"?}}` with the
//! status that tells the client whether retrying can help.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontline_agent::AgentError;
use frontline_store::StoreError;
use serde::Serialize;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Seconds to wait before retrying (`Retry-After`), when known.
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: String, field: Option<String>) -> Self {
        Self {
            status,
            code,
            message,
            field,
            retry_after: None,
        }
    }

    /// 429: too many requests from this client; retry after `seconds`.
    pub fn too_many_requests(message: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                message.into(),
                None,
            )
        }
    }

    /// 409: the same thing is being done by another request; retrying shortly helps.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::CONFLICT, "in_progress", message.into(), None)
        }
    }
    /// 400: the request is malformed; `field` names the offending JSON field.
    pub fn invalid(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            message.into(),
            field.into(),
        )
    }

    /// 401: the request does not prove who it is from.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message.into(),
            None,
        )
    }

    /// 403: who it is from is known, and may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message.into(), None)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message.into(), None)
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message.into(),
            None,
        )
    }

    /// 503: a dependency is down; retrying later can help.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            message.into(),
            None,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            // Another turn of the conversation committed first; this one runs again.
            StoreError::Conflict(what) => ApiError::conflict(what),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::unavailable("the conversation store is unavailable; retry shortly")
            }
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Store(store) => store.into(),
            AgentError::InProgress { .. } => ApiError::conflict(e.to_string()),
            AgentError::CorruptResult(..) => {
                tracing::error!(error = %e, "corrupt inbox result");
                ApiError::unavailable("this message's stored result is unreadable")
            }
        }
    }
}
