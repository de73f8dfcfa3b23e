//! Consulting the knowledge base for a turn: when understanding asks for an answer from
//! knowledge, or understood nothing else, the question is searched. A grounded answer becomes
//! the turn's `AnswerFromKnowledge`; an abstention (or a failing index) becomes `CannotHandle`,
//! so the engine clarifies or hands off and nothing is ever invented.

use crate::drafts::Drafts;
use crate::metrics::Metrics;
use frontline_domain::escalation::SummaryArticle;
use frontline_domain::{Command, EventKind, InboundMessage, LlmUsage, ScoredCommand};
use frontline_knowledge::{extractive_answer, Answer, Citation, KnowledgeBase, SearchFilter};
use frontline_understanding::llm::AnswerWriter;
use frontline_understanding::AnswerDraft;

/// What consulting works with: the knowledge base, the writer of answers (an LLM, if any),
/// where retrieval times are counted, and where answers being written are shown.
pub(crate) struct Desk<'a> {
    pub base: &'a KnowledgeBase,
    pub writer: Option<&'a dyn AnswerWriter>,
    pub metrics: &'a Metrics,
    pub drafts: &'a Drafts,
    /// Where the help centre publishes the articles (sources become links), if it does.
    pub help_centre: Option<&'a str>,
    /// The conversation's locale (searched first) and the default one (searched when that
    /// has no answer).
    pub locale: &'a str,
    /// The default locale.
    pub default_locale: &'a str,
    /// What the answer says when it comes from the default locale's articles.
    pub fallback_note: Option<String>,
    /// How the answer names its source in the conversation's locale ("Fuente"), when that is
    /// not the default one.
    pub source_label: Option<String>,
}

/// Only passages in `locale`.
fn in_locale(locale: &str) -> SearchFilter {
    SearchFilter {
        locale: Some(locale.to_string()),
        ..SearchFilter::default()
    }
}

impl Desk<'_> {
    /// Search the conversation's locale first, then the default locale when that has no
    /// answer; `true` when the result is the default locale's.
    async fn search(
        &self,
        query: &str,
    ) -> (
        Result<frontline_knowledge::SearchResult, frontline_knowledge::KnowledgeError>,
        bool,
    ) {
        let first = self.base.search(query, 5, &in_locale(self.locale)).await;
        if self.locale == self.default_locale || matches!(&first, Ok(f) if f.abstain.is_none()) {
            return (first, false);
        }
        match self
            .base
            .search(query, 5, &in_locale(self.default_locale))
            .await
        {
            Ok(found) if found.abstain.is_none() => (Ok(found), true),
            _ => (first, false),
        }
    }
}

impl Desk<'_> {
    /// `text`'s source as a link to its article, where a help centre is configured and the
    /// channel carries links.
    fn linked(
        &self,
        text: String,
        citations: &[Citation],
        channel: frontline_domain::Channel,
    ) -> String {
        let text = match self.help_centre {
            Some(base) if channel.carries_links() => {
                frontline_knowledge::link_source(&text, citations, base)
            }
            _ => text,
        };
        match &self.source_label {
            Some(label) => text.replacen("(Source: ", &format!("({label}: "), 1),
            None => text,
        }
    }
}

/// What consulting the knowledge base gave.
pub(crate) struct Consulted {
    /// The answer to say, when there is one.
    pub answer: Option<String>,
    /// The `KnowledgeConsulted` event to record.
    pub event: EventKind,
    /// What it means for the understood commands ([`crate::commands::complete`] applies it).
    pub verdict: Verdict,
}

/// What a search means for the understood commands.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    /// The commands stand (they asked for this answer, and it holds).
    Stands,
    /// Nothing was understood, but the knowledge base answers the message: the turn is this
    /// answer from knowledge.
    Answers {
        /// What was searched.
        query: String,
        /// How similar the best passage is.
        confidence: f32,
    },
    /// The knowledge base abstained (or failed): a request for an answer is one that cannot be
    /// handled, for this reason.
    Abstains {
        /// Why.
        reason: String,
    },
}

fn article(c: &Citation) -> SummaryArticle {
    SummaryArticle {
        document: format!("{}{}", c.document, c.anchor),
        title: c.to_string(),
    }
}

/// The answer the understanding call wrote, and held: the turn's answer as it stands.
fn grounded_by_understanding(
    desk: &Desk<'_>,
    channel: frontline_domain::Channel,
    drafted: frontline_understanding::KnowledgeAnswer,
) -> Consulted {
    tracing::info!(confidence = drafted.confidence, source = %drafted.citations[0], "answered from knowledge by the understanding call");
    Consulted {
        verdict: Verdict::Stands,
        answer: Some(desk.linked(drafted.text, &drafted.citations, channel)),
        event: EventKind::KnowledgeConsulted {
            query: drafted.query,
            answered: true,
            confidence: drafted.confidence,
            sources: drafted.citations.iter().take(3).map(article).collect(),
            abstain_reason: None,
            llm: None,
        },
    }
}

/// Search if this turn's `commands` call for it, and say what the search supports (the
/// commands themselves are changed in one place, [`crate::commands::complete`]). `drafted`:
/// the answer the understanding call wrote itself from passages that passed the relevance gate
/// (LLM mode). One that holds is the answer, with no second search or call; one that does not
/// is replaced by the best passage, not by a second call.
pub(crate) async fn consult(
    desk: &Desk<'_>,
    message: &InboundMessage,
    commands: &[ScoredCommand],
    drafted: Option<AnswerDraft>,
) -> Option<Consulted> {
    let (text, channel) = (message.text.as_str(), message.channel);
    let asked = commands.iter().find_map(|c| match &c.command {
        Command::AnswerFromKnowledge { query } => Some(query.clone()),
        _ => None,
    });
    let unfounded = match drafted.filter(|d| asked.as_deref() == Some(d.query())) {
        Some(AnswerDraft::Unfounded { reason, .. }) => Some(reason),
        Some(AnswerDraft::Grounded(drafted)) => {
            return Some(grounded_by_understanding(desk, message.channel, drafted))
        }
        None => None,
    };
    let nothing_understood = commands
        .iter()
        .all(|c| matches!(c.command, Command::CannotHandle { .. }));
    let query = match &asked {
        Some(query) => query.clone(),
        None if nothing_understood => text.to_string(),
        None => return None,
    };
    let max_chars = channel.max_answer_chars();
    let searching = std::time::Instant::now();
    let (found, fell_back) = desk.search(&query).await;
    desk.metrics.retrieval(searching.elapsed().as_secs_f64());
    let result = match found {
        Ok(found) => {
            // After an unfounded answer from the understanding call, no second call.
            let writer = desk.writer.filter(|_| unfounded.is_none());
            let written = match (writer, &found.abstain) {
                (Some(writer), None) if channel.streams_replies() => {
                    let drafts = desk.drafts;
                    let mut on_delta = |delta: &str| drafts.publish(&message.sender, delta);
                    Some(
                        writer
                            .write_streaming(
                                &query,
                                &found.passages,
                                max_chars,
                                channel,
                                desk.locale,
                                &mut on_delta,
                            )
                            .await,
                    )
                }
                (Some(writer), None) => Some(
                    writer
                        .write(&query, &found.passages, max_chars, channel, desk.locale)
                        .await,
                ),
                _ => None,
            };
            match written {
                Some(Ok(w)) => Ok((
                    Answer::Grounded {
                        text: w.text,
                        citations: w.citations,
                        confidence: found.confidence,
                    },
                    Some(w.usage),
                )),
                Some(Err(reason)) => {
                    tracing::warn!(%reason, "the LLM could not write a grounded answer; quoting the best passage");
                    Ok((
                        extractive_answer(&found, max_chars),
                        Some(LlmUsage {
                            calls: 1,
                            fallback: Some(reason),
                            ..LlmUsage::default()
                        }),
                    ))
                }
                None => Ok((
                    extractive_answer(&found, max_chars),
                    unfounded.map(|reason| LlmUsage {
                        fallback: Some(format!(
                            "the answer written with the commands does not hold: {reason}"
                        )),
                        ..LlmUsage::default()
                    }),
                )),
            }
        }
        Err(e) => Err(e),
    };
    let (reason, confidence) = match result {
        Ok((
            Answer::Grounded {
                text,
                citations,
                confidence,
            },
            llm,
        )) => {
            tracing::info!(confidence, source = %citations[0], "answered from knowledge");
            let verdict = match asked {
                Some(_) => Verdict::Stands,
                None => Verdict::Answers {
                    query: query.clone(),
                    confidence,
                },
            };
            let text = match (&desk.fallback_note, fell_back) {
                (Some(note), true) => format!("{note}\n\n{text}"),
                _ => text,
            };
            return Some(Consulted {
                verdict,
                answer: Some(desk.linked(text, &citations, channel)),
                event: EventKind::KnowledgeConsulted {
                    query,
                    answered: true,
                    confidence,
                    sources: citations.iter().take(3).map(article).collect(),
                    abstain_reason: None,
                    llm,
                },
            });
        }
        Ok((Answer::Abstain { reason, confidence }, _)) => {
            tracing::info!(confidence, %reason, "knowledge base abstained");
            (reason, confidence)
        }
        Err(e) => {
            tracing::warn!(error = %e, "knowledge base unavailable; treating the question as unanswered");
            (format!("knowledge base unavailable: {e}"), 0.0)
        }
    };
    Some(Consulted {
        verdict: match asked {
            Some(_) => Verdict::Abstains {
                reason: reason.clone(),
            },
            None => Verdict::Stands,
        },
        answer: None,
        event: EventKind::KnowledgeConsulted {
            query,
            answered: false,
            confidence,
            sources: vec![],
            abstain_reason: Some(reason),
            llm: None,
        },
    })
}
