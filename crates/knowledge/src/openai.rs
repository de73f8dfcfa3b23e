//! Embeddings from any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, llama.cpp server,
//! Ollama) through async-openai. Vectors are normalised to unit length, since not every server
//! returns them so and the index compares them by cosine.

use crate::embed::{EmbedError, Embedder};
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_openai::Client;
use std::time::Duration;

/// Where and how to reach the endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiEmbeddingSettings {
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// API key (servers that need none accept any string).
    pub api_key: String,
    /// Model name, e.g. `text-embedding-3-small`.
    pub model: String,
    /// Longest wait for one request.
    pub timeout: Duration,
}

/// An embedder calling an OpenAI-compatible `/embeddings` endpoint.
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    settings: OpenAiEmbeddingSettings,
    dimension: usize,
}

fn unavailable(settings: &OpenAiEmbeddingSettings, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(format!(
        "embeddings endpoint {} (model {}): {e}",
        settings.base_url, settings.model
    ))
}

impl OpenAiEmbedder {
    /// Connect and learn the model's vector length with one probe request.
    pub async fn connect(settings: OpenAiEmbeddingSettings) -> Result<OpenAiEmbedder, EmbedError> {
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim_end_matches('/'))
            .with_api_key(settings.api_key.clone());
        let mut embedder = OpenAiEmbedder {
            client: Client::with_config(config),
            settings,
            dimension: 0,
        };
        let probe = embedder.request(&["dimension probe".to_string()]).await?;
        embedder.dimension = probe.first().map(Vec::len).unwrap_or(0);
        if embedder.dimension == 0 {
            return Err(unavailable(
                &embedder.settings,
                "the endpoint returned an empty vector",
            ));
        }
        Ok(embedder)
    }

    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let request = CreateEmbeddingRequest {
            model: self.settings.model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            ..Default::default()
        };
        let embeddings = self.client.embeddings();
        let call = embeddings.create(request);
        let response = tokio::time::timeout(self.settings.timeout, call)
            .await
            .map_err(|_| {
                unavailable(
                    &self.settings,
                    format!("no answer within {:?}", self.settings.timeout),
                )
            })?
            .map_err(|e| unavailable(&self.settings, e))?;
        let mut data = response.data;
        if data.len() != texts.len() {
            return Err(unavailable(
                &self.settings,
                format!("{} vectors for {} texts", data.len(), texts.len()),
            ));
        }
        data.sort_by_key(|e| e.index);
        Ok(data.into_iter().map(|e| unit(e.embedding)).collect())
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> String {
        format!("openai:{}", self.settings.model)
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(vec![]);
        }
        let vectors = self.request(texts).await?;
        if let Some(v) = vectors.iter().find(|v| v.len() != self.dimension) {
            return Err(unavailable(
                &self.settings,
                format!(
                    "a {}-long vector where {} was expected",
                    v.len(),
                    self.dimension
                ),
            ));
        }
        Ok(vectors)
    }
}
