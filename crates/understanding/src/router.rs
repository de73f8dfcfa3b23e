//! Routing: which flow or built-in intent a message is about, or none.
//!
//! [`EmbeddingRouter`] embeds every example of every intent once (flow `examples` and
//! `description`, and the built-in intents' phrasings) and scores a message against them by
//! cosine similarity: an intent's score is the mean of its `k` closest examples. Below the
//! out-of-scope threshold nothing is chosen; when the runner-up is within the margin, the
//! customer is asked to choose. Both thresholds come from [`calibrate`] on labelled data.
//!
//! With [`RouterSettings::head`] on, a trained softmax layer ([`IntentHead`]) chooses among the
//! intents instead of the nearest examples; the similarity scores still decide whether the
//! message is in scope at all, and what is compared with the knowledge base.

use crate::head::{HeadTraining, IntentHead};
use frontline_knowledge::{EmbedError, Embedder};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Intents every deployment has, needing no flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// "hi".
    Greeting,
    /// "thanks".
    Thanks,
    /// "bye".
    Goodbye,
    /// "let me talk to a person".
    Human,
}

impl Builtin {
    /// All of them.
    pub const ALL: [Builtin; 4] = [
        Builtin::Greeting,
        Builtin::Thanks,
        Builtin::Goodbye,
        Builtin::Human,
    ];

    /// How customers say it: the router's examples for this intent.
    pub fn examples(self) -> &'static [&'static str] {
        match self {
            Builtin::Greeting => &[
                "hi",
                "hello",
                "hey there",
                "good morning",
                "good afternoon",
                "good evening",
                "hi, is anyone there?",
                "hello team",
                "howdy",
            ],
            Builtin::Thanks => &[
                "thanks",
                "thank you",
                "thank you so much",
                "thanks a lot, that helps",
                "cheers",
                "much appreciated",
                "great, thanks for your help",
                "perfect, thank you",
            ],
            Builtin::Goodbye => &[
                "bye",
                "goodbye",
                "see you",
                "that's all for now",
                "nothing else, have a good day",
                "that's everything, bye",
                "I'm done, thanks bye",
            ],
            Builtin::Human => &[
                "I want to talk to a human",
                "let me speak to a real person",
                "connect me to an agent",
                "can I talk to someone from customer service",
                "transfer me to a representative",
                "get me a manager",
                "I need a live agent",
                "put me through to a person please",
                "is there a human I can speak with",
                "stop the bot, I want a person",
                "have someone from your team get in touch with me",
                "I'd like a staff member to call me back",
                "can one of your people contact me",
            ],
        }
    }

    /// The intent's name in reports (`greeting`, `human`, …).
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Greeting => "greeting",
            Builtin::Thanks => "thanks",
            Builtin::Goodbye => "goodbye",
            Builtin::Human => "human",
        }
    }
}

/// What a message can be routed to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// A flow, by id.
    Flow(String),
    /// A built-in intent.
    Builtin(Builtin),
}

/// The router's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterSettings {
    /// An intent's score is the mean similarity of its `k` closest examples.
    pub k: usize,
    /// Below this best score the message is out of scope.
    pub out_of_scope: f32,
    /// A runner-up (of another intent) within this of the best → ask which one.
    pub margin: f32,
    /// Let the trained intent head choose the intent (similarity still gates the scope).
    #[serde(default)]
    pub head: bool,
}

impl Default for RouterSettings {
    /// Calibrated on CLINC150 (`val` + `oos_train`); see `evals/understanding/README.md`.
    fn default() -> Self {
        Self {
            k: 2,
            out_of_scope: 0.55,
            margin: 0.02,
            head: false,
        }
    }
}

/// A router's verdict on one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Routed {
    /// This intent, with its score.
    Intent(Intent, f32),
    /// Too close to call between these (best first).
    Ambiguous(Vec<(Intent, f32)>),
    /// Nothing fits well enough; the best score, for the record.
    OutOfScope(f32),
}

/// Intent examples as unit vectors, scored by cosine similarity.
pub struct EmbeddingRouter {
    embedder: Arc<dyn Embedder>,
    intents: Vec<Intent>,
    /// Row-major, `dimension` floats per example.
    vectors: Vec<f32>,
    /// The intent (index into `intents`) of each example.
    owner: Vec<usize>,
    dimension: usize,
    settings: RouterSettings,
    /// Fitted to the examples when the router is built.
    head: IntentHead,
}

impl std::fmt::Debug for EmbeddingRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingRouter")
            .field("embedder", &self.embedder.name())
            .field("intents", &self.intents.len())
            .field("examples", &self.owner.len())
            .field("settings", &self.settings)
            .finish()
    }
}

/// Texts are embedded this many at a time while building.
const BATCH: usize = 64;

impl EmbeddingRouter {
    /// Embed `examples` (intent, text) and build the router. `progress` is told how many
    /// examples are done after each batch.
    pub async fn build(
        embedder: Arc<dyn Embedder>,
        examples: Vec<(Intent, String)>,
        settings: RouterSettings,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Self, EmbedError> {
        let texts: Vec<String> = examples.iter().map(|(_, t)| t.clone()).collect();
        let mut vectors = Vec::with_capacity(texts.len() * embedder.dimension());
        for (i, batch) in texts.chunks(BATCH).enumerate() {
            for v in embedder.embed(batch).await? {
                vectors.extend(v);
            }
            progress(((i + 1) * BATCH).min(texts.len()), texts.len());
        }
        Ok(Self::from_vectors(embedder, examples, vectors, settings))
    }

    /// A router over examples already embedded (`vectors`: one row per example, in order).
    pub fn from_vectors(
        embedder: Arc<dyn Embedder>,
        examples: Vec<(Intent, String)>,
        vectors: Vec<f32>,
        settings: RouterSettings,
    ) -> Self {
        let mut intents: Vec<Intent> = Vec::new();
        let owner: Vec<usize> = examples
            .into_iter()
            .map(
                |(intent, _)| match intents.iter().position(|i| *i == intent) {
                    Some(at) => at,
                    None => {
                        intents.push(intent);
                        intents.len() - 1
                    }
                },
            )
            .collect();
        let dimension = embedder.dimension();
        let head = IntentHead::train(
            &vectors,
            &owner,
            intents.len(),
            dimension,
            &HeadTraining::default(),
        );
        Self {
            dimension,
            embedder,
            intents,
            vectors,
            owner,
            settings,
            head,
        }
    }

    /// The embedder examples and messages go through.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The thresholds in use.
    pub fn settings(&self) -> RouterSettings {
        self.settings
    }

    /// Use other thresholds (after [`calibrate`]).
    pub fn set_settings(&mut self, settings: RouterSettings) {
        self.settings = settings;
    }

    /// Every intent's score for a message's unit vector, best first.
    pub fn rank(&self, embedding: &[f32]) -> Vec<(Intent, f32)> {
        let k = self.settings.k.max(1);
        // The k best similarities of each intent, kept sorted descending.
        let mut best: Vec<Vec<f32>> = vec![Vec::with_capacity(k + 1); self.intents.len()];
        for (row, owner) in self.vectors.chunks_exact(self.dimension).zip(&self.owner) {
            let similarity = dot(row, embedding);
            let top = &mut best[*owner];
            if top.len() < k || similarity > top[top.len() - 1] {
                let at = top.partition_point(|s| *s >= similarity);
                top.insert(at, similarity);
                top.truncate(k);
            }
        }
        let similarity = |top: &Vec<f32>| top.iter().sum::<f32>() / top.len().max(1) as f32;
        if self.settings.head && self.head.classes() == self.intents.len() {
            return self.rank_by_head(embedding, &best.iter().map(similarity).collect::<Vec<_>>());
        }
        let mut ranked: Vec<(Intent, f32)> = best
            .iter()
            .enumerate()
            .filter(|(_, top)| !top.is_empty())
            .map(|(i, top)| (self.intents[i].clone(), similarity(top)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }

    /// The head's order, most probable first, each intent with its similarity (capped at the
    /// first's): the chosen intent's own examples must be close enough for the message to be in
    /// scope.
    fn rank_by_head(&self, embedding: &[f32], similarities: &[f32]) -> Vec<(Intent, f32)> {
        let probabilities = self.head.probabilities(embedding);
        let mut order: Vec<usize> = (0..self.intents.len()).collect();
        order.sort_by(|a, b| {
            probabilities[*b]
                .total_cmp(&probabilities[*a])
                .then_with(|| self.intents[*a].cmp(&self.intents[*b]))
        });
        let best = similarities[order[0]];
        order
            .into_iter()
            .enumerate()
            .map(|(rank, i)| {
                let score = if rank == 0 {
                    best
                } else {
                    similarities[i].min(best)
                };
                (self.intents[i].clone(), score)
            })
            .collect()
    }

    /// The verdict for a ranking, by the thresholds.
    pub fn decide(&self, ranked: &[(Intent, f32)]) -> Routed {
        decide(ranked, &self.settings)
    }

    /// One text's unit vector.
    pub async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.embedder
            .embed(&[text.to_string()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| EmbedError::Model("the embedder returned no vector".into()))
    }
}

/// The verdict for a ranking (best first) under `settings`.
pub fn decide(ranked: &[(Intent, f32)], settings: &RouterSettings) -> Routed {
    match ranked {
        [] => Routed::OutOfScope(0.0),
        [(_, best), ..] if *best < settings.out_of_scope => Routed::OutOfScope(*best),
        [(first, best), (second, next), ..] if best - next < settings.margin => {
            Routed::Ambiguous(vec![(first.clone(), *best), (second.clone(), *next)])
        }
        [(first, best), ..] => Routed::Intent(first.clone(), *best),
    }
}

/// The dot product of two equally long vectors (the cosine similarity of unit vectors).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four lanes so the compiler vectorises without -ffast-math.
    let mut acc = [0.0f32; 4];
    let chunks = a.len() / 4 * 4;
    for (x, y) in a[..chunks].chunks_exact(4).zip(b[..chunks].chunks_exact(4)) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// One labelled message for calibration: its ranking and the intent it should get (`None`:
/// out of scope).
#[derive(Clone, Debug)]
pub struct Labelled {
    /// The router's ranking of the message.
    pub ranked: Vec<(Intent, f32)>,
    /// The right answer.
    pub expected: Option<Intent>,
}

/// How a router does on labelled messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RoutingScore {
    /// In-scope messages routed to their intent (ambiguous and out-of-scope count as wrong).
    pub in_scope_accuracy: f64,
    /// In-scope messages whose intent ranked first, thresholds aside.
    pub top1_accuracy: f64,
    /// Out-of-scope messages that were refused (out of scope or ambiguous).
    pub oos_recall: f64,
    /// Refusals that were right: out-of-scope among everything refused.
    pub oos_precision: f64,
    /// In-scope messages the router asked about instead of routing.
    pub clarify_rate: f64,
    /// How many in scope and out of scope.
    pub in_scope: usize,
    /// How many out of scope.
    pub out_of_scope: usize,
}

/// Score `settings` on `data`.
pub fn score(data: &[Labelled], settings: &RouterSettings) -> RoutingScore {
    let (mut correct, mut top1, mut clarified, mut in_scope) = (0, 0, 0, 0);
    let (mut refused_oos, mut refused_in, mut oos) = (0, 0, 0);
    for item in data {
        let routed = decide(&item.ranked, settings);
        let refused = !matches!(routed, Routed::Intent(..));
        match &item.expected {
            Some(expected) => {
                in_scope += 1;
                if item.ranked.first().map(|(i, _)| i) == Some(expected) {
                    top1 += 1;
                }
                match &routed {
                    Routed::Intent(i, _) if i == expected => correct += 1,
                    Routed::Ambiguous(_) => clarified += 1,
                    _ => {}
                }
                if refused {
                    refused_in += 1;
                }
            }
            None => {
                oos += 1;
                if refused {
                    refused_oos += 1;
                }
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    RoutingScore {
        in_scope_accuracy: ratio(correct, in_scope),
        top1_accuracy: ratio(top1, in_scope),
        oos_recall: ratio(refused_oos, oos),
        oos_precision: ratio(refused_oos, refused_oos + refused_in),
        clarify_rate: ratio(clarified, in_scope),
        in_scope,
        out_of_scope: oos,
    }
}

/// Out-of-scope recall the calibration must reach before it trades any more of it for in-scope
/// accuracy: at least 85% of messages about something no flow handles are refused rather than
/// sent into a wrong flow (on calibration data; the issue asks for 75% on held-out data, and a
/// small out-of-scope set swings a few points either way).
pub const OOS_RECALL_FLOOR: f64 = 0.85;

/// How [`calibrate`] ranks a score (higher is better): settings meeting the recall floor
/// first, by in-scope accuracy; then the others, by the mean of accuracy and recall.
pub fn objective(s: &RoutingScore, has_oos: bool) -> (bool, f64) {
    match (has_oos, s.oos_recall >= OOS_RECALL_FLOOR) {
        (false, _) | (true, true) => (true, s.in_scope_accuracy),
        (true, false) => (false, (s.in_scope_accuracy + s.oos_recall) / 2.0),
    }
}

/// The thresholds (for a fixed `k`) that do best on `data`: the out-of-scope threshold and
/// margin giving the best in-scope accuracy among those that refuse at least
/// [`OOS_RECALL_FLOOR`] of the out-of-scope messages (when none does, the best mean of in-scope
/// accuracy and out-of-scope recall); without out-of-scope examples, in-scope accuracy alone.
/// Among equally good settings the widest margin and then the highest threshold win: they
/// refuse more of what the data could not show. The ranking inside `data` must have been made
/// with the same `k` and head.
pub fn calibrate(data: &[Labelled], k: usize, head: bool) -> (RouterSettings, RoutingScore) {
    let has_oos = data.iter().any(|d| d.expected.is_none());
    let mut best: Option<((bool, f64), RouterSettings, RoutingScore)> = None;
    for margin_step in 0..=10 {
        let margin = margin_step as f32 * 0.005;
        for threshold_step in 0..=60 {
            let out_of_scope = 0.20 + threshold_step as f32 * 0.01;
            let settings = RouterSettings {
                k,
                out_of_scope,
                margin,
                head,
            };
            let s = score(data, &settings);
            let objective = objective(&s, has_oos);
            // Ties go to the later (higher threshold, wider margin): safer.
            if best.as_ref().is_none_or(|(b, _, _)| objective >= *b) {
                best = Some((objective, settings, s));
            }
        }
    }
    let (_, settings, s) = best.expect("the grid is not empty");
    (settings, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(id: &str) -> Intent {
        Intent::Flow(id.into())
    }

    #[test]
    fn thresholds_decide_between_intent_ambiguity_and_out_of_scope() {
        let settings = RouterSettings {
            k: 1,
            out_of_scope: 0.5,
            margin: 0.05,
            head: false,
        };
        assert_eq!(
            decide(&[(flow("a"), 0.8), (flow("b"), 0.6)], &settings),
            Routed::Intent(flow("a"), 0.8)
        );
        assert!(matches!(
            decide(&[(flow("a"), 0.8), (flow("b"), 0.78)], &settings),
            Routed::Ambiguous(options) if options.len() == 2
        ));
        assert_eq!(
            decide(&[(flow("a"), 0.4)], &settings),
            Routed::OutOfScope(0.4)
        );
        assert_eq!(decide(&[], &settings), Routed::OutOfScope(0.0));
    }

    #[test]
    fn calibration_finds_the_gap_between_in_scope_and_out_of_scope() {
        let data: Vec<Labelled> = (0..20)
            .map(|i| Labelled {
                ranked: vec![(flow("a"), 0.7 + i as f32 * 0.01), (flow("b"), 0.3)],
                expected: Some(flow("a")),
            })
            .chain((0..20).map(|i| Labelled {
                ranked: vec![(flow("a"), 0.3 + i as f32 * 0.01), (flow("b"), 0.2)],
                expected: None,
            }))
            .collect();
        let (settings, s) = calibrate(&data, 1, false);
        assert!(settings.out_of_scope > 0.49 && settings.out_of_scope <= 0.70);
        assert_eq!(s.in_scope_accuracy, 1.0);
        assert_eq!(s.oos_recall, 1.0);
        assert_eq!(s.oos_precision, 1.0);
    }

    #[test]
    fn calibration_keeps_the_recall_floor_and_gives_up_no_more_accuracy() {
        // In-scope scores 0.50..0.69, out-of-scope 0.40..0.59: they overlap, so every threshold
        // trades one for the other.
        let data: Vec<Labelled> = (0..20)
            .map(|i| Labelled {
                ranked: vec![(flow("a"), 0.505 + i as f32 * 0.01), (flow("b"), 0.1)],
                expected: Some(flow("a")),
            })
            .chain((0..20).map(|i| Labelled {
                ranked: vec![(flow("a"), 0.405 + i as f32 * 0.01), (flow("b"), 0.1)],
                expected: None,
            }))
            .collect();
        let (settings, s) = calibrate(&data, 1, false);
        // The lowest threshold refusing 17 of 20 out-of-scope messages (the 0.85 floor) is
        // 0.57; it turns away 7 of the 20 in-scope ones.
        assert_eq!(OOS_RECALL_FLOOR, 0.85);
        assert!((s.oos_recall - 0.85).abs() < 1e-9, "{s:?}");
        assert!((settings.out_of_scope - 0.57).abs() < 1e-6, "{settings:?}");
        assert!((s.in_scope_accuracy - 0.65).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..387).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..387).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
