//! What the customer hears at handoff: that a person takes over, on which channel, and when;
//! never "I can't help".

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveTime, Weekday};
use frontline_domain::{Channel, Timestamp};
use serde::{Deserialize, Serialize};

/// When the human team works (`[escalation.hours]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHours {
    /// Offset of the team's clock from UTC, `+HH:MM` or `-HH:MM`.
    pub utc_offset: String,
    /// Working days (`mon` … `sun`).
    pub days: Vec<String>,
    /// Opening time, `HH:MM`, on the team's clock.
    pub open: String,
    /// Closing time, `HH:MM`.
    pub close: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            utc_offset: "+00:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
        }
    }
}

/// What the customer is told to expect, per channel, while the team is working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseTimes {
    /// Web chat, the REST API and Chatwoot inboxes.
    pub chat: String,
    /// Email.
    pub email: String,
    /// SMS.
    pub sms: String,
    /// WhatsApp, and the other messaging apps (Messenger, Telegram).
    pub whatsapp: String,
}

impl Default for ResponseTimes {
    fn default() -> Self {
        Self {
            chat: "within a few minutes".into(),
            email: "within 4 hours".into(),
            sms: "within 30 minutes".into(),
            whatsapp: "within 30 minutes".into(),
        }
    }
}

impl ResponseTimes {
    /// The expectation for `channel`.
    pub fn for_channel(&self, channel: Channel) -> &str {
        match channel {
            Channel::Rest | Channel::WebChat | Channel::Chatwoot => &self.chat,
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
            // Messenger and Telegram are messaging apps, answered as WhatsApp is.
            Channel::Whatsapp | Channel::Messenger | Channel::Telegram => &self.whatsapp,
        }
    }
}

/// A business-hours setting that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("escalation.hours.{field}: {problem}")]
pub struct HoursError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn parse_time(field: &'static str, raw: &str) -> Result<NaiveTime, HoursError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| HoursError {
        field,
        problem: format!("`{raw}` is not a time like 09:00"),
    })
}

fn parse_day(raw: &str) -> Result<Weekday, HoursError> {
    raw.trim().parse::<Weekday>().map_err(|_| HoursError {
        field: "days",
        problem: format!("`{raw}` is not a weekday (mon … sun)"),
    })
}

/// Business hours, checked and ready to use.
#[derive(Clone, Debug)]
pub struct Schedule {
    offset: FixedOffset,
    days: Vec<Weekday>,
    open: NaiveTime,
    close: NaiveTime,
    label: String,
}

impl BusinessHours {
    /// Check the settings.
    pub fn schedule(&self) -> Result<Schedule, HoursError> {
        let offset = parse_offset(&self.utc_offset)?;
        let days = self
            .days
            .iter()
            .map(|d| parse_day(d))
            .collect::<Result<Vec<_>, _>>()?;
        let (open, close) = (
            parse_time("open", &self.open)?,
            parse_time("close", &self.close)?,
        );
        if close <= open {
            return Err(HoursError {
                field: "close",
                problem: format!("closing time {close} is not after opening time {open}"),
            });
        }
        let label = if offset.local_minus_utc() == 0 {
            "UTC".to_string()
        } else {
            format!("UTC{}", self.utc_offset.trim())
        };
        Ok(Schedule {
            offset,
            days,
            open,
            close,
            label,
        })
    }
}

fn parse_offset(raw: &str) -> Result<FixedOffset, HoursError> {
    let bad = || HoursError {
        field: "utc_offset",
        problem: format!("`{raw}` is not an offset like +01:00 or -05:00"),
    };
    let raw = raw.trim();
    let (sign, rest) = match raw.chars().next() {
        Some('+') => (1, &raw[1..]),
        Some('-') => (-1, &raw[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

impl Schedule {
    /// Whether the team is working at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = now.with_timezone(&self.offset);
        self.days.contains(&local.weekday())
            && local.time() >= self.open
            && local.time() < self.close
    }

    /// The next time the team starts working after `now` (now itself when open).
    pub fn next_opening(&self, now: Timestamp) -> DateTime<FixedOffset> {
        let local = now.with_timezone(&self.offset);
        if self.is_open(now) || self.days.is_empty() {
            return local;
        }
        for ahead in 0..8 {
            let day = local.date_naive() + Duration::days(ahead);
            if !self.days.contains(&day.weekday()) {
                continue;
            }
            let opening = day
                .and_time(self.open)
                .and_local_timezone(self.offset)
                .single()
                .expect("a fixed offset has no gaps");
            if opening > local {
                return opening;
            }
        }
        local
    }
}

/// How a channel is named to the customer.
pub fn channel_phrase(channel: Channel) -> &'static str {
    match channel {
        Channel::Rest | Channel::WebChat | Channel::Chatwoot => "right here in this chat",
        Channel::Email => "by email, in this thread",
        Channel::Sms => "by text message",
        Channel::Whatsapp => "here on WhatsApp",
        Channel::Messenger => "here on Messenger",
        Channel::Telegram => "here on Telegram",
    }
}

/// Words the handoff message to the customer.
#[derive(Clone, Debug)]
pub struct HandoffNotice {
    schedule: Schedule,
    response_times: ResponseTimes,
}

impl HandoffNotice {
    /// A notice from checked hours and the channel expectations.
    pub fn new(hours: &BusinessHours, response_times: ResponseTimes) -> Result<Self, HoursError> {
        Ok(Self {
            schedule: hours.schedule()?,
            response_times,
        })
    }

    /// Whether the team is working at `now`.
    pub fn team_is_working(&self, now: Timestamp) -> bool {
        self.schedule.is_open(now)
    }

    /// When a person's response clock starts for a message that arrived `at`: then, while the
    /// team works; at the team's next opening otherwise.
    pub fn clock_starts(&self, at: Timestamp) -> Timestamp {
        self.schedule.next_opening(at).to_utc()
    }

    /// What the customer is told: a person takes over, where they will reply, when, and that
    /// they will not have to repeat themselves. The words come from `say` (the wording keys
    /// `handoff_notice`, `handoff_when_open`, `handoff_when_away`, `day_*` and `where_*`, with
    /// their placeholders), so a CX team words it and another locale translates it.
    pub fn message(&self, channel: Channel, now: Timestamp, say: &Say<'_>) -> String {
        let where_ = say(where_key(channel), &[]);
        let when = if self.schedule.is_open(now) {
            say(
                "handoff_when_open",
                &[
                    ("where", &where_),
                    ("within", self.response_times.for_channel(channel)),
                ],
            )
        } else {
            let opening = self.schedule.next_opening(now);
            let local_now = now.with_timezone(&self.schedule.offset);
            let day = if opening.date_naive() == local_now.date_naive() {
                say("day_today", &[])
            } else if opening.date_naive() == local_now.date_naive() + Duration::days(1) {
                say("day_tomorrow", &[])
            } else {
                say("day_on", &[("weekday", &opening.format("%A").to_string())])
            };
            say(
                "handoff_when_away",
                &[
                    ("day", &day),
                    ("time", &opening.format("%H:%M").to_string()),
                    ("zone", &self.schedule.label),
                    ("where", &where_),
                ],
            )
        };
        say("handoff_notice", &[("when", &when)])
    }
}

/// Words a wording key with its placeholders filled in (the flows' `Wording::say`).
pub type Say<'a> = dyn Fn(&str, &[(&str, &str)]) -> String + 'a;

/// The wording key naming `channel` to the customer: "a colleague will reply …".
pub fn where_key(channel: Channel) -> &'static str {
    match channel {
        Channel::Rest | Channel::WebChat | Channel::Chatwoot => "where_chat",
        Channel::Email => "where_email",
        Channel::Sms => "where_sms",
        Channel::Whatsapp => "where_whatsapp",
        Channel::Messenger => "where_messenger",
        Channel::Telegram => "where_telegram",
    }
}

impl Default for HandoffNotice {
    fn default() -> Self {
        Self::new(&BusinessHours::default(), ResponseTimes::default())
            .expect("the default hours are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// The built-in English wording.
    fn english(key: &str, vars: &[(&str, &str)]) -> String {
        frontline_flows::wording::Wording::builtin().say(key, vars)
    }

    fn paris() -> HandoffNotice {
        HandoffNotice::new(
            &BusinessHours {
                utc_offset: "+01:00".into(),
                ..BusinessHours::default()
            },
            ResponseTimes::default(),
        )
        .unwrap()
    }

    #[test]
    fn in_hours_the_customer_hears_where_and_how_soon() {
        // Monday 2026-11-02 10:00 UTC is 11:00 in Paris: open.
        let text = paris().message(Channel::Email, at(2026, 11, 2, 10, 0), &english);
        assert!(
            text.contains("reply by email, in this thread, usually within 4 hours"),
            "{text}"
        );
        assert!(text.contains("won't need to repeat yourself"));
        assert!(!text.to_lowercase().contains("can't help"));
        let chat = paris().message(Channel::WebChat, at(2026, 11, 2, 10, 0), &english);
        assert!(
            chat.contains("right here in this chat, usually within a few minutes"),
            "{chat}"
        );
    }

    #[test]
    fn out_of_hours_the_customer_hears_when_the_team_is_back() {
        // Friday 2026-11-06 17:30 UTC is 18:30 in Paris: closed until Monday 09:00.
        let text = paris().message(Channel::Sms, at(2026, 11, 6, 17, 30), &english);
        assert!(
            text.contains("back on Monday at 09:00 (UTC+01:00) and reply by text message"),
            "{text}"
        );
        // Tuesday 06:00 UTC is 07:00 in Paris: back today.
        let early = paris().message(Channel::Whatsapp, at(2026, 11, 3, 6, 0), &english);
        assert!(early.contains("back today at 09:00"), "{early}");
        // Monday 20:00 UTC: back tomorrow.
        let late = paris().message(Channel::Email, at(2026, 11, 2, 20, 0), &english);
        assert!(late.contains("back tomorrow at 09:00"), "{late}");
    }

    #[test]
    fn bad_hours_say_which_setting_and_why() {
        let err = BusinessHours {
            open: "9am".into(),
            ..BusinessHours::default()
        }
        .schedule()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation.hours.open: `9am` is not a time like 09:00"
        );
        let err = BusinessHours {
            utc_offset: "CET".into(),
            ..BusinessHours::default()
        }
        .schedule()
        .unwrap_err();
        assert!(err.to_string().starts_with("escalation.hours.utc_offset"));
        let err = BusinessHours {
            days: vec!["funday".into()],
            ..BusinessHours::default()
        }
        .schedule()
        .unwrap_err();
        assert!(err.to_string().contains("`funday` is not a weekday"));
        assert!(BusinessHours {
            open: "18:00".into(),
            ..BusinessHours::default()
        }
        .schedule()
        .is_err());
    }
}
