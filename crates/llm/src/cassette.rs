//! Record/replay of LLM calls, so evals in LLM mode are deterministic in CI: a request (its
//! canonical JSON, hashed) maps to the response recorded for it. `record` calls the endpoint and
//! keeps what it answered; `replay` never calls it, and a request not on file is an error (the
//! caller falls back to local understanding and says so); `off` neither reads nor writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What the cassette does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CassetteMode {
    /// Always call the endpoint; keep nothing.
    #[default]
    Off,
    /// Call the endpoint and keep every answer.
    Record,
    /// Answer from the recordings only.
    Replay,
    /// Answer from the recordings where there is one; call the endpoint and keep the answer
    /// where there is none (re-recording only what a change made new).
    Fill,
}

impl std::str::FromStr for CassetteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "record" => Ok(Self::Record),
            "replay" => Ok(Self::Replay),
            "fill" => Ok(Self::Fill),
            other => Err(format!(
                "cassette mode {other:?}: expected off, record, replay or fill"
            )),
        }
    }
}

/// One recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// The request as sent.
    pub request: Value,
    /// The response: a chat completion, or for a stream `{"text", "usage"}`.
    pub response: Value,
}

/// A folder of recordings, one JSON file per request hash.
#[derive(Clone, Debug)]
pub struct Cassette {
    mode: CassetteMode,
    dir: PathBuf,
}

impl Cassette {
    /// A cassette that does nothing.
    pub fn off() -> Self {
        Self {
            mode: CassetteMode::Off,
            dir: PathBuf::new(),
        }
    }

    /// A cassette over `dir` in `mode`.
    pub fn new(mode: CassetteMode, dir: &Path) -> Self {
        Self {
            mode,
            dir: dir.to_path_buf(),
        }
    }

    /// Its mode.
    pub fn mode(&self) -> CassetteMode {
        self.mode
    }

    /// The hash a request is filed under.
    pub fn key(request: &Value) -> String {
        let canonical = serde_json::to_vec(request).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        digest[..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The recorded response for `request`, if replaying and on file.
    pub fn replay(&self, request: &Value) -> Option<Value> {
        if !matches!(self.mode, CassetteMode::Replay | CassetteMode::Fill) {
            return None;
        }
        let path = self.dir.join(format!("{}.json", Self::key(request)));
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str::<Recording>(&text)
            .ok()
            .map(|r| r.response)
    }

    /// Keep `response` for `request` when recording.
    pub fn record(&self, request: &Value, response: &Value) -> std::io::Result<()> {
        if !matches!(self.mode, CassetteMode::Record | CassetteMode::Fill) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let recording = Recording {
            request: request.clone(),
            response: response.clone(),
        };
        let path = self.dir.join(format!("{}.json", Self::key(request)));
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&recording)?)?;
        std::fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_then_replays_by_request() {
        let dir = tempfile::tempdir().unwrap();
        let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let response = json!({"choices": [{"message": {"content": "hello"}}]});
        Cassette::new(CassetteMode::Record, dir.path())
            .record(&request, &response)
            .unwrap();
        let replay = Cassette::new(CassetteMode::Replay, dir.path());
        assert_eq!(replay.replay(&request), Some(response));
        assert_eq!(replay.replay(&json!({"model": "other"})), None);
        // Off and record never answer from file.
        assert_eq!(
            Cassette::new(CassetteMode::Record, dir.path()).replay(&request),
            None
        );
        assert_eq!(Cassette::off().replay(&request), None);
        // Fill answers from what is on file and keeps what is not.
        let fill = Cassette::new(CassetteMode::Fill, dir.path());
        assert!(fill.replay(&request).is_some());
        let other = json!({"model": "m", "messages": [{"role": "user", "content": "new"}]});
        assert_eq!(fill.replay(&other), None);
        fill.record(&other, &json!({"answer": 2})).unwrap();
        assert_eq!(fill.replay(&other), Some(json!({"answer": 2})));
        assert_eq!("replay".parse::<CassetteMode>(), Ok(CassetteMode::Replay));
        assert!("rewind".parse::<CassetteMode>().is_err());
    }
}
