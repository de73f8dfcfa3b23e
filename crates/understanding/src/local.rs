//! Local understanding: no LLM, no API key. The message is embedded once (all-MiniLM-L6-v2 in
//! process) and routed by similarity to every flow's examples and description and to the
//! built-in intents; the knowledge base is asked how well it could answer when no flow is a
//! clear winner. Slots are read by the typed extractors; an enum the customer words in their own
//! way ("put it back on my card") is matched to the closest value or synonym by embedding.

use crate::pipeline::{Pipeline, Route};
use crate::router::{Builtin, EmbeddingRouter, Intent, Routed, RouterSettings};
use crate::{DialogueContext, Understanding, UnderstandingError};
use async_trait::async_trait;
use frontline_domain::ScoredCommand;
use frontline_flows::spec::{SlotType, Starts};
use frontline_flows::FlowSet;
use frontline_knowledge::{EmbedError, Embedder, KnowledgeBase, SearchFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How well the knowledge base could answer a question.
#[async_trait]
pub trait KnowledgeProbe: Send + Sync {
    /// The similarity of the best passage (0–1), or `None` when the knowledge base would not
    /// answer (nothing relevant enough, or unavailable).
    async fn relevance(&self, question: &str) -> Option<f32>;
}

#[async_trait]
impl KnowledgeProbe for KnowledgeBase {
    async fn relevance(&self, question: &str) -> Option<f32> {
        match self.search(question, 3, &SearchFilter::default()).await {
            Ok(result) if result.abstain.is_none() => Some(result.confidence),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "knowledge probe failed; routing without it");
                None
            }
        }
    }
}

/// Thresholds of the local understanding besides the router's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalSettings {
    /// The router's thresholds.
    pub router: RouterSettings,
    /// A flow this sure is started without asking the knowledge base.
    pub sure: f32,
    /// The knowledge base wins over a flow when its best passage is this much more similar.
    pub knowledge_margin: f32,
    /// An enum value matched by embedding must be at least this similar to the message.
    pub enum_similarity: f32,
}

impl Default for LocalSettings {
    /// Calibrated on the demo routing set (`evals/understanding/routing.yaml`).
    fn default() -> Self {
        Self {
            router: RouterSettings {
                k: 2,
                out_of_scope: 0.40,
                margin: 0.01,
                head: false,
            },
            sure: 0.70,
            knowledge_margin: -0.05,
            enum_similarity: 0.45,
        }
    }
}

/// Understanding by embeddings; see the module docs.
pub struct LocalUnderstanding {
    pipeline: Pipeline,
    router: EmbeddingRouter,
    knowledge: Option<Arc<dyn KnowledgeProbe>>,
    settings: LocalSettings,
    /// Enum phrases already embedded.
    phrases: Mutex<HashMap<String, Vec<f32>>>,
}

impl std::fmt::Debug for LocalUnderstanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUnderstanding")
            .field("router", &self.router)
            .field("knowledge", &self.knowledge.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

/// The router's examples for `flows`: each customer-startable flow's examples and
/// description, and every built-in intent's phrasings.
pub fn examples(flows: &FlowSet) -> Vec<(Intent, String)> {
    let mut out = Vec::new();
    for flow in flows.iter() {
        if flow.spec.starts != Starts::Customer || flow.spec.id.starts_with("pattern_") {
            continue;
        }
        let intent = Intent::Flow(flow.spec.id.clone());
        for example in &flow.spec.examples {
            out.push((intent.clone(), example.clone()));
        }
        if !flow.spec.description.trim().is_empty() {
            out.push((intent.clone(), flow.spec.description.clone()));
        }
    }
    for builtin in Builtin::ALL {
        for example in builtin.examples() {
            out.push((Intent::Builtin(builtin), example.to_string()));
        }
    }
    out
}

/// Whether the knowledge base's opinion could change the route: not for a built-in intent or
/// a flow the router is sure of.
pub fn needs_knowledge(ranked: &[(Intent, f32)], settings: &LocalSettings) -> bool {
    !matches!(
        crate::router::decide(ranked, &settings.router),
        Routed::Intent(Intent::Builtin(_), _)
    ) && ranked.first().is_none_or(|(_, s)| *s < settings.sure)
}

/// The route for a ranking and the knowledge base's relevance (`None`: not asked, or it would
/// not answer). Pure, so calibration can replay it over a grid of settings.
pub fn decide_route(
    ranked: &[(Intent, f32)],
    relevance: Option<f32>,
    settings: &LocalSettings,
) -> Route {
    let best = ranked.first().map(|(_, s)| *s).unwrap_or(0.0);
    let flow_or_builtin = |intent: &Intent, score: f32| match intent {
        Intent::Flow(id) => Route::Flow(id.clone(), score),
        Intent::Builtin(b) => Route::Builtin(*b, score),
    };
    let candidate = match crate::router::decide(ranked, &settings.router) {
        Routed::Intent(Intent::Builtin(b), s) => return Route::Builtin(b, s),
        Routed::Intent(intent, s) if s >= settings.sure => return flow_or_builtin(&intent, s),
        Routed::Intent(intent, s) => flow_or_builtin(&intent, s),
        Routed::Ambiguous(options) => {
            let flows: Vec<String> = options
                .iter()
                .filter_map(|(i, _)| match i {
                    Intent::Flow(id) => Some(id.clone()),
                    Intent::Builtin(_) => None,
                })
                .collect();
            match flows.len() {
                0 => flow_or_builtin(&options[0].0, options[0].1),
                // A flow against small talk: the flow ("thanks, and cancel my order").
                1 => Route::Flow(flows[0].clone(), best),
                _ => Route::Clarify(flows),
            }
        }
        Routed::OutOfScope(_) => Route::Nothing,
    };
    match relevance {
        Some(relevance) => {
            let competing = match &candidate {
                Route::Nothing => 0.0,
                _ => best,
            };
            if relevance > competing + settings.knowledge_margin {
                Route::Knowledge(relevance)
            } else {
                candidate
            }
        }
        None => candidate,
    }
}

impl LocalUnderstanding {
    /// Embed the flows' examples and the built-in intents' phrasings.
    pub async fn build(
        flows: Arc<FlowSet>,
        embedder: Arc<dyn Embedder>,
        settings: LocalSettings,
    ) -> Result<Self, EmbedError> {
        let router =
            EmbeddingRouter::build(embedder, examples(&flows), settings.router, &|_, _| {}).await?;
        Ok(Self {
            pipeline: Pipeline::new(flows).with_switch_threshold(settings.sure),
            router,
            knowledge: None,
            settings,
            phrases: Mutex::new(HashMap::new()),
        })
    }

    /// Also weigh how well the knowledge base could answer.
    pub fn with_knowledge(mut self, probe: Arc<dyn KnowledgeProbe>) -> Self {
        self.knowledge = Some(probe);
        self
    }

    /// The thresholds in use.
    pub fn settings(&self) -> LocalSettings {
        self.settings
    }

    /// The router (for evals and calibration).
    pub fn router(&self) -> &EmbeddingRouter {
        &self.router
    }

    /// The enum value (or synonym) most similar to the message, if similar enough and clearly
    /// ahead of the others.
    async fn closest_enum(
        &self,
        context: &DialogueContext,
        embedding: &[f32],
    ) -> Result<Option<Value>, EmbedError> {
        let Some(active) = &context.active_flow else {
            return Ok(None);
        };
        let Some(slot) = active
            .requested_slot
            .as_deref()
            .and_then(|name| self.pipeline.flows().get(&active.flow_id)?.slots.get(name))
        else {
            return Ok(None);
        };
        if slot.spec.kind != SlotType::Enum {
            return Ok(None);
        }
        let phrases: Vec<(String, String)> = slot
            .spec
            .values
            .iter()
            .flat_map(|(canonical, synonyms)| {
                std::iter::once(canonical)
                    .chain(synonyms)
                    .map(move |p| (canonical.clone(), p.clone()))
            })
            .collect();
        let missing: Vec<String> = {
            let cache = self.phrases.lock().expect("phrase cache lock");
            phrases
                .iter()
                .map(|(_, p)| p.clone())
                .filter(|p| !cache.contains_key(p))
                .collect()
        };
        if !missing.is_empty() {
            let vectors = self.router.embedder().embed(&missing).await?;
            let mut cache = self.phrases.lock().expect("phrase cache lock");
            cache.extend(missing.into_iter().zip(vectors));
        }
        let cache = self.phrases.lock().expect("phrase cache lock");
        let mut best: HashMap<&str, f32> = HashMap::new();
        for (canonical, phrase) in &phrases {
            let similarity = cache
                .get(phrase)
                .map(|v| v.iter().zip(embedding).map(|(a, b)| a * b).sum::<f32>())
                .unwrap_or(0.0);
            let entry = best.entry(canonical.as_str()).or_insert(f32::MIN);
            *entry = entry.max(similarity);
        }
        let mut ranked: Vec<(&str, f32)> = best.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(match ranked.as_slice() {
            [(value, s), rest @ ..]
                if *s >= self.settings.enum_similarity
                    && rest.first().is_none_or(|(_, next)| s - next >= 0.05) =>
            {
                Some(Value::String((*value).to_string()))
            }
            _ => None,
        })
    }
}

impl LocalUnderstanding {
    /// The flows understood.
    pub fn flows(&self) -> &Arc<FlowSet> {
        self.pipeline.flows()
    }

    /// The commands for `message`, and the router's ranking of every intent (which the LLM
    /// understanding uses to pick the flows its prompt lists).
    pub async fn analyse(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<(Vec<ScoredCommand>, Vec<(Intent, f32)>), UnderstandingError> {
        let embedding = self
            .router
            .embed_one(message)
            .await
            .map_err(|e| UnderstandingError::Unavailable(e.to_string()))?;
        let ranked = self.router.rank(&embedding);
        let relevance = match &self.knowledge {
            Some(probe) if needs_knowledge(&ranked, &self.settings) => {
                probe.relevance(message).await
            }
            _ => None,
        };
        let route = decide_route(&ranked, relevance, &self.settings);
        let fallback = self
            .closest_enum(context, &embedding)
            .await
            .map_err(|e| UnderstandingError::Unavailable(e.to_string()))?;
        Ok((
            self.pipeline.commands(message, context, route, fallback),
            ranked,
        ))
    }
}

#[async_trait]
impl Understanding for LocalUnderstanding {
    fn name(&self) -> String {
        format!("local:{}", self.router.embedder().name())
    }

    async fn understand(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError> {
        Ok(self.analyse(message, context).await?.0)
    }
}
