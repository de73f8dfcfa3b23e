//! The conversation quality rubric's verdicts, as stored in the log when a conversation
//! resolves (and again when its survey is answered or its customer comes back).

use serde::{Deserialize, Serialize};

/// How one criterion of the rubric came out for a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The conversation met it.
    Met,
    /// It did not.
    Missed,
    /// Nothing in the conversation it could judge (no handoff to summarise, no answer to
    /// ground, no survey answered): left out of the score.
    NotApplicable,
}

/// One criterion of the quality rubric, judged from the log, with the reason in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityItem {
    /// The criterion (`resolved`, `no_repeated_question`, `policy_followed`, `grounded`,
    /// `response_time`, `sentiment_recovered`, `summary_complete`, `survey`).
    pub criterion: String,
    /// How it came out.
    pub verdict: Verdict,
    /// Why, from the log ("asked for the order id twice").
    pub reason: String,
}

/// A conversation's quality score: the share of the applicable criteria met, with each
/// criterion's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityScore {
    /// 0 to 1; `None` when no criterion applied.
    pub score: Option<f64>,
    /// Every criterion, in the rubric's order.
    pub items: Vec<QualityItem>,
}

impl QualityScore {
    /// A score from verdicts: met over applicable.
    pub fn from_items(items: Vec<QualityItem>) -> Self {
        let applicable = items
            .iter()
            .filter(|i| i.verdict != Verdict::NotApplicable)
            .count();
        let met = items.iter().filter(|i| i.verdict == Verdict::Met).count();
        Self {
            score: (applicable > 0).then(|| met as f64 / applicable as f64),
            items,
        }
    }

    /// The criteria missed.
    pub fn missed(&self) -> impl Iterator<Item = &QualityItem> {
        self.items.iter().filter(|i| i.verdict == Verdict::Missed)
    }

    /// The verdict on `criterion`, if the rubric has it.
    pub fn verdict(&self, criterion: &str) -> Option<Verdict> {
        self.items
            .iter()
            .find(|i| i.criterion == criterion)
            .map(|i| i.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(criterion: &str, verdict: Verdict) -> QualityItem {
        QualityItem {
            criterion: criterion.into(),
            verdict,
            reason: String::new(),
        }
    }

    #[test]
    fn the_score_is_met_over_applicable() {
        let q = QualityScore::from_items(vec![
            item("resolved", Verdict::Met),
            item("grounded", Verdict::NotApplicable),
            item("survey", Verdict::Missed),
            item("response_time", Verdict::Met),
        ]);
        assert_eq!(q.score, Some(2.0 / 3.0));
        assert_eq!(
            q.missed().map(|i| i.criterion.as_str()).collect::<Vec<_>>(),
            ["survey"]
        );
        assert_eq!(q.verdict("grounded"), Some(Verdict::NotApplicable));
        assert_eq!(
            QualityScore::from_items(vec![item("survey", Verdict::NotApplicable)]).score,
            None
        );
    }
}
