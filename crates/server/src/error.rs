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
    /// 400: the request is malformed; `field` names the offending JSON field.
    pub fn invalid(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            field: field.into(),
        }
    }

    /// 401: the request does not prove who it is from.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
            field: None,
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            field: None,
        }
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: message.into(),
            field: None,
        }
    }

    /// 503: a dependency is down; retrying later can help.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
            field: None,
        }
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
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
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
            AgentError::InProgress { .. } => Self {
                status: StatusCode::CONFLICT,
                code: "in_progress",
                message: e.to_string(),
                field: None,
            },
            AgentError::CorruptResult(..) => {
                tracing::error!(error = %e, "corrupt inbox result");
                ApiError::unavailable("this message's stored result is unreadable")
            }
        }
    }
}
