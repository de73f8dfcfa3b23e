//! The conversation quality rubric: the same criteria for every conversation, whether the bot
//! on WhatsApp or a person on email served it, each judged from the log with its reason.
//!
//! | criterion | met when | not applicable when |
//! |---|---|---|
//! | `resolved` | the bot resolved it (a flow ended `resolved`, or a question was answered) or a person solved it, and the customer did not come back within 7 days | — |
//! | `no_repeated_question` | nothing the customer had already given was asked again | nothing was asked |
//! | `policy_followed` | no write the backend refused was attempted again | no write was attempted |
//! | `grounded` | every answer from the knowledge base cited an article | none was given |
//! | `response_time` | every customer message was answered within the channel's promise (a person's clock starts when the team opens) | — |
//! | `sentiment_recovered` | the last scored message is no more negative than the first, or not negative at all | no message was scored |
//! | `summary_complete` | the handoff summary's every required field is backed by the log | no handoff |
//! | `survey` | the customer rated satisfaction 4–5 and effort 1–2 (those they answered) | no answer |
//!
//! The score is the share of the applicable criteria met. The agent stores it (`quality_scored`)
//! when the conversation resolves, and again when the survey is answered or the customer comes
//! back; the console lists conversations worst first.

use frontline_domain::{
    Channel, ConversationId, ConversationStatus, Event, EventKind, QualityItem, QualityScore,
    SurveyQuestion, Timestamp, Verdict,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The quality rubric's settings (`[quality]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualitySettings {
    /// The longest a customer should wait for an answer, per channel (`[quality.response_promise]`).
    pub response_promise: ResponsePromise,
}

/// The response each channel promises, in seconds (what the handoff notice tells customers:
/// a few minutes in chat, 30 minutes on SMS and the messaging apps, 4 hours by email).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponsePromise {
    /// Web chat, the REST API and Chatwoot inboxes.
    pub chat: u64,
    /// Email.
    pub email: u64,
    /// SMS.
    pub sms: u64,
    /// WhatsApp, Messenger and Telegram.
    pub whatsapp: u64,
}

impl Default for ResponsePromise {
    fn default() -> Self {
        Self {
            chat: 5 * 60,
            email: 4 * 3600,
            sms: 30 * 60,
            whatsapp: 30 * 60,
        }
    }
}

impl ResponsePromise {
    /// The promise on `channel`, in seconds.
    pub fn seconds(&self, channel: Channel) -> u64 {
        match channel {
            Channel::Rest | Channel::WebChat | Channel::Chatwoot => self.chat,
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Whatsapp | Channel::Messenger | Channel::Telegram => self.whatsapp,
        }
    }
}

/// What the rubric needs besides the log.
pub struct Judging<'a> {
    /// The settings.
    pub settings: &'a QualitySettings,
    /// When the scoring happens: a message still waiting for a person is judged by how long it
    /// has waited so far.
    pub now: Timestamp,
    /// A later conversation of the same customer, opened within 7 days of this one's last
    /// activity (a repeat contact), if one is known.
    pub came_back: Option<ConversationId>,
    /// When a person's clock starts for a message that arrived at a given time (the team's
    /// next opening outside business hours); `None`: at once.
    pub team_opens: Option<&'a dyn Fn(Timestamp) -> Timestamp>,
}

fn item(criterion: &str, verdict: Verdict, reason: impl Into<String>) -> QualityItem {
    QualityItem {
        criterion: criterion.to_string(),
        verdict,
        reason: reason.into(),
    }
}

fn met_if(criterion: &str, met: bool, reason: impl Into<String>) -> QualityItem {
    let verdict = if met { Verdict::Met } else { Verdict::Missed };
    item(criterion, verdict, reason)
}

/// Judge the conversation in `events` (its own log) by the rubric.
pub fn judge(events: &[Event], judging: &Judging<'_>) -> QualityScore {
    QualityScore::from_items(vec![
        resolved(events, judging.came_back),
        no_repeated_question(events),
        policy_followed(events),
        grounded(events),
        response_time(events, judging),
        sentiment_recovered(events),
        summary_complete(events),
        survey(events),
    ])
}

/// The latest score stored in `events`, if any.
pub fn stored(events: &[Event]) -> Option<&QualityScore> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::QualityScored { quality, .. } => Some(quality),
        _ => None,
    })
}

/// The stored score that still stands: the latest one, unless the conversation went on after
/// it (the customer wrote again, or it changed hands) without being scored again; then the
/// rubric must be judged on the log as it is.
pub fn current(events: &[Event]) -> Option<&QualityScore> {
    for event in events.iter().rev() {
        match &event.kind {
            EventKind::QualityScored { quality, .. } => return Some(quality),
            EventKind::MessageReceived { .. } | EventKind::StatusChanged { .. } => return None,
            _ => {}
        }
    }
    None
}

/// Whether a person solved the conversation: a helpdesk's `solved` applied, or the
/// conversation given back to the bot after a handoff.
fn solved_by_person(events: &[Event]) -> Option<String> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::HelpdeskUpdated {
            helpdesk,
            change,
            applied: true,
            ..
        } if change == "solved" => Some(format!("solved by a person in {helpdesk}")),
        EventKind::StatusChanged {
            from: ConversationStatus::HandedOff,
            to: ConversationStatus::Bot,
        } => Some("a person handled it and gave it back".to_string()),
        _ => None,
    })
}

fn resolved(events: &[Event], came_back: Option<ConversationId>) -> QualityItem {
    const NAME: &str = "resolved";
    let by = if crate::resolved_by_agent(events) {
        Some("resolved by the bot".to_string())
    } else {
        solved_by_person(events)
    };
    match (by, came_back) {
        (Some(by), None) => item(NAME, Verdict::Met, by),
        (Some(by), Some(again)) => item(
            NAME,
            Verdict::Missed,
            format!(
                "{by}, but the customer came back within {} days (conversation {again})",
                crate::REPEAT_CONTACT_DAYS
            ),
        ),
        (None, _) => {
            let why = match crate::handoff(events) {
                Some((trigger, _)) => {
                    format!("handed to a person ({trigger}) and not solved yet")
                }
                None => "nothing was resolved or answered".to_string(),
            };
            item(NAME, Verdict::Missed, why)
        }
    }
}

fn no_repeated_question(events: &[Event]) -> QualityItem {
    const NAME: &str = "no_repeated_question";
    let (asks, repeats) = crate::repeat_asks(events);
    if asks == 0 {
        return item(NAME, Verdict::NotApplicable, "nothing was asked");
    }
    if repeats.is_empty() {
        return item(
            NAME,
            Verdict::Met,
            format!("{asks} question(s) for details, none already answered"),
        );
    }
    item(
        NAME,
        Verdict::Missed,
        format!(
            "asked again for what the customer had given: {}",
            repeats.join(", ")
        ),
    )
}

fn policy_followed(events: &[Event]) -> QualityItem {
    const NAME: &str = "policy_followed";
    let mut writes = 0;
    let mut refused: HashMap<(String, String), (usize, String)> = HashMap::new();
    for event in events {
        if let EventKind::ActionExecuted { call, outcome } = &event.kind {
            if !call.writes() {
                continue;
            }
            writes += 1;
            if let Err(frontline_domain::ActionError::Refused { reason }) = outcome {
                let entry = refused
                    .entry((call.name.clone(), call.args.to_string()))
                    .or_insert((0, reason.clone()));
                entry.0 += 1;
            }
        }
    }
    if writes == 0 {
        return item(NAME, Verdict::NotApplicable, "no change was attempted");
    }
    let mut again: Vec<String> = refused
        .iter()
        .filter(|(_, (times, _))| *times >= 2)
        .map(|((name, _), (times, reason))| {
            format!("{name} tried {times} times though refused ({reason})")
        })
        .collect();
    again.sort();
    if again.is_empty() {
        item(
            NAME,
            Verdict::Met,
            format!("{writes} change(s) attempted; none tried again after a refusal"),
        )
    } else {
        item(NAME, Verdict::Missed, again.join("; "))
    }
}

fn grounded(events: &[Event]) -> QualityItem {
    const NAME: &str = "grounded";
    let (mut answers, mut uncited) = (0, 0);
    let mut cited: Vec<&str> = vec![];
    for event in events {
        if let EventKind::KnowledgeConsulted {
            answered: true,
            sources,
            ..
        } = &event.kind
        {
            answers += 1;
            if sources.is_empty() {
                uncited += 1;
            }
            for s in sources {
                if !cited.contains(&s.title.as_str()) {
                    cited.push(&s.title);
                }
            }
        }
    }
    if answers == 0 {
        return item(
            NAME,
            Verdict::NotApplicable,
            "no answer from the help centre",
        );
    }
    if uncited > 0 {
        return item(
            NAME,
            Verdict::Missed,
            format!("{uncited} of {answers} answer(s) cited no article"),
        );
    }
    item(
        NAME,
        Verdict::Met,
        format!("{answers} answer(s), citing {}", cited.join("; ")),
    )
}

fn duration_words(seconds: i64) -> String {
    match seconds {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", (s + 30) / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

fn response_time(events: &[Event], judging: &Judging<'_>) -> QualityItem {
    const NAME: &str = "response_time";
    let promise = &judging.settings.response_promise;
    // The first customer message not yet answered, and on which channel.
    let mut waiting: Option<(Timestamp, Channel)> = None;
    let mut with_person = false;
    // (how late past the promise, the wait, the promise, the channel) of the worst wait.
    let mut worst: Option<(i64, i64, u64, Channel)> = None;
    let mut answered = 0;
    let mut judge_wait = |since: Timestamp, channel: Channel, person: bool, until: Timestamp| {
        let start = match (person, judging.team_opens) {
            (true, Some(opens)) => opens(since).max(since),
            _ => since,
        };
        let waited = (until - start).num_seconds().max(0);
        let limit = promise.seconds(channel);
        let over = waited - limit as i64;
        if worst.is_none_or(|(o, ..)| over > o) {
            worst = Some((over, waited, limit, channel));
        }
    };
    for event in events {
        match &event.kind {
            EventKind::MessageReceived { channel, .. } if waiting.is_none() => {
                waiting = Some((event.at, *channel));
            }
            EventKind::ReplySent { .. }
            | EventKind::SurveySent { .. }
            | EventKind::HumanMessage { private: false, .. } => {
                if let Some((since, channel)) = waiting.take() {
                    answered += 1;
                    judge_wait(since, channel, with_person, event.at);
                }
            }
            EventKind::StatusChanged { to, .. } => {
                with_person = *to != ConversationStatus::Bot;
            }
            _ => {}
        }
    }
    // A message still waiting counts once its wait is past the promise.
    if let Some((since, channel)) = waiting {
        let start = match (with_person, judging.team_opens) {
            (true, Some(opens)) => opens(since).max(since),
            _ => since,
        };
        if (judging.now - start).num_seconds() > promise.seconds(channel) as i64 {
            judge_wait(since, channel, with_person, judging.now);
        }
    }
    match worst {
        None => item(
            NAME,
            Verdict::NotApplicable,
            "no customer message was answered",
        ),
        Some((over, waited, limit, channel)) => {
            let reason = format!(
                "longest wait {} on {channel} (promise {}), {answered} message(s) answered",
                duration_words(waited),
                duration_words(limit as i64)
            );
            met_if(NAME, over <= 0, reason)
        }
    }
}

fn sentiment_recovered(events: &[Event]) -> QualityItem {
    const NAME: &str = "sentiment_recovered";
    let scores: Vec<f32> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandsUnderstood {
                sentiment: Some(s), ..
            } => Some(*s),
            _ => None,
        })
        .collect();
    let (Some(first), Some(last)) = (scores.first(), scores.last()) else {
        return item(NAME, Verdict::NotApplicable, "no message was scored");
    };
    let lowest = scores.iter().copied().fold(f32::INFINITY, f32::min);
    let reason = format!("first {first:.2}, lowest {lowest:.2}, last {last:.2}");
    met_if(NAME, *last >= *first || *last >= 0.0, reason)
}

fn summary_complete(events: &[Event]) -> QualityItem {
    const NAME: &str = "summary_complete";
    match crate::handoff(events) {
        None => item(NAME, Verdict::NotApplicable, "not handed off"),
        Some((_, complete)) => met_if(
            NAME,
            complete >= 1.0,
            format!(
                "{:.0}% of the summary's required fields backed by the log",
                complete * 100.0
            ),
        ),
    }
}

fn survey(events: &[Event]) -> QualityItem {
    const NAME: &str = "survey";
    let (mut csat, mut effort, mut comments) = (None, None, vec![]);
    for event in events {
        if let EventKind::SurveyAnswered {
            question,
            score,
            comment,
            ..
        } = &event.kind
        {
            match question {
                SurveyQuestion::Csat => csat = Some(*score),
                SurveyQuestion::Effort => effort = Some(*score),
            }
            comments.extend(comment.clone());
        }
    }
    if csat.is_none() && effort.is_none() {
        return item(NAME, Verdict::NotApplicable, "the survey was not answered");
    }
    let mut parts = vec![];
    if let Some(c) = csat {
        parts.push(format!("satisfaction {c}/5"));
    }
    if let Some(e) = effort {
        parts.push(format!("effort {e}/5"));
    }
    for c in &comments {
        parts.push(format!("\u{201c}{c}\u{201d}"));
    }
    let met = csat.is_none_or(|c| c >= 4) && effort.is_none_or(|e| e <= 2);
    met_if(NAME, met, parts.join(", "))
}
