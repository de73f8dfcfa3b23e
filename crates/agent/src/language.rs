//! The conversation's language: each message's reading and any preference it states are
//! recorded on its `message_received` event, and the conversation speaks the settled language
//! of those (`frontline_language::settle`) when its flows have a translation for it. A language
//! the flows have none for, read clearly from the message itself, goes to a person who speaks
//! it (`lang:<code>` in the handoff's routing).

use frontline_domain::{Event, EventKind};
use frontline_language::{Detector, Said};

/// A reading this sure of a language the deployment does not serve hands the conversation to
/// a person (a less certain one is answered in the default locale).
pub(crate) const UNSERVED_CONFIDENCE: f64 = 0.75;

/// What one message says about its language.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Heard {
    /// Its reading, when it carries a language.
    pub language: Option<String>,
    /// How sure the reading is.
    pub confidence: f64,
    /// The language it asks for.
    pub prefers: Option<String>,
}

/// Read `text` in a conversation speaking `current` (`None`: no language yet, so the
/// deployment's `default` is the likely one): a message plainly in the likely language is read
/// by its function words, any other by the models. With no language yet, a greeting or thanks
/// alone ("hola", "Guten Tag") may give the conversation its first.
pub(crate) fn hear(detector: &Detector, text: &str, current: Option<&str>, default: &str) -> Heard {
    let reading = detector.read_expecting(text, current.unwrap_or(default));
    let opener = || {
        current
            .is_none()
            .then(|| frontline_language::opener(text))
            .flatten()
            .map(str::to_string)
    };
    Heard {
        confidence: reading.as_ref().map_or(0.0, |r| r.confidence),
        language: reading.map(|r| r.language).or_else(opener),
        prefers: frontline_language::preference(text).map(str::to_string),
    }
}

/// The conversation's language over its log (every `message_received` so far), if any message
/// carried one.
pub(crate) fn of_conversation<'e>(events: impl IntoIterator<Item = &'e Event>) -> Option<String> {
    frontline_language::settle(events.into_iter().filter_map(|e| match &e.kind {
        EventKind::MessageReceived {
            language, prefers, ..
        } => Some(Said {
            language: language.as_deref(),
            preference: prefers.as_deref(),
        }),
        _ => None,
    }))
    .map(str::to_string)
}

/// The language the conversation speaks and whether the deployment serves it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Speaking {
    /// A served locale (the default when nothing was read).
    Served(String),
    /// A language the flows have no translation for, read clearly from this message (or asked
    /// for): a person who speaks it takes over.
    Unserved(String),
}

/// What the conversation speaks after `events` (this turn's message included), given the
/// locales the flows speak (the default first) and this message's reading.
pub(crate) fn speaking<'e>(
    events: impl IntoIterator<Item = &'e Event>,
    served: &[&str],
    heard: &Heard,
) -> Speaking {
    let default = served.first().copied().unwrap_or("en").to_string();
    let Some(language) = of_conversation(events) else {
        return Speaking::Served(default);
    };
    if served
        .iter()
        .any(|s| s.split(['-', '_']).next() == Some(language.as_str()))
    {
        return Speaking::Served(language);
    }
    let clear = heard.prefers.as_deref() == Some(language.as_str())
        || (heard.language.as_deref() == Some(language.as_str())
            && heard.confidence >= UNSERVED_CONFIDENCE);
    if clear {
        Speaking::Unserved(language)
    } else {
        Speaking::Served(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_domain::{Channel, ConversationId, Identity, IdentityKind};

    fn received(language: Option<&str>, prefers: Option<&str>) -> Event {
        Event {
            seq: 1,
            conversation_id: ConversationId::new(),
            at: chrono::Utc::now(),
            kind: EventKind::MessageReceived {
                channel: Channel::WebChat,
                channel_message_id: "m".into(),
                sender: Identity {
                    kind: IdentityKind::Email,
                    value: "ada@example.com".into(),
                },
                text: String::new(),
                thread: Default::default(),
                language: language.map(str::to_string),
                prefers: prefers.map(str::to_string),
            },
        }
    }

    #[test]
    fn a_served_language_is_spoken_and_nothing_read_is_the_default() {
        let served = ["en", "es", "de"];
        let heard = Heard::default();
        assert_eq!(
            speaking(&[], &served, &heard),
            Speaking::Served("en".into())
        );
        let log = [received(Some("es"), None), received(None, None)];
        assert_eq!(
            speaking(&log, &served, &heard),
            Speaking::Served("es".into())
        );
    }

    #[test]
    fn an_unserved_language_goes_to_a_person_only_when_read_clearly() {
        let served = ["en", "es"];
        let log = [received(Some("fr"), None)];
        let sure = Heard {
            language: Some("fr".into()),
            confidence: 0.95,
            prefers: None,
        };
        assert_eq!(
            speaking(&log, &served, &sure),
            Speaking::Unserved("fr".into())
        );
        let unsure = Heard {
            confidence: 0.6,
            ..sure.clone()
        };
        assert_eq!(
            speaking(&log, &served, &unsure),
            Speaking::Served("en".into())
        );
        let asked = [received(Some("en"), Some("de"))];
        let asking = Heard {
            language: Some("en".into()),
            confidence: 0.9,
            prefers: Some("de".into()),
        };
        assert_eq!(
            speaking(&asked, &served, &asking),
            Speaking::Unserved("de".into())
        );
    }
}
