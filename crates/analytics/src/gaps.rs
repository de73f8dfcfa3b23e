//! The knowledge gap report: what customers asked that the help centre could not answer (the
//! knowledge base abstained), what they asked in conversations they rated low, and what they
//! wrote with their survey answers, grouped by similarity so a CX team sees which article to
//! write first.
//!
//! Grouping is lexical and deterministic: each text becomes its content words (lower case, no
//! stop words, a light suffix stem), and a text joins the first group whose first text shares
//! enough of them (cosine of the word sets at least [`SIMILAR`]); groups are listed largest
//! first.

use frontline_domain::{ConversationId, Event, EventKind, SurveyQuestion, Timestamp};
use serde::Serialize;
use std::collections::BTreeSet;

/// How alike two texts' content words must be to share a group.
pub const SIMILAR: f64 = 0.5;

/// Why a text is in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GapWhy {
    /// The knowledge base abstained on it.
    Abstained {
        /// Its reason.
        reason: String,
    },
    /// A question answered in a conversation the customer rated 1 or 2.
    RatedLow {
        /// The satisfaction answer.
        csat: u8,
    },
    /// Words the customer wrote with a survey answer.
    Comment {
        /// The answer they came with.
        score: u8,
        /// To which question.
        question: SurveyQuestion,
    },
}

/// One text for the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapEntry {
    /// The conversation it came from.
    pub conversation_id: ConversationId,
    /// When.
    pub at: Timestamp,
    /// What the customer asked or wrote.
    pub text: String,
    /// Why it is here.
    pub why: GapWhy,
}

/// The entries of one conversation's log.
pub fn entries(conversation_id: ConversationId, events: &[Event]) -> Vec<GapEntry> {
    let low_csat = events.iter().find_map(|e| match &e.kind {
        EventKind::SurveyAnswered {
            question: SurveyQuestion::Csat,
            score: score @ 1..=2,
            ..
        } => Some(*score),
        _ => None,
    });
    let entry = |e: &Event, text: &str, why| GapEntry {
        conversation_id,
        at: e.at,
        text: text.to_string(),
        why,
    };
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KnowledgeConsulted {
                query,
                answered: false,
                abstain_reason,
                ..
            } => Some(entry(
                e,
                query,
                GapWhy::Abstained {
                    reason: abstain_reason
                        .clone()
                        .unwrap_or_else(|| "no passage close enough".into()),
                },
            )),
            EventKind::KnowledgeConsulted {
                query,
                answered: true,
                ..
            } => low_csat.map(|csat| entry(e, query, GapWhy::RatedLow { csat })),
            EventKind::SurveyAnswered {
                question,
                score,
                comment: Some(comment),
                ..
            } => Some(entry(
                e,
                comment,
                GapWhy::Comment {
                    score: *score,
                    question: *question,
                },
            )),
            _ => None,
        })
        .collect()
}

/// Texts alike enough to be one gap.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapGroup {
    /// The group's first text, standing for it.
    pub label: String,
    /// Its content words.
    pub words: Vec<String>,
    /// Every text in it, oldest first.
    pub entries: Vec<GapEntry>,
}

impl GapGroup {
    /// How many conversations it came up in.
    pub fn conversations(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.conversation_id)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "get", "got", "had", "has", "have", "hi",
    "hello", "how", "i", "if", "im", "in", "is", "it", "its", "just", "me", "my", "of", "on", "or",
    "please", "so", "that", "the", "their", "there", "they", "this", "to", "too", "up", "us",
    "very", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your", "thanks", "thank", "ok", "okay",
];

/// A text's content words: lower case, stop words and one-letter words out, a light stem.
pub fn content_words(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1 && !STOP_WORDS.contains(w))
        .map(stem)
        .collect()
}

fn stem(word: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if word.len() > suffix.len() + 3 {
            if let Some(root) = word.strip_suffix(suffix) {
                // "shipping" → "shipp" → "ship".
                let bytes = root.as_bytes();
                let doubled = bytes.len() > 3
                    && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
                    && !b"aeiouls".contains(&bytes[bytes.len() - 1]);
                let root = if doubled {
                    &root[..root.len() - 1]
                } else {
                    root
                };
                return root.to_string();
            }
        }
    }
    word.to_string()
}

fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.intersection(b).count() as f64 / ((a.len() * b.len()) as f64).sqrt()
}

/// Group `entries` by similarity, largest group first (then the most recent).
pub fn group(mut entries: Vec<GapEntry>) -> Vec<GapGroup> {
    entries.sort_by_key(|e| e.at);
    let mut groups: Vec<(BTreeSet<String>, GapGroup)> = vec![];
    for entry in entries {
        let words = content_words(&entry.text);
        match groups
            .iter_mut()
            .find(|(first, _)| similarity(first, &words) >= SIMILAR)
        {
            Some((_, group)) => group.entries.push(entry),
            None => groups.push((
                words.clone(),
                GapGroup {
                    label: entry.text.clone(),
                    words: words.into_iter().collect(),
                    entries: vec![entry],
                },
            )),
        }
    }
    let mut groups: Vec<GapGroup> = groups.into_iter().map(|(_, g)| g).collect();
    groups.sort_by(|a, b| {
        b.entries.len().cmp(&a.entries.len()).then_with(|| {
            b.entries
                .last()
                .map(|e| e.at)
                .cmp(&a.entries.last().map(|e| e.at))
        })
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abstained(n: i64, text: &str) -> GapEntry {
        GapEntry {
            conversation_id: ConversationId::new(),
            at: chrono::DateTime::from_timestamp(1_800_000_000 + n, 0).unwrap(),
            text: text.into(),
            why: GapWhy::Abstained {
                reason: "below the gate".into(),
            },
        }
    }

    #[test]
    fn alike_questions_share_a_group_and_the_largest_comes_first() {
        let groups = group(vec![
            abstained(1, "do you ship to Canada?"),
            abstained(2, "Can I pay with PayPal"),
            abstained(3, "shipping to canada, is it possible"),
            abstained(4, "do you deliver to Canada"),
            abstained(5, "what about paypal payments?"),
            abstained(6, "is there a student discount"),
        ]);
        let labels: Vec<(&str, usize)> = groups
            .iter()
            .map(|g| (g.label.as_str(), g.entries.len()))
            .collect();
        assert_eq!(
            labels,
            [
                ("do you ship to Canada?", 3),
                ("Can I pay with PayPal", 2),
                ("is there a student discount", 1),
            ]
        );
        assert_eq!(
            groups[0].entries[1].text,
            "shipping to canada, is it possible"
        );
        assert_eq!(groups[0].conversations(), 3);
        assert_eq!(
            content_words("Shipping to CANADA?"),
            content_words("ship canada")
        );
    }
}
