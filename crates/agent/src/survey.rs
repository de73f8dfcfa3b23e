//! The survey asked when a conversation is resolved: satisfaction (CSAT) then effort (CES), each
//! on a 1–5 scale, channel-native (one-tap numbers where the channel has buttons, "reply with a
//! number" elsewhere), at most once per conversation, never while a person has it.
//!
//! A survey is queued in the outbox to go out a while after the resolution (per channel). If
//! the customer writes again before it is due, it is withdrawn (they are not done), and the
//! conversation may be surveyed at its next resolution. The customer's answer is read before
//! understanding: a number (with words after it, kept as a comment), a tapped choice, or a
//! thumbs up or down, when the survey is the last thing the conversation asked.

use crate::pending::Pending;
use frontline_domain::{
    Channel, Choice, Command, Event, EventKind, Identity, OutboundMessage, OutboxId, ScoredCommand,
    SmallTalk, SurveyQuestion, ThreadRef, Timestamp,
};
use frontline_flows::wording::Wording;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether, where and when the survey is asked (`[surveys]` in the configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurveySettings {
    /// Ask at all.
    pub enabled: bool,
    /// Per channel: on or off, and how long after the resolution. A channel left out is off.
    pub channels: BTreeMap<Channel, ChannelSurvey>,
    /// The key that signs the one-click answer links in survey emails (with the escalation
    /// settings' `public_url` they point to); without it, an email survey asks for a reply
    /// with a number.
    pub link_secret: Option<String>,
}

/// The survey on one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSurvey {
    /// Ask on this channel.
    pub enabled: bool,
    /// Seconds between the resolution and the survey; the customer writing in between
    /// withdraws it.
    pub delay_seconds: u64,
}

impl Default for ChannelSurvey {
    fn default() -> Self {
        Self {
            enabled: true,
            delay_seconds: 600,
        }
    }
}

impl Default for SurveySettings {
    /// On for every channel a customer reads later (ten minutes after the resolution), and at
    /// once in the web chat, where the rating strip sits under the last answer. Off on the
    /// REST API (its caller, not a customer, reads the reply) and in Chatwoot (the helpdesk
    /// runs its own CSAT survey).
    fn default() -> Self {
        let later = ChannelSurvey::default();
        let channels = [
            (
                Channel::WebChat,
                ChannelSurvey {
                    delay_seconds: 0,
                    ..later
                },
            ),
            (Channel::Email, later),
            (Channel::Sms, later),
            (Channel::Whatsapp, later),
            (Channel::Messenger, later),
            (Channel::Telegram, later),
        ]
        .into_iter()
        .collect();
        Self {
            enabled: true,
            channels,
            link_secret: None,
        }
    }
}

impl SurveySettings {
    /// No survey anywhere (what an agent built without settings does).
    pub fn off() -> Self {
        Self {
            enabled: false,
            channels: BTreeMap::new(),
            link_secret: None,
        }
    }

    /// The survey on `channel`, when it is asked there.
    pub fn on(&self, channel: Channel) -> Option<ChannelSurvey> {
        self.channels
            .get(&channel)
            .filter(|c| self.enabled && c.enabled)
            .copied()
    }
}

/// Where a conversation stands with its survey, from its log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Standing {
    /// Never asked (or only withdrawn).
    NotAsked,
    /// `question` is queued or sent and not answered.
    Awaiting {
        question: SurveyQuestion,
        outbox_id: OutboxId,
        due: Timestamp,
    },
    /// Asked and answered, or asked and left: not asked again.
    Done,
}

/// The survey's standing in `history`.
pub(crate) fn standing<'a>(history: impl IntoIterator<Item = &'a Event>) -> Standing {
    let mut standing = Standing::NotAsked;
    for event in history {
        match &event.kind {
            EventKind::SurveySent {
                question,
                outbox_id,
                due,
                ..
            } => {
                standing = Standing::Awaiting {
                    question: *question,
                    outbox_id: *outbox_id,
                    due: *due,
                }
            }
            EventKind::SurveyWithdrawn { outbox_id, .. } => {
                if matches!(standing, Standing::Awaiting { outbox_id: o, .. } if o == *outbox_id) {
                    standing = Standing::NotAsked;
                }
            }
            // An answer ends the wait for its question: the next one, if any, is asked anew
            // (a reply's answer asks it at once; a link's answer asks it on the page).
            EventKind::SurveyAnswered { .. } => standing = Standing::Done,
            _ => {}
        }
    }
    standing
}

/// An answer read from a message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    pub score: u8,
    pub comment: Option<String>,
}

/// `text` as an answer to `question` on a 1–5 scale: "4", "4/5", "5 stars", "4 - quick and
/// easy", a tapped choice (`csat:4`), or a lone thumbs up (5) or down (1).
pub(crate) fn read_answer(question: SurveyQuestion, text: &str) -> Option<Answer> {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix(question.as_str())
        .and_then(|r| r.strip_prefix(':'))
    {
        return score(rest).map(|score| Answer {
            score,
            comment: None,
        });
    }
    match text {
        "👍" | "👍🏻" | "👍🏼" | "👍🏽" | "👍🏾" | "👍🏿" => {
            return Some(Answer {
                score: 5,
                comment: None,
            })
        }
        "👎" | "👎🏻" | "👎🏼" | "👎🏽" | "👎🏾" | "👎🏿" => {
            return Some(Answer {
                score: 1,
                comment: None,
            })
        }
        _ => {}
    }
    let mut chars = text.chars();
    let digit = chars.next()?;
    let score = score(&digit.to_string())?;
    let rest = chars.as_str();
    // "45" or "4.5" is not a 1–5 answer.
    if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == ',') {
        return None;
    }
    let rest = rest.trim_start();
    let rest = [
        "/5",
        "/ 5",
        "out of 5",
        "stars",
        "star",
        "★★★★★",
        "★★★★",
        "★★★",
        "★★",
        "★",
    ]
    .iter()
    .find_map(|unit| rest.strip_prefix(unit))
    .unwrap_or(rest);
    let comment = rest
        .trim_start_matches(|c: char| c.is_whitespace() || "-–—,.:;!)".contains(c))
        .trim();
    Some(Answer {
        score,
        comment: (!comment.is_empty()).then(|| comment.to_string()),
    })
}

fn score(text: &str) -> Option<u8> {
    match text.trim() {
        "1" => Some(1),
        "2" => Some(2),
        "3" => Some(3),
        "4" => Some(4),
        "5" => Some(5),
        _ => None,
    }
}

/// Whether `channel` shows one-tap choices.
fn has_buttons(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Whatsapp | Channel::Messenger | Channel::WebChat
    )
}

/// The one-click answer links of survey emails: where they point and the key that signs them.
#[derive(Clone, Copy)]
pub(crate) struct Links<'a> {
    pub base: &'a str,
    pub secret: &'a [u8],
}

/// The signature of the links answering `question` in `conversation` (hex, 128 bits of an
/// HMAC-SHA256).
pub(crate) fn link_signature(
    secret: &[u8],
    conversation: frontline_domain::ConversationId,
    question: SurveyQuestion,
) -> String {
    use hmac::Mac;
    hex::encode(
        &link_mac(secret, conversation, question)
            .finalize()
            .into_bytes()[..16],
    )
}

fn link_mac(
    secret: &[u8],
    conversation: frontline_domain::ConversationId,
    question: SurveyQuestion,
) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("survey-link:{conversation}:{}", question.as_str()).as_bytes());
    mac
}

/// Whether `given` signs the links answering `question` in `conversation` (constant time).
pub(crate) fn link_signature_ok(
    secret: &[u8],
    conversation: frontline_domain::ConversationId,
    question: SurveyQuestion,
    given: &str,
) -> bool {
    use hmac::Mac;
    match hex::decode(given.trim()) {
        Ok(bytes) if bytes.len() == 16 => link_mac(secret, conversation, question)
            .verify_truncated_left(&bytes)
            .is_ok(),
        _ => false,
    }
}

impl Links<'_> {
    /// The link answering `question` with `score`.
    pub fn url(
        &self,
        conversation: frontline_domain::ConversationId,
        question: SurveyQuestion,
        score: u8,
    ) -> String {
        format!(
            "{}/survey/{conversation}/{}/{score}?s={}",
            self.base.trim_end_matches('/'),
            question.as_str(),
            link_signature(self.secret, conversation, question)
        )
    }

    /// The five links as one markdown line (`[1](…) · [2](…) …`).
    pub fn line(
        &self,
        conversation: frontline_domain::ConversationId,
        question: SurveyQuestion,
    ) -> String {
        (1..=5)
            .map(|n| format!("[{n}]({})", self.url(conversation, question, n)))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The survey's parts: its settings, the wording, and the email links when configured.
pub(crate) struct Surveyor<'a> {
    pub settings: &'a SurveySettings,
    pub wording: &'a Wording,
    pub links: Option<Links<'a>>,
}

/// How a bot turn resolved what the customer came for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// A flow finished `resolved` on this turn with nothing left open.
    FlowResolved,
    /// The customer said thanks or goodbye after something was resolved or answered.
    ClosedAfterHelp,
}

/// Whether the bot's turn resolved what the customer came for: a flow finished `resolved`
/// with nothing left open, or they said thanks or goodbye after something was resolved or
/// answered.
pub(crate) fn resolution(
    pending: &Pending,
    history: &[Event],
    commands: &[ScoredCommand],
    stack_empty: bool,
) -> Option<Resolution> {
    if !stack_empty {
        return None;
    }
    if pending.appended().iter().any(resolves) {
        return Some(Resolution::FlowResolved);
    }
    let closing = commands.iter().any(|c| {
        matches!(
            c.command,
            Command::ChitChat {
                topic: SmallTalk::Thanks | SmallTalk::Goodbye
            }
        )
    });
    let helped_before = history.iter().any(|e| {
        resolves(e) || matches!(e.kind, EventKind::KnowledgeConsulted { answered: true, .. })
    });
    (closing && helped_before).then_some(Resolution::ClosedAfterHelp)
}

/// Where a survey goes: the channel, the recipient and the thread of the last message.
pub(crate) struct Addressee<'a> {
    pub channel: Channel,
    pub recipient: &'a Identity,
    pub thread: &'a ThreadRef,
}

impl Surveyor<'_> {
    /// After a turn the bot answered: queue the survey when the turn resolved what the
    /// customer came for (a flow finished `resolved` with nothing left open, or they said
    /// thanks or goodbye after something was resolved or answered), the conversation has not
    /// been surveyed, and the survey is on for the channel.
    pub fn after_bot_turn(
        &self,
        pending: &Pending,
        history: &[Event],
        to: Addressee<'_>,
        resolution: Option<Resolution>,
    ) {
        let Some(on) = self.settings.on(to.channel) else {
            return;
        };
        if resolution.is_none()
            || standing(history.iter().chain(&pending.appended())) != Standing::NotAsked
        {
            return;
        }
        let due = pending.now() + chrono::Duration::seconds(on.delay_seconds as i64);
        self.ask(pending, SurveyQuestion::Csat, to, "bot", due);
    }

    /// Queue `question` to go out at `due`, and log it.
    pub fn ask(
        &self,
        pending: &Pending,
        question: SurveyQuestion,
        to: Addressee<'_>,
        resolved_by: &str,
        due: Timestamp,
    ) -> (OutboxId, String) {
        let key = match question {
            SurveyQuestion::Csat => "survey_csat",
            SurveyQuestion::Effort => "survey_effort",
        };
        let buttons = has_buttons(to.channel);
        let how = match self.links.filter(|_| to.channel == Channel::Email) {
            Some(links) => self.wording.say(
                "survey_how_links",
                &[("links", &links.line(pending.conversation_id(), question))],
            ),
            None if buttons => self.wording.say("survey_how_tap", &[]),
            None => self.wording.say("survey_how_digits", &[]),
        };
        let text = format!("{}\n{how}", self.wording.say(key, &[]));
        let choices = if buttons {
            (1..=5)
                .map(|n| Choice {
                    id: question.choice_id(n),
                    title: n.to_string(),
                })
                .collect()
        } else {
            vec![]
        };
        let mut thread = to.thread.clone();
        if to.channel == Channel::Email && thread.subject.is_none() {
            thread.subject = Some(self.wording.say("survey_subject", &[]));
        }
        let message = OutboundMessage {
            conversation_id: pending.conversation_id(),
            channel: to.channel,
            recipient: to.recipient.clone(),
            text: text.clone(),
            in_reply_to: None,
            thread,
            choices,
            survey: Some(question),
        };
        // On a channel whose reply travels in the response, a question due now goes with it.
        let outbox_id = if to.channel.replies_in_response() && due <= pending.now() {
            pending.reply(message, true)
        } else {
            pending.reply_later(message, due)
        };
        pending.log(EventKind::SurveySent {
            question,
            channel: to.channel,
            outbox_id,
            resolved_by: resolved_by.to_string(),
            due,
        });
        (outbox_id, text)
    }

    /// Before understanding: when the survey is the last thing the conversation asked and is
    /// out, read `text` as its answer. Returns the reply (the next question, or thanks) and
    /// its outbox entry when it was one; withdraws a survey not yet due (the customer is not
    /// done) and returns `None`, so the message is understood as usual.
    pub fn answer(
        &self,
        pending: &Pending,
        history: &[Event],
        to: Addressee<'_>,
        text: &str,
    ) -> Option<(String, Option<OutboxId>)> {
        let Standing::Awaiting {
            question,
            outbox_id,
            due,
        } = standing(history)
        else {
            return None;
        };
        if pending.now() < due {
            pending.withdraw(outbox_id, "the customer wrote again before it was due");
            pending.log(EventKind::SurveyWithdrawn {
                question,
                outbox_id,
                reason: "the customer wrote again before it was due".into(),
            });
            return None;
        }
        // Only an answer to the last thing said: after another reply, a number means something
        // else.
        let last_said = history.iter().rev().find_map(|e| match &e.kind {
            EventKind::ReplySent { .. } => Some(false),
            EventKind::SurveySent { .. } => Some(true),
            _ => None,
        });
        if last_said != Some(true) {
            return None;
        }
        let answer = read_answer(question, text)?;
        pending.log(EventKind::SurveyAnswered {
            question,
            score: answer.score,
            channel: to.channel,
            comment: answer.comment,
        });
        if let Some(next) = question.next() {
            let (id, text) = self.ask(pending, next, to, "bot", pending.now());
            return Some((text, Some(id)));
        }
        let unhappy = history.iter().chain(pending.appended().iter()).any(|e| {
            matches!(
                e.kind,
                EventKind::SurveyAnswered {
                    question: SurveyQuestion::Csat,
                    score: 1..=2,
                    ..
                }
            )
        });
        let key = if unhappy {
            "survey_thanks_low"
        } else {
            "survey_thanks"
        };
        Some((self.wording.say(key, &[]), None))
    }
}

/// Whether `event` ends a flow with what the customer came for.
fn resolves(event: &Event) -> bool {
    matches!(&event.kind, EventKind::FlowEnded { outcome, .. } if outcome == "resolved")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<(u8, Option<String>)> {
        read_answer(SurveyQuestion::Csat, text).map(|a| (a.score, a.comment))
    }

    #[test]
    fn numbers_taps_and_thumbs_are_answers_with_any_words_after_kept() {
        assert_eq!(read("5"), Some((5, None)));
        assert_eq!(read(" 4/5 "), Some((4, None)));
        assert_eq!(read("3 stars"), Some((3, None)));
        assert_eq!(
            read("2 - the courier was late"),
            Some((2, Some("the courier was late".into())))
        );
        assert_eq!(read("csat:1"), Some((1, None)));
        assert_eq!(read("👍"), Some((5, None)));
        assert_eq!(read("👎🏽"), Some((1, None)));
        assert_eq!(
            read_answer(SurveyQuestion::Effort, "effort:2").map(|a| a.score),
            Some(2)
        );
    }

    #[test]
    fn other_numbers_and_words_are_not_answers() {
        for text in [
            "6",
            "0",
            "45",
            "4.5",
            "#W0000001",
            "thanks",
            "effort:3",
            "csat:9",
            "",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    #[test]
    fn a_link_signature_holds_for_its_conversation_and_question_only() {
        let conversation = frontline_domain::ConversationId::new();
        let secret = b"s3cret";
        let sig = link_signature(secret, conversation, SurveyQuestion::Csat);
        assert_eq!(sig.len(), 32);
        assert!(link_signature_ok(
            secret,
            conversation,
            SurveyQuestion::Csat,
            &sig
        ));
        assert!(!link_signature_ok(
            secret,
            conversation,
            SurveyQuestion::Effort,
            &sig
        ));
        let other = frontline_domain::ConversationId::new();
        assert!(!link_signature_ok(
            secret,
            other,
            SurveyQuestion::Csat,
            &sig
        ));
        assert!(!link_signature_ok(
            b"another",
            conversation,
            SurveyQuestion::Csat,
            &sig
        ));
        assert!(!link_signature_ok(
            secret,
            conversation,
            SurveyQuestion::Csat,
            &sig[..16]
        ));
        assert!(!link_signature_ok(
            secret,
            conversation,
            SurveyQuestion::Csat,
            "not hex"
        ));
        let links = Links {
            base: "https://help.example/",
            secret,
        };
        let line = links.line(conversation, SurveyQuestion::Csat);
        assert!(line.starts_with(&format!(
            "[1](https://help.example/survey/{conversation}/csat/1?s={sig})"
        )));
        assert_eq!(line.matches("](").count(), 5);
    }

    #[test]
    fn the_default_asks_later_on_every_customer_channel_and_never_on_the_api_or_chatwoot() {
        let s = SurveySettings::default();
        assert_eq!(s.on(Channel::WebChat).unwrap().delay_seconds, 0);
        assert_eq!(s.on(Channel::Sms).unwrap().delay_seconds, 600);
        assert!(s.on(Channel::Rest).is_none());
        assert!(s.on(Channel::Chatwoot).is_none());
        assert!(SurveySettings::off().on(Channel::Sms).is_none());
    }
}
