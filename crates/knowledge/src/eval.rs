//! Retrieval evaluation: a question set (each question with the documents that answer it, or
//! none when the knowledge base must abstain) scored by recall@k, MRR and the relevance gate's
//! abstention precision and recall, plus the gate threshold that would serve the set best.

use crate::base::{KnowledgeBase, KnowledgeError};
use crate::index::SearchFilter;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One question.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Question {
    /// What the customer asks.
    #[serde(rename = "q")]
    pub text: String,
    /// The documents that answer it; empty when nothing in the knowledge base does.
    #[serde(default, deserialize_with = "one_or_many")]
    pub expect: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// Read a question set (YAML list of `{q, expect}`).
pub fn load_questions(path: &Path) -> Result<Vec<Question>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// How one question went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// The question.
    pub question: String,
    /// 1-based rank of the first expected document among the distinct documents retrieved.
    pub rank: Option<usize>,
    /// The rank of every expected document (for sets where all are required).
    pub expected_ranks: Vec<Option<usize>>,
    /// The gate's evidence.
    pub confidence: f32,
    /// Whether the question has an answer in the knowledge base.
    pub answerable: bool,
}

/// The figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RetrievalReport {
    /// Questions asked.
    pub questions: usize,
    /// Of which answerable.
    pub answerable: usize,
    /// Share of answerable questions whose first document is expected.
    pub recall_at_1: f64,
    /// … among the first five documents.
    pub recall_at_5: f64,
    /// … among the first ten documents.
    pub recall_at_10: f64,
    /// Mean reciprocal rank (0 when not in the first ten).
    pub mrr: f64,
    /// Mean share of a question's expected documents found in the first five (all required).
    pub document_recall_at_5: f64,
    /// … in the first ten.
    pub document_recall_at_10: f64,
    /// The gate threshold in force.
    pub threshold: f32,
    /// Of the questions the gate refused, the share that truly have no answer.
    pub abstain_precision: f64,
    /// Of the questions without an answer, the share the gate refused.
    pub abstain_recall: f64,
    /// Of the answerable questions, the share the gate refused.
    pub false_abstain_rate: f64,
    /// The threshold maximising abstention F1 on this set (the calibration).
    pub best_threshold: f32,
    /// Per-question detail.
    #[serde(skip)]
    pub scored: Vec<Scored>,
}

impl std::fmt::Display for RetrievalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} questions ({} answerable): recall@1 {:.3}, recall@5 {:.3}, recall@10 {:.3}, MRR {:.3}",
            self.questions,
            self.answerable,
            self.recall_at_1,
            self.recall_at_5,
            self.recall_at_10,
            self.mrr
        )?;
        if self.answerable < self.questions {
            write!(
                f,
                "; gate {:.2}: abstention precision {:.3}, recall {:.3}, false abstentions {:.3} (best threshold on this set {:.2})",
                self.threshold,
                self.abstain_precision,
                self.abstain_recall,
                self.false_abstain_rate,
                self.best_threshold
            )?;
        }
        Ok(())
    }
}

/// Abstention precision, recall and false-abstain rate at `threshold`.
fn abstention(scored: &[Scored], threshold: f32) -> (f64, f64, f64) {
    let refused = |s: &&Scored| s.confidence < threshold;
    let refused_all = scored.iter().filter(refused).count();
    let refused_right = scored
        .iter()
        .filter(refused)
        .filter(|s| !s.answerable)
        .count();
    let unanswerable = scored.iter().filter(|s| !s.answerable).count();
    let answerable = scored.len() - unanswerable;
    let refused_wrong = refused_all - refused_right;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (
        ratio(refused_right, refused_all),
        ratio(refused_right, unanswerable),
        ratio(refused_wrong, answerable),
    )
}

/// Compute the report from per-question results.
pub fn report(scored: Vec<Scored>, threshold: f32) -> RetrievalReport {
    let answerable: Vec<&Scored> = scored.iter().filter(|s| s.answerable).collect();
    let n = answerable.len().max(1) as f64;
    let within = |k: usize| {
        answerable
            .iter()
            .filter(|s| s.rank.is_some_and(|r| r <= k))
            .count() as f64
            / n
    };
    let mrr = answerable
        .iter()
        .map(|s| s.rank.filter(|r| *r <= 10).map_or(0.0, |r| 1.0 / r as f64))
        .sum::<f64>()
        / n;
    let document_recall = |k: usize| {
        answerable
            .iter()
            .map(|s| {
                let found = s
                    .expected_ranks
                    .iter()
                    .filter(|r| r.is_some_and(|r| r <= k))
                    .count();
                found as f64 / s.expected_ranks.len().max(1) as f64
            })
            .sum::<f64>()
            / n
    };
    let (abstain_precision, abstain_recall, false_abstain_rate) = abstention(&scored, threshold);
    let f1 = |t: f32| {
        let (p, r, _) = abstention(&scored, t);
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    };
    // The middle of the widest run of thresholds with the best F1: the calibration least
    // sensitive to where exactly the nearest questions fall.
    let sweep: Vec<(f32, f64)> = (10..=90)
        .map(|i| i as f32 / 100.0)
        .map(|t| (t, f1(t)))
        .collect();
    let best_f1 = sweep.iter().map(|(_, f)| *f).fold(f64::MIN, f64::max);
    let mut best_run = (0usize, 0usize);
    let mut start = None;
    for (i, (_, f)) in sweep.iter().enumerate() {
        match (*f >= best_f1 - 1e-12, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s > best_run.1 - best_run.0 {
                    best_run = (s, i);
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        if sweep.len() - s > best_run.1 - best_run.0 {
            best_run = (s, sweep.len());
        }
    }
    let best_threshold = sweep[(best_run.0 + best_run.1 - 1) / 2].0;
    RetrievalReport {
        questions: scored.len(),
        answerable: answerable.len(),
        recall_at_1: within(1),
        recall_at_5: within(5),
        recall_at_10: within(10),
        mrr,
        document_recall_at_5: document_recall(5),
        document_recall_at_10: document_recall(10),
        threshold,
        abstain_precision,
        abstain_recall,
        false_abstain_rate,
        best_threshold,
        scored,
    }
}

/// Ask every question and score the results.
pub async fn evaluate(
    knowledge: &KnowledgeBase,
    questions: &[Question],
    progress: &(dyn Fn() + Send + Sync),
) -> Result<RetrievalReport, KnowledgeError> {
    let mut scored = Vec::with_capacity(questions.len());
    for question in questions {
        let result = knowledge
            .search(&question.text, 30, &SearchFilter::default())
            .await?;
        let mut documents: Vec<&str> = Vec::new();
        for p in &result.passages {
            if !documents.contains(&p.citation.document.as_str()) {
                documents.push(&p.citation.document);
            }
        }
        let rank_of = |doc: &str| documents.iter().position(|d| *d == doc).map(|i| i + 1);
        let expected_ranks: Vec<Option<usize>> =
            question.expect.iter().map(|e| rank_of(e)).collect();
        scored.push(Scored {
            question: question.text.clone(),
            rank: expected_ranks.iter().flatten().min().copied(),
            expected_ranks,
            confidence: result.confidence,
            answerable: !question.expect.is_empty(),
        });
        progress();
    }
    Ok(report(scored, knowledge.settings().min_similarity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rank: Option<usize>, confidence: f32, answerable: bool) -> Scored {
        Scored {
            question: String::new(),
            rank,
            expected_ranks: if answerable { vec![rank] } else { vec![] },
            confidence,
            answerable,
        }
    }

    #[test]
    fn figures_follow_their_definitions() {
        let r = report(
            vec![
                s(Some(1), 0.9, true),
                s(Some(2), 0.6, true),
                s(None, 0.3, true),
                s(None, 0.2, false),
                s(None, 0.7, false),
            ],
            0.5,
        );
        assert_eq!((r.questions, r.answerable), (5, 3));
        assert!((r.recall_at_1 - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.recall_at_5 - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.mrr - 0.5).abs() < 1e-9, "(1 + 1/2 + 0) / 3");
        assert!((r.document_recall_at_5 - 2.0 / 3.0).abs() < 1e-9);
        // All-required sets: half of a question's two documents found counts one half.
        let both = report(
            vec![Scored {
                question: String::new(),
                rank: Some(2),
                expected_ranks: vec![Some(2), Some(7)],
                confidence: 0.9,
                answerable: true,
            }],
            0.5,
        );
        assert_eq!(
            (both.document_recall_at_5, both.document_recall_at_10),
            (0.5, 1.0)
        );
        // Refused: 0.3 (answerable) and 0.2 (unanswerable).
        assert!((r.abstain_precision - 0.5).abs() < 1e-9);
        assert!((r.abstain_recall - 0.5).abs() < 1e-9);
        assert!((r.false_abstain_rate - 1.0 / 3.0).abs() < 1e-9);
        // Calibration: with the unanswerable questions at 0.2 and 0.25, the thresholds
        // 0.26..=0.30 refuse exactly those two (F1 1); the middle of that run is chosen.
        let calibrated = report(
            vec![
                s(Some(1), 0.9, true),
                s(Some(2), 0.6, true),
                s(None, 0.31, true),
                s(None, 0.2, false),
                s(None, 0.25, false),
            ],
            0.5,
        );
        assert!(
            (calibrated.best_threshold - 0.28).abs() < 1e-6,
            "{}",
            calibrated.best_threshold
        );
    }

    #[test]
    fn the_demo_question_set_parses_and_is_large_enough() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../evals/knowledge/questions.yaml");
        let questions = load_questions(&path).unwrap();
        assert!(questions.len() >= 60, "{}", questions.len());
        let unanswerable = questions.iter().filter(|q| q.expect.is_empty()).count();
        assert!(unanswerable >= 10, "{unanswerable}");
        let knowledge = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge");
        for q in &questions {
            for doc in &q.expect {
                assert!(
                    knowledge.join(doc).is_file(),
                    "{}: no article {doc}",
                    q.text
                );
            }
        }
    }
}
