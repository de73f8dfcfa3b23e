//! The client against a scripted OpenAI-compatible endpoint on loopback (a test double that
//! behaves like llama.cpp's server in the ways that matter: it refuses `json_schema`, honours
//! `json_object` + schema, streams SSE with usage, and can be rate-limited). The real server
//! test is in the understanding crate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use frontline_llm::{
    Cassette, CassetteMode, LlmClient, LlmError, LlmSettings, Message, StructuredMode,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Script {
    calls: AtomicUsize,
    rate_limit_first: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    hang: std::sync::atomic::AtomicBool,
}

async fn chat(State(script): State<Arc<Script>>, Json(body): Json<Value>) -> Response {
    script.calls.fetch_add(1, Ordering::SeqCst);
    script.bodies.lock().unwrap().push(body.clone());
    if script.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if script.rate_limit_first.load(Ordering::SeqCst) > 0 {
        script.rate_limit_first.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            Json(json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    if body["response_format"]["type"] == "json_schema" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "response_format: json_schema is not supported", "type": "invalid_request_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    if body["stream"] == true {
        let events = [
            json!({"choices": [{"index": 0, "delta": {"content": "Refunds take "}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "5 to 7 days."}}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 7}}),
        ];
        let mut sse = String::new();
        for e in events {
            sse.push_str(&format!("data: {e}\n\n"));
        }
        sse.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], sse).into_response();
    }
    let content = if body["response_format"]["type"] == "json_object" {
        r#"{"commands": [{"type": "cancel_flow"}]}"#
    } else {
        "Sure: {\"commands\": []}"
    };
    Json(json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    }))
    .into_response()
}

async fn serve(script: Arc<Script>) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn settings(base_url: String) -> LlmSettings {
    LlmSettings {
        base_url,
        model: "smollm2".into(),
        timeout: Duration::from_secs(5),
        ..LlmSettings::default()
    }
}

#[tokio::test]
async fn structured_output_falls_back_from_json_schema_to_json_object_and_remembers() {
    let script = Arc::new(Script::default());
    let client = LlmClient::new(settings(serve(script.clone()).await), Cassette::off());
    let schema = json!({"type": "object"});
    let first = client
        .complete_json(&[Message::user("never mind")], "commands", &schema)
        .await
        .unwrap();
    assert_eq!(first.mode, Some(StructuredMode::JsonObject));
    assert_eq!(first.text, r#"{"commands": [{"type": "cancel_flow"}]}"#);
    assert_eq!(
        (first.usage.prompt_tokens, first.usage.completion_tokens),
        (30, 12)
    );
    assert_eq!(script.calls.load(Ordering::SeqCst), 2);
    // Remembered: the next call goes straight to json_object.
    client
        .complete_json(&[Message::user("again")], "commands", &schema)
        .await
        .unwrap();
    assert_eq!(script.calls.load(Ordering::SeqCst), 3);
    let bodies = script.bodies.lock().unwrap();
    assert_eq!(bodies[2]["response_format"]["type"], "json_object");
    assert_eq!(bodies[2]["response_format"]["schema"], schema);
}

#[tokio::test]
async fn rate_limits_are_retried_and_a_hung_endpoint_hits_the_deadline() {
    let script = Arc::new(Script::default());
    script.rate_limit_first.store(2, Ordering::SeqCst);
    let url = serve(script.clone()).await;
    let client = LlmClient::new(settings(url.clone()), Cassette::off());
    let done = client.complete_text(&[Message::user("hi")]).await.unwrap();
    assert_eq!(done.text, "Sure: {\"commands\": []}");
    assert_eq!(
        script.calls.load(Ordering::SeqCst),
        3,
        "two 429s, then the answer"
    );

    script.hang.store(true, Ordering::SeqCst);
    let impatient = LlmClient::new(
        LlmSettings {
            timeout: Duration::from_millis(300),
            ..settings(url)
        },
        Cassette::off(),
    );
    assert!(matches!(
        impatient.complete_text(&[Message::user("hi")]).await,
        Err(LlmError::Timeout { .. })
    ));
}

#[tokio::test]
async fn streams_deltas_with_usage_and_replays_them_from_a_cassette() {
    let script = Arc::new(Script::default());
    let url = serve(script.clone()).await;
    let tapes = tempfile::tempdir().unwrap();
    let recorder = LlmClient::new(
        settings(url.clone()),
        Cassette::new(CassetteMode::Record, tapes.path()),
    );
    let mut pieces = Vec::new();
    let streamed = recorder
        .stream_text(&[Message::user("how long do refunds take?")], &mut |d| {
            pieces.push(d.to_string())
        })
        .await
        .unwrap();
    assert_eq!(pieces, ["Refunds take ", "5 to 7 days."]);
    assert_eq!(streamed.text, "Refunds take 5 to 7 days.");
    assert_eq!(
        (
            streamed.usage.prompt_tokens,
            streamed.usage.completion_tokens
        ),
        (42, 7)
    );
    assert!(!streamed.usage.estimated);

    // Replay: same answer, no call.
    let calls = script.calls.load(Ordering::SeqCst);
    let player = LlmClient::new(
        settings(url.clone()),
        Cassette::new(CassetteMode::Replay, tapes.path()),
    );
    let mut replayed = String::new();
    let again = player
        .stream_text(&[Message::user("how long do refunds take?")], &mut |d| {
            replayed.push_str(d)
        })
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(replayed, "Refunds take 5 to 7 days.");
    assert_eq!(script.calls.load(Ordering::SeqCst), calls);
    // A request never recorded is an error, not a call.
    assert!(matches!(
        player
            .stream_text(&[Message::user("something else")], &mut |_| {})
            .await,
        Err(LlmError::NotRecorded { .. })
    ));
    assert_eq!(script.calls.load(Ordering::SeqCst), calls);
}
