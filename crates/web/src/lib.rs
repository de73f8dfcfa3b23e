//! The HTTP edge the server and the console share: API keys and their scopes ([`access`]), the
//! error every route answers with ([`ApiError`]), JSON bodies whose errors name the field at
//! fault ([`ValidJson`]), the REST channel's message request, and the KPI window
//! ([`analytics`]). Nothing here holds state or routes; the server and the console do.

pub mod access;
pub mod analytics;
mod error;
mod json;
mod message;

pub use error::ApiError;
pub use json::{parse, ValidJson};
pub use message::{path_id, IdentityRequest, MessageRequest, MAX_TEXT_CHARS};

/// One cookie's value (none when absent or empty).
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_an_empty_one_is_none() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; frontline_console=fl_abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, "frontline_console"), Some("fl_abc"));
        headers.insert(
            axum::http::header::COOKIE,
            "frontline_console=".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, "frontline_console"), None);
    }
}
