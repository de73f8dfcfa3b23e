//! Local understanding: no LLM, no API key. The message is embedded once (all-MiniLM-L6-v2 in
//! process) and routed by similarity to every flow's examples and description and to the
//! built-in intents; the knowledge base is asked how well it could answer when no flow is a
//! clear winner. Slots are read by the typed extractors; an enum the customer words in their own
//! way ("put it back on my card") is matched to the closest value or synonym by embedding.

use crate::pipeline::{Pipeline, Route};
use crate::router::{Builtin, EmbeddingRouter, Intent, Routed, RouterSettings};
use crate::{DialogueContext, Understanding, UnderstandingError};
use async_trait::async_trait;
use frontline_domain::{Command, ScoredCommand};
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
    /// answer (nothing relevant enough, or unavailable). `locale`: the conversation's, when it
    /// is not the default one: its articles are searched first, then the default locale's (as
    /// the agent answers).
    async fn relevance(&self, question: &str, locale: Option<&str>) -> Option<f32>;
}

#[async_trait]
impl KnowledgeProbe for KnowledgeBase {
    async fn relevance(&self, question: &str, locale: Option<&str>) -> Option<f32> {
        // As the agent answers: the conversation's locale's articles, then the default's.
        let in_locale = |l: &str| SearchFilter {
            locale: Some(l.to_string()),
            ..SearchFilter::default()
        };
        let default = frontline_flows::wording::DEFAULT_LOCALE;
        let filters = match locale {
            Some(l) if l != default => vec![in_locale(l), in_locale(default)],
            _ => vec![in_locale(default)],
        };
        for filter in &filters {
            match self.search(question, 3, filter).await {
                Ok(result) if result.abstain.is_none() => return Some(result.confidence),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "knowledge probe failed; routing without it");
                    return None;
                }
            }
        }
        None
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
    /// The router for conversations not in the default locale, when the flows are translated.
    translated: Option<EmbeddingRouter>,
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
    examples_with(flows, false)
}

/// [`examples`] with every translation's examples too (for conversations not in the default
/// locale); empty when the flows have none.
pub fn translated_examples(flows: &FlowSet) -> Vec<(Intent, String)> {
    if flows.iter().all(|f| f.spec.translated_examples.is_empty()) {
        return vec![];
    }
    examples_with(flows, true)
}

fn examples_with(flows: &FlowSet, translated: bool) -> Vec<(Intent, String)> {
    let mut out = Vec::new();
    for flow in flows.iter() {
        if flow.spec.starts != Starts::Customer || flow.spec.id.starts_with("pattern_") {
            continue;
        }
        let intent = Intent::Flow(flow.spec.id.clone());
        let others = flow.spec.translated_examples.iter().filter(|_| translated);
        for example in flow.spec.examples.iter().chain(others) {
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

/// The route, after the flows' keywords have had their say: among the three flows the router
/// ranks closest, the one whose keywords the message says most often ("I want to return the
/// backpack" says "return") takes a flow route, a clarification between flows, or a message the
/// router found nothing in ("I'd like to leave the running socks club" says "club"). A tie
/// changes nothing, and a knowledge or built-in route is left alone.
pub fn keyword_route(
    flows: &FlowSet,
    message: &str,
    ranked: &[(Intent, f32)],
    route: Route,
) -> Route {
    // A need stated outright ("I need to change the delivery address for my order") is a
    // request even where the help centre covers the subject; a question stays a question.
    let stated = matches!(route, Route::Knowledge(_)) && states_need(message);
    if !matches!(route, Route::Flow(..) | Route::Clarify(_) | Route::Nothing) && !stated {
        return route;
    }
    let said = Said::new(message);
    let contenders: Vec<(&String, f32, usize)> = ranked
        .iter()
        .filter_map(|(intent, score)| match intent {
            Intent::Flow(id) => Some((id, *score)),
            Intent::Builtin(_) => None,
        })
        .take(3)
        .map(|(id, score)| (id, score, said.hits(flows, id)))
        .collect();
    let most = contenders.iter().map(|c| c.2).max().unwrap_or(0);
    let named: Vec<&(&String, f32, usize)> = contenders.iter().filter(|c| c.2 == most).collect();
    let [(id, score, _)] = named.as_slice() else {
        return route;
    };
    if most == 0 {
        return route;
    }
    match route {
        Route::Flow(_, routed) => Route::Flow((*id).clone(), routed.max(*score)),
        Route::Clarify(_) | Route::Nothing | Route::Knowledge(_) => {
            Route::Flow((*id).clone(), *score)
        }
        other => other,
    }
}

/// A message as the flows' keywords are looked for in it.
struct Said(String);

impl Said {
    fn new(message: &str) -> Self {
        Said(format!(" {} ", crate::extract::normalize(message)))
    }

    /// Whether it says `keyword`: " keyword" followed by nothing or a common ending, then a
    /// space; keywords are written lowercase, so most need no normalizing.
    fn says(&self, keyword: &str) -> bool {
        let said = &self.0;
        let plain = keyword
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b' ' || b == b'\'');
        let keyword = match plain {
            true => std::borrow::Cow::Borrowed(keyword),
            false => std::borrow::Cow::Owned(crate::extract::normalize(keyword)),
        };
        said.match_indices(keyword.as_ref()).any(|(at, _)| {
            let rest = &said[at + keyword.len()..];
            said.as_bytes()[at.saturating_sub(1)] == b' '
                && ["", "s", "es", "ed", "ing"].iter().any(|ending| {
                    rest.strip_prefix(ending)
                        .is_some_and(|r| r.starts_with(' '))
                })
        })
    }

    /// How many of the flow's keywords it says.
    fn hits(&self, flows: &FlowSet, id: &str) -> usize {
        flows
            .get(id)
            .map(|f| f.spec.keywords.iter().filter(|k| self.says(k)).count())
            .unwrap_or(0)
    }
}

/// Whether the customer states a need of their own in the first person ("I need to…", "I want
/// to…", "I'd like to…", "please…"), not a wish to know something ("I'd like to know…") and
/// not a question.
pub fn states_need(message: &str) -> bool {
    static NEED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let need = NEED.get_or_init(|| {
        regex::Regex::new(
            concat!(
                r"(?i)^\s*(?:(?:hi|hello|hey|hiya|hola|buenas|hallo|guten tag)(?: there)?\W+)?",
                r"(?:i (?:really )?(?:need|want|have) to|i'd like to|i would like to|please",
                // Spanish and German (the shipped translations).
                r"|(?:yo )?(?:quiero|necesito|quisiera|me gustaría|deseo)|por favor",
                r"|ich (?:möchte|will|muss|würde gerne?|hätte gerne?)|bitte)",
                r"\s+(know|ask|understand|find out|check|learn|see|confirm|saber|preguntar|consultar|wissen|fragen|nachfragen)?\b",
            ),
        )
        .expect("pattern")
    });
    !message.contains('?') && need.captures(message).is_some_and(|c| c.get(1).is_none())
}

impl LocalUnderstanding {
    /// Where a message (or one part of it) goes: the router's decision, then the keywords'.
    fn route(&self, message: &str, ranked: &[(Intent, f32)], relevance: Option<f32>) -> Route {
        keyword_route(
            self.flows(),
            message,
            ranked,
            decide_route(ranked, relevance, &self.settings),
        )
    }

    /// Embed the flows' examples and the built-in intents' phrasings.
    pub async fn build(
        flows: Arc<FlowSet>,
        embedder: Arc<dyn Embedder>,
        settings: LocalSettings,
    ) -> Result<Self, EmbedError> {
        let router = EmbeddingRouter::build(
            embedder.clone(),
            examples(&flows),
            settings.router,
            &|_, _| {},
        )
        .await?;
        // Conversations in another language: the same intents, with the translations' examples
        // (the default locale's router stays as calibrated).
        let translated = translated_examples(&flows);
        let translated = match translated.is_empty() {
            true => None,
            false => Some(
                EmbeddingRouter::build(embedder, translated, settings.router, &|_, _| {}).await?,
            ),
        };
        Ok(Self {
            pipeline: Pipeline::new(flows).with_switch_threshold(settings.sure),
            router,
            translated,
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

    /// The router for a conversation in `language` (`None`: the default locale).
    fn router_for(&self, language: Option<&str>) -> &EmbeddingRouter {
        match (language, &self.translated) {
            (Some(_), Some(translated)) => translated,
            _ => &self.router,
        }
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
        let ranked = self
            .router_for(context.language.as_deref())
            .rank(&embedding);
        let relevance = match &self.knowledge {
            Some(probe) if needs_knowledge(&ranked, &self.settings) => {
                probe.relevance(message, context.language.as_deref()).await
            }
            _ => None,
        };
        let route = self.route(message, &ranked, relevance);
        let fallback = self
            .closest_enum(context, &embedding)
            .await
            .map_err(|e| UnderstandingError::Unavailable(e.to_string()))?;
        let mut commands = self.pipeline.commands(message, context, route, fallback);
        if context.active_flow.is_none() {
            commands = self.two_requests(message, context, commands).await?;
        }
        commands = self
            .question_about_a_flow(message, context, relevance, &ranked, commands)
            .await;
        Ok((commands, ranked))
    }

    /// A message asking two things ("start a return for the kettle, and do you cover the
    /// return postage?"): the flow one part asks for is started and the question another part
    /// asks is answered, both in this turn. Two requests ("a refund for the chair, and where
    /// is my backpack?") start both flows, each on its own words: the first goes first, the
    /// second waits beneath it.
    async fn two_requests(
        &self,
        message: &str,
        context: &DialogueContext,
        commands: Vec<ScoredCommand>,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError> {
        let parts = clauses(message);
        if parts.len() < 2 {
            return Ok(commands);
        }
        let (mut flows, mut question): (Vec<(String, f32, String)>, _) = (Vec::new(), None);
        for part in &parts {
            let embedding = self
                .router
                .embed_one(part)
                .await
                .map_err(|e| UnderstandingError::Unavailable(e.to_string()))?;
            let ranked = self
                .router_for(context.language.as_deref())
                .rank(&embedding);
            let relevance = match &self.knowledge {
                Some(probe) => probe.relevance(part, context.language.as_deref()).await,
                None => None,
            };
            let asks_policy = is_policy_question(part) && relevance.is_some();
            match self.route(part, &ranked, relevance) {
                Route::Knowledge(_) => {
                    question.get_or_insert_with(|| part.clone());
                }
                Route::Flow(..) if asks_policy => {
                    question.get_or_insert_with(|| part.clone());
                }
                Route::Flow(id, score) if flows.iter().all(|(f, ..)| *f != id) => {
                    flows.push((id, score, part.clone()));
                }
                _ => {}
            }
        }
        // Two requests only when each part names its flow in so many words ("send back",
        // "where is"): a problem told beside a request ("the watch doesn't hold a charge. I'd
        // like to return it") is what the request is about, not a second one.
        let named =
            |(id, _, part): &(String, f32, String)| Said::new(part).hits(self.flows(), id) > 0;
        let next = match flows.as_slice() {
            [first, second, ..] if named(first) && named(second) => Some(second.clone()),
            _ => None,
        };
        let Some((id, score, part)) = flows.into_iter().next() else {
            return Ok(commands);
        };
        if next.is_none() && question.is_none() {
            return Ok(commands);
        }
        let mut all: Vec<ScoredCommand> = next
            .map(|(next, score, part)| {
                ScoredCommand::new(
                    Command::StartFlow {
                        flow_id: next,
                        part: Some(part),
                    },
                    score,
                )
            })
            .into_iter()
            .collect();
        // Beside a second request, the first reads only its own words too; beside a question
        // it reads the whole message (the question may name what it is about).
        let two = !all.is_empty();
        let first = self
            .pipeline
            .commands(&part, context, Route::Flow(id, score), None)
            .into_iter()
            .map(|mut c| {
                if let (Command::StartFlow { part: own, .. }, true) = (&mut c.command, two) {
                    *own = Some(part.clone());
                }
                c
            });
        all.extend(first);
        if let Some(question) = question {
            all.push(ScoredCommand::new(
                Command::AnswerFromKnowledge { query: question },
                score,
            ));
        }
        Ok(all)
    }

    /// A question about a transaction ("can I return something after 30 days?", "do you
    /// deliver to Mexico?") is answered from the knowledge base, with an offer to start the
    /// flow, instead of starting it.
    async fn question_about_a_flow(
        &self,
        message: &str,
        context: &DialogueContext,
        relevance: Option<f32>,
        ranked: &[(Intent, f32)],
        commands: Vec<ScoredCommand>,
    ) -> Vec<ScoredCommand> {
        let in_flow = context.active_flow.is_some();
        // Already answered from the knowledge base: offer the flow the question is about, when
        // the router sees one (not in the middle of another).
        if let [ScoredCommand {
            command: Command::AnswerFromKnowledge { .. },
            ..
        }] = commands.as_slice()
        {
            if in_flow {
                return commands;
            }
            let about = ranked.first().and_then(|(intent, score)| match intent {
                Intent::Flow(id) if *score >= self.settings.router.out_of_scope => Some(id),
                _ => None,
            });
            if let (Some(flow_id), true) = (about, is_policy_question(message)) {
                let mut offered = commands.clone();
                offered.push(ScoredCommand::new(
                    Command::Clarify {
                        options: vec![flow_id.clone()],
                    },
                    0.5,
                ));
                return offered;
            }
            return commands;
        }
        let Some(Command::StartFlow { flow_id, .. }) = commands.first().map(|c| &c.command) else {
            return commands;
        };
        if commands.len() > 1 || !is_policy_question(message) {
            return commands;
        }
        // In the middle of a flow, a question about another is answered, not a digression.
        let in_another_flow = context
            .active_flow
            .as_ref()
            .is_some_and(|a| &a.flow_id != flow_id);
        if in_flow && !in_another_flow {
            return commands;
        }
        let relevance = match (relevance, &self.knowledge) {
            (Some(r), _) => Some(r),
            (None, Some(probe)) => probe.relevance(message, context.language.as_deref()).await,
            (None, None) => None,
        };
        let Some(relevance) = relevance else {
            return commands;
        };
        let answer = ScoredCommand::new(
            Command::AnswerFromKnowledge {
                query: message.trim().to_string(),
            },
            relevance.max(0.5),
        );
        if in_flow {
            return vec![answer];
        }
        vec![
            answer,
            ScoredCommand::new(
                Command::Clarify {
                    options: vec![flow_id.clone()],
                },
                0.5,
            ),
        ]
    }
}

/// A message's parts that could each be a request: sentences, and a question joined to a
/// request by "and" ("…, and do you cover the postage?"). Parts of fewer than three words are
/// not requests of their own.
pub fn clauses(message: &str) -> Vec<String> {
    static SPLIT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let split = SPLIT.get_or_init(|| {
        regex::Regex::new(
            r"(?i)[.?!;]+\s+|,?\s+(?:and|also|plus|but)\s+(?:(?:also|then)\s+)?((?:do|does|did|can|could|how|what|when|where|is|are|will|would|should|may)\b)",
        )
        .expect("pattern")
    });
    let mut parts = Vec::new();
    let mut from = 0;
    for found in split.captures_iter(message) {
        let whole = found.get(0).expect("a match");
        parts.push(&message[from..whole.start()]);
        // After "and", the question starts at its first word.
        from = found.get(1).map_or(whole.end(), |q| q.start());
    }
    parts.push(&message[from..]);
    static LEAD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let lead = LEAD.get_or_init(|| {
        regex::Regex::new(r"(?i)^(?:(?:and|also|plus|but|oh|ok|okay|so)\b[,\s]*)+")
            .expect("pattern")
    });
    parts
        .into_iter()
        .map(|p| {
            lead.replace(p.trim(), "")
                .trim_end_matches([',', '.'])
                .to_string()
        })
        .filter(|p| p.split_whitespace().count() >= 3)
        .collect()
}

/// Whether a message asks how something works rather than asking for it to be done: "can I
/// return something after 30 days?", "do you deliver to Mexico?", "how long do refunds take?".
/// A question about the customer's own order ("where is my order?", "can you cancel it?") is a
/// request.
pub fn is_policy_question(message: &str) -> bool {
    static ASKS: std::sync::OnceLock<(regex::Regex, regex::Regex)> = std::sync::OnceLock::new();
    let (asks, request) = ASKS.get_or_init(|| {
        (
            regex::Regex::new(concat!(
                r"(?i)^\s*(?:(?:hi|hello|hey|hiya|hola|buenas|hallo)(?: there)?\W+)?¿?\s*(?:(?:y|und)\s+)?",
                r"(?:do you|does|is it|is there|are there|are returns|how (?:do|does|long|much|many|can)|what(?:'s| is| are)? (?:the|your)|can i|could i|may i|am i allowed|is return|is shipping|is delivery|will i|which",
                // Spanish and German (the shipped translations).
                r"|cuánto|cuánta|cuántos|cuántas|cómo|qué|cuál|cuáles|puedo|se puede|hay|aceptan|hacen|tienen|venden|es posible",
                r"|wie|was|welche|welcher|welches|kann ich|kann man|darf ich|gibt es|akzeptieren sie|liefern sie|verkaufen sie|verfallen|muss ich)\b",
            ))
            .expect("pattern"),
            regex::Regex::new(concat!(
                r"(?i)\b(?:you (?:cancel|return|change|send|ship|refund|exchange|swap|stop|check|update|track)|please|my (?:order|package|parcel|delivery|purchase|subscription|refund)|#?w\d{7}|the one",
                r"|por favor|mis? (?:pedidos?|paquetes?|compras?|envío|suscripción|reembolso)|el de la|la de la|el del",
                r"|bitte|meine?n? (?:bestellung|paket|lieferung|einkauf|abo|erstattung)|die mit dem|die mit der|das mit dem)\b",
            ))
            .expect("pattern"),
        )
    });
    asks.is_match(message) && !request.is_match(message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_named_by_its_keywords_wins_among_the_closest() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
        let flows = FlowSet::load(&dir, &frontline_shop::actions::catalog()).unwrap();
        let flow = |id: &str| Intent::Flow(id.into());
        let ranked = vec![
            (flow("exchange_items"), 0.62),
            (flow("return_items"), 0.60),
            (flow("order_status"), 0.41),
        ];
        let route = |message: &str, routed: Route| keyword_route(&flows, message, &ranked, routed);
        let exchange = || Route::Flow("exchange_items".into(), 0.62);
        // "return" names the return, over the router's first choice.
        assert_eq!(
            route(
                "I want to return the running shoes, they're too small",
                exchange()
            ),
            Route::Flow("return_items".into(), 0.62)
        );
        // Said of neither, or of both: the router decides.
        assert_eq!(route("the shoes are too small", exchange()), exchange());
        assert_eq!(
            route("return or exchange, whichever", exchange()),
            exchange()
        );
        // A question between the two is settled; nothing recognised becomes the named flow.
        let clarify = Route::Clarify(vec!["exchange_items".into(), "return_items".into()]);
        assert_eq!(
            route("can I swap it", clarify),
            Route::Flow("exchange_items".into(), 0.62)
        );
        assert_eq!(
            route("I'd like my money back", Route::Nothing),
            Route::Flow("return_items".into(), 0.60)
        );
        // Knowledge and built-in routes are left alone; flows outside the closest three too.
        assert_eq!(
            route("how do refunds work", Route::Knowledge(0.8)),
            Route::Knowledge(0.8)
        );
        assert_eq!(
            route("cancel my subscription", Route::Nothing),
            Route::Nothing
        );
    }

    #[test]
    fn a_message_splits_into_its_requests() {
        assert_eq!(
            clauses("Please start a return for the kettle, and do you cover the return postage?"),
            [
                "Please start a return for the kettle",
                "do you cover the return postage?"
            ]
        );
        assert_eq!(
            clauses("I want to cancel my order. Also, how long do refunds take?"),
            ["I want to cancel my order", "how long do refunds take?"]
        );
        assert_eq!(
            clauses("cancel my order and the other one"),
            ["cancel my order and the other one"]
        );
        assert_eq!(clauses("hi. where is my order?"), ["where is my order?"]);
    }

    #[test]
    fn questions_about_a_policy_are_told_from_requests() {
        assert!(is_policy_question(
            "Hi, can I return something after I've opened the box?"
        ));
        for q in [
            "do you deliver to Mexico?",
            "can I return something after 30 days?",
            "how long do refunds take?",
            "is return shipping free?",
            "what's your return policy",
            "do you cover the return postage?",
        ] {
            assert!(is_policy_question(q), "{q}");
        }
        for r in [
            "where is my order?",
            "can you cancel my order?",
            "can I return my order #W0000002?",
            "please cancel it",
            "I want to return the lamp",
            "how long until my order arrives",
        ] {
            assert!(!is_policy_question(r), "{r}");
        }
    }
}

#[cfg(test)]
mod need_tests {
    use super::states_need;

    #[test]
    fn a_need_stated_outright_is_told_from_a_wish_to_know_and_from_a_question() {
        for need in [
            "I need to change the delivery address for my backpack order",
            "hi, I want to send the kettle back",
            "I'd like to cancel the water filters",
            "please update the address on my order",
        ] {
            assert!(states_need(need), "{need}");
        }
        for not in [
            "I want to know your return policy",
            "I'd like to check whether you ship to Canada",
            "I need to change my address, is that possible?",
            "can I change the address on my order",
            "the address on my order is wrong",
        ] {
            assert!(!states_need(not), "{not}");
        }
    }
}
