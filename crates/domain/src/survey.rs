//! The short survey asked when a conversation is resolved: satisfaction (CSAT) and effort (CES).

use serde::{Deserialize, Serialize};

/// One question of the survey, each answered on a 1–5 scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyQuestion {
    /// "How satisfied are you?": 1 (very unsatisfied) … 5 (very satisfied).
    Csat,
    /// "How easy was it?": 1 (very easy) … 5 (very hard), so lower is better, as CES is read.
    Effort,
}

crate::wire::wire_names!(SurveyQuestion, "survey question", {
    Csat => "csat",
    Effort => "effort",
});

impl SurveyQuestion {
    /// The question asked after this one, if any.
    pub fn next(self) -> Option<SurveyQuestion> {
        match self {
            SurveyQuestion::Csat => Some(SurveyQuestion::Effort),
            SurveyQuestion::Effort => None,
        }
    }

    /// The id a one-tap answer carries back (`csat:4`), on every channel that has buttons.
    pub fn choice_id(self, score: u8) -> String {
        format!("{}:{score}", self.as_str())
    }
}

/// One answer the customer can give with a tap, where the channel shows buttons (WhatsApp and
/// Messenger reply buttons, the web chat's rating strip); elsewhere the message's text says how
/// to answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What comes back when it is chosen (`csat:4`).
    pub id: String,
    /// What the button shows.
    pub title: String,
}
