//! Which language a customer writes in.
//!
//! - [`Detector::read`]: one message's language, or none when the message carries none. Short
//!   replies ("ok", "#W0000001", "sí", "5") carry none: only words of letters count (ids,
//!   numbers, emails and links are set aside), and a message needs [`MIN_WORDS`] of them. The
//!   reading is `lingua`'s short-text models over the languages in [`KNOWN`] (the shipped ones
//!   and their neighbours, so a French customer reads as French, not as Spanish), and it
//!   stands only when the top language is more likely than all the others together.
//! - [`Detector::read_expecting`]: the same, with the conversation's language as the likely
//!   one: a message whose function words plainly say that language ([`plainly_in`]: two or
//!   more of its own, none of another's) is read without the models, which cost about a
//!   quarter of a millisecond a message; any other message is read in full.
//! - [`preference`]: a language the customer asks for ("can we speak English?", "en español,
//!   por favor", "auf Deutsch bitte").
//! - [`settle`]: the conversation's language from its messages in order: a stated preference
//!   holds until another is stated; otherwise the majority of the customer's last
//!   [`WINDOW`] readings, so one message in another language does not flip it and two in a row
//!   do.
//!
//! Codes are ISO 639-1 (`en`, `es`, `de`, …).

use lingua::{IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder};
use regex::Regex;
use std::sync::OnceLock;

/// The languages a message can be read as.
pub const KNOWN: &[&str] = &["en", "es", "de", "fr", "it", "pt", "nl", "pl"];

/// Words of letters a message needs before it says which language it is in.
pub const MIN_WORDS: usize = 2;

/// The top language's share of the likelihood a reading needs (more than all others together).
pub const MIN_CONFIDENCE: f64 = 0.5;

/// Function words of the conversation's language a message needs, with none of another
/// language's, to read as that language without the models ([`plainly_in`]).
pub const PLAIN_WORDS: usize = 2;

/// How many of the customer's latest readings the conversation's language is the majority of.
pub const WINDOW: usize = 3;

/// One message's language.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// ISO 639-1 code.
    pub language: String,
    /// The language's share of the likelihood over [`KNOWN`] (0–1).
    pub confidence: f64,
}

/// Reads messages' languages. Building one is cheap; the models load on first use and are
/// shared by every detector of the process.
pub struct Detector {
    lingua: &'static LanguageDetector,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("known", &KNOWN).finish()
    }
}

fn language_of(code: &str) -> Option<Language> {
    let iso = code.parse::<IsoCode639_1>().ok()?;
    Some(Language::from_iso_code_639_1(&iso))
}

fn code_of(language: Language) -> String {
    language.iso_code_639_1().to_string()
}

impl Detector {
    /// A detector over [`KNOWN`].
    pub fn new() -> Self {
        static LINGUA: OnceLock<LanguageDetector> = OnceLock::new();
        let lingua = LINGUA.get_or_init(|| {
            let languages: Vec<Language> = KNOWN.iter().filter_map(|c| language_of(c)).collect();
            LanguageDetectorBuilder::from_languages(&languages).build()
        });
        Detector { lingua }
    }

    /// The language `text` is written in, or `None` when it carries none or the models cannot
    /// tell.
    pub fn read(&self, text: &str) -> Option<Reading> {
        let words = language_words(text);
        if words.len() < MIN_WORDS {
            return None;
        }
        let joined = words.join(" ");
        let values = self.lingua.compute_language_confidence_values(&joined);
        let (language, confidence) = values.first()?;
        (*confidence > MIN_CONFIDENCE).then(|| Reading {
            language: code_of(*language),
            confidence: *confidence,
        })
    }

    /// [`Detector::read`], knowing the conversation is in `expected`: a message
    /// [`plainly_in`] it reads as `expected` (confidence 1) without the models; any other is
    /// read in full, so a change of language is seen as before.
    pub fn read_expecting(&self, text: &str, expected: &str) -> Option<Reading> {
        if plainly_in(text, expected) {
            return Some(Reading {
                language: expected.to_string(),
                confidence: 1.0,
            });
        }
        self.read(text)
    }
}

/// Frequent function words (articles, pronouns, prepositions, auxiliaries, question words) of
/// each language in [`KNOWN`], and a few words of support requests. A word in two lists
/// ("de", "in", "la", "was") counts for neither: see [`function_words`].
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "an", "is", "are", "was", "were", "my", "your", "you", "i'm", "i'd", "i've",
            "i'll", "it", "it's", "this", "that", "of", "and", "for", "with", "have", "has", "had",
            "do", "does", "did", "can", "could", "would", "will", "not", "what", "where", "when",
            "how", "why", "we", "our", "please", "hasn't", "haven't", "isn't", "don't", "didn't",
            "can't", "won't", "from", "at", "on", "be", "been", "there", "just", "still", "want",
            "like", "need", "order", "he", "she", "they", "them", "which", "about", "yet", "if",
            "but", "or", "by", "any", "get", "got", "should",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "un", "una", "unos", "unas", "mi", "mis", "tu", "su", "sus",
            "es", "está", "están", "estoy", "que", "qué", "por", "para", "con", "sin", "pero",
            "cómo", "dónde", "cuándo", "cuál", "del", "al", "lo", "le", "se", "ya", "muy", "hay",
            "he", "ha", "han", "quiero", "puedo", "pedido", "también", "todavía", "usted", "y",
            "tengo", "esta", "este", "eso", "esto", "me", "no", "sí", "gracias", "hola",
            "necesito", "quisiera", "cuando", "donde", "como", "aún", "en", "te", "si",
        ],
    ),
    (
        "de",
        &[
            "der",
            "die",
            "das",
            "den",
            "dem",
            "des",
            "ein",
            "eine",
            "einen",
            "einem",
            "ist",
            "sind",
            "war",
            "wurde",
            "ich",
            "mein",
            "meine",
            "meinen",
            "meiner",
            "sie",
            "wir",
            "nicht",
            "kein",
            "keine",
            "und",
            "oder",
            "aber",
            "mit",
            "für",
            "von",
            "zu",
            "auf",
            "bei",
            "wie",
            "wo",
            "was",
            "wann",
            "warum",
            "noch",
            "schon",
            "bitte",
            "habe",
            "hat",
            "haben",
            "kann",
            "können",
            "möchte",
            "will",
            "bestellung",
            "auch",
            "nur",
            "mir",
            "mich",
            "es",
            "in",
            "an",
            "hallo",
            "danke",
            "ja",
            "nein",
            "gibt",
            "da",
            "um",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "un", "une", "des", "du", "de", "je", "j'ai", "mon", "ma", "mes",
            "est", "sont", "pas", "ne", "que", "qui", "pour", "avec", "sur", "dans", "et", "ou",
            "mais", "vous", "nous", "il", "elle", "on", "ce", "cette", "commande", "merci",
            "bonjour", "comment", "où", "quand", "pourquoi", "me", "se", "au", "aux", "suis",
        ],
    ),
    (
        "it",
        &[
            "il", "lo", "la", "gli", "le", "un", "una", "di", "del", "della", "che", "non", "è",
            "sono", "ho", "ha", "mio", "mia", "miei", "per", "con", "su", "dove", "quando",
            "perché", "ordine", "grazie", "ciao", "vorrei", "posso", "anche", "ma", "mi", "si",
            "ti", "al", "e", "ancora",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "um", "uma", "de", "do", "da", "dos", "das", "que", "não", "é", "são",
            "meu", "minha", "para", "por", "com", "em", "no", "na", "como", "onde", "quando",
            "pedido", "obrigado", "obrigada", "olá", "você", "eu", "mas", "ainda", "já", "e", "se",
            "me",
        ],
    ),
    (
        "nl",
        &[
            "de",
            "het",
            "een",
            "is",
            "zijn",
            "ik",
            "mijn",
            "je",
            "jij",
            "u",
            "wij",
            "niet",
            "geen",
            "en",
            "of",
            "maar",
            "met",
            "voor",
            "van",
            "op",
            "in",
            "wat",
            "waar",
            "wanneer",
            "hoe",
            "waarom",
            "bestelling",
            "kan",
            "wil",
            "heb",
            "heeft",
            "nog",
            "al",
            "ook",
            "dank",
            "graag",
            "wie",
            "die",
            "dat",
            "te",
        ],
    ),
    (
        "pl",
        &[
            "nie",
            "jest",
            "się",
            "że",
            "mój",
            "moja",
            "moje",
            "mam",
            "jak",
            "gdzie",
            "kiedy",
            "dlaczego",
            "zamówienie",
            "proszę",
            "dziękuję",
            "czy",
            "ale",
            "jestem",
            "już",
            "jeszcze",
            "mnie",
            "tak",
            "przez",
        ],
    ),
];

/// Each language's function words that belong to no other language's list.
fn function_words() -> &'static [(&'static str, std::collections::HashSet<&'static str>)] {
    static WORDS: OnceLock<Vec<(&'static str, std::collections::HashSet<&'static str>)>> =
        OnceLock::new();
    WORDS.get_or_init(|| {
        let mut lists: Vec<(&str, std::collections::HashSet<&str>)> = Vec::new();
        for (code, words) in FUNCTION_WORDS {
            let own = words
                .iter()
                .copied()
                .filter(|w| {
                    FUNCTION_WORDS
                        .iter()
                        .all(|(other, list)| other == code || !list.contains(w))
                })
                .collect();
            lists.push((code, own));
        }
        lists
    })
}

/// Whether `text` is plainly in `language`: at least [`PLAIN_WORDS`] different function words
/// of its own and not one of another language in [`KNOWN`] (a product name or phrase in
/// another language sends the message to the models). False for a language without a list.
pub fn plainly_in(text: &str, language: &str) -> bool {
    let lists = function_words();
    if !lists.iter().any(|(code, _)| *code == language) {
        return false;
    }
    let mut own: Vec<String> = Vec::new();
    for word in language_words(text) {
        let word = word.to_lowercase().replace('’', "'");
        for (code, list) in lists {
            if list.contains(word.as_str()) {
                if *code != language {
                    return false;
                }
                if !own.contains(&word) {
                    own.push(word.clone());
                }
            }
        }
    }
    own.len() >= PLAIN_WORDS
}

/// The words of `text` that can carry a language: runs of letters (with inner apostrophes and
/// hyphens), leaving out emails, links and anything with a digit (ids, amounts, dates).
pub fn language_words(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|token| {
            !token.contains('@')
                && !token.contains("://")
                && !token.starts_with("www.")
                && !token.chars().any(|c| c.is_ascii_digit())
        })
        .flat_map(|token| {
            token.split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '’' || c == '-'))
        })
        .map(|w| w.trim_matches(|c: char| !c.is_alphabetic()))
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 1)
        .collect()
}

/// The English name of a language by its code ("Spanish" for `es`), for people and prompts; the
/// code itself for one [`KNOWN`] does not hold.
pub fn name(code: &str) -> &str {
    match code {
        "en" => "English",
        "es" => "Spanish",
        "de" => "German",
        "fr" => "French",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        "pl" => "Polish",
        other => other,
    }
}

/// Greetings and thanks that say which language a customer opens in, though one word carries
/// too little for [`Detector::read`]: a conversation with no language yet may take its first
/// from one of these (never a change of language: see [`settle`]).
const OPENERS: &[(&str, &str)] = &[
    ("hi", "en"),
    ("hello", "en"),
    ("hey", "en"),
    ("thanks", "en"),
    ("hola", "es"),
    ("buenas", "es"),
    ("buenos días", "es"),
    ("buenas tardes", "es"),
    ("buenas noches", "es"),
    ("gracias", "es"),
    ("muchas gracias", "es"),
    ("hallo", "de"),
    ("guten tag", "de"),
    ("guten morgen", "de"),
    ("guten abend", "de"),
    ("moin", "de"),
    ("servus", "de"),
    ("danke", "de"),
    ("danke schön", "de"),
    ("vielen dank", "de"),
    ("bonjour", "fr"),
    ("merci", "fr"),
    ("buongiorno", "it"),
    ("grazie", "it"),
    ("olá", "pt"),
    ("obrigado", "pt"),
    ("obrigada", "pt"),
];

/// The language a whole-message greeting or thanks is in ("hola!", "Guten Tag"), if it is one.
pub fn opener(text: &str) -> Option<&'static str> {
    let words = language_words(text);
    let said = words.join(" ").to_lowercase();
    OPENERS
        .iter()
        .find(|(w, _)| *w == said)
        .map(|(_, code)| *code)
}

/// Language names in the shipped languages, and the code each names.
const NAMES: &[(&str, &str)] = &[
    ("english", "en"),
    ("inglés", "en"),
    ("ingles", "en"),
    ("englisch", "en"),
    ("spanish", "es"),
    ("español", "es"),
    ("espanol", "es"),
    ("castellano", "es"),
    ("spanisch", "es"),
    ("german", "de"),
    ("alemán", "de"),
    ("aleman", "de"),
    ("deutsch", "de"),
    ("french", "fr"),
    ("francés", "fr"),
    ("frances", "fr"),
    ("französisch", "fr"),
    ("français", "fr"),
    ("italian", "it"),
    ("italiano", "it"),
    ("italienisch", "it"),
    ("portuguese", "pt"),
    ("portugués", "pt"),
    ("portugiesisch", "pt"),
    ("português", "pt"),
];

fn preference_patterns() -> &'static [Regex; 3] {
    static PATTERNS: OnceLock<[Regex; 3]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let names = NAMES
            .iter()
            .map(|(n, _)| regex::escape(n))
            .collect::<Vec<_>>()
            .join("|");
        let verbs = [
            // English
            "speak", "talk", "write", "reply", "answer", "respond", "continue", "switch",
            // Spanish
            r"habl\w*", r"escrib\w*", r"escríb\w*", r"respond\w*", r"contest\w*", r"segu\w*",
            r"sigu\w*", r"cambi\w*",
            // German
            r"sprech\w*", r"sprich\w*", r"schreib\w*", r"antwort\w*", r"wechs\w*", r"weiter",
        ]
        .join("|");
        let please = r"please|pls|por favor|bitte";
        [
            // "can we speak English?", "¿hablas inglés?", "können Sie Deutsch sprechen"
            Regex::new(&format!(
                r"(?i)\b(?:{verbs})\b[^.?!]{{0,24}}?\b({names})\b|\b({names})\b[^.?!]{{0,16}}?\b(?:sprechen|schreiben|antworten|reden|weitermachen|fortfahren|weiterschreiben|unterhalten)\b"
            ))
            .unwrap(),
            // "English please", "en español, por favor", "auf Deutsch bitte"
            Regex::new(&format!(
                r"(?i)(?:^|\b(?:in|en|auf)\s+)({names})\b[\s,]*(?:{please})\b"
            ))
            .unwrap(),
            // the whole message is the language: "English?", "¿en español?", "Deutsch!"
            Regex::new(&format!(
                r"(?i)^\W*(?:(?:in|en|auf)\s+)?({names})\W*(?:(?:{please})\W*)?$"
            ))
            .unwrap(),
        ]
    })
}

/// The language the customer asks to be served in, when the message asks for one.
pub fn preference(text: &str) -> Option<&'static str> {
    for pattern in preference_patterns() {
        if let Some(caps) = pattern.captures(text) {
            let name = caps
                .iter()
                .skip(1)
                .flatten()
                .next()?
                .as_str()
                .to_lowercase();
            return NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, code)| *code);
        }
    }
    None
}

/// What one message of the customer's says about their language.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Said<'a> {
    /// The message's reading, when it carries a language.
    pub language: Option<&'a str>,
    /// The language it asks for, when it asks for one.
    pub preference: Option<&'a str>,
}

/// The conversation's language after `messages` (oldest first), or `None` when none of them
/// carried one: the latest stated preference, else the majority of the last [`WINDOW`]
/// readings, where no majority keeps the language the conversation had.
pub fn settle<'a>(messages: impl IntoIterator<Item = Said<'a>>) -> Option<&'a str> {
    let mut current: Option<&str> = None;
    let mut preferred: Option<&str> = None;
    let mut recent: Vec<&str> = Vec::new();
    for said in messages {
        if let Some(p) = said.preference {
            preferred = Some(p);
            recent.clear();
            continue;
        }
        let Some(language) = said.language else {
            continue;
        };
        recent.push(language);
        if recent.len() > WINDOW {
            recent.remove(0);
        }
        if current.is_none() {
            current = Some(language);
        }
        let votes = recent.iter().filter(|l| **l == language).count();
        if votes * 2 > recent.len() && recent.len() > 1 {
            current = Some(language);
        }
    }
    preferred.or(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_numbers_emails_and_one_word_replies_carry_no_language() {
        let detector = Detector::new();
        for text in [
            "ok",
            "#W0000001",
            "W0000002 please",
            "sí",
            "danke",
            "5",
            "ada@example.com",
            "👍",
            "4/5",
            "+1 303 555 0100",
        ] {
            assert_eq!(detector.read(text), None, "{text}");
        }
    }

    #[test]
    fn whole_sentences_read_as_their_language() {
        let detector = Detector::new();
        for (text, code) in [
            ("where is my order, it was due on Monday", "en"),
            ("¿dónde está mi pedido? tenía que llegar el lunes", "es"),
            ("wo ist meine Bestellung? sie sollte am Montag kommen", "de"),
            ("où est ma commande, elle devait arriver lundi", "fr"),
        ] {
            assert_eq!(
                detector.read(text).map(|r| r.language),
                Some(code.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_greeting_alone_says_its_language_but_reads_as_none() {
        let detector = Detector::new();
        for (text, code) in [
            ("¡Hola!", "es"),
            ("hallo", "de"),
            ("hello", "en"),
            ("merci", "fr"),
        ] {
            assert_eq!(opener(text), Some(code), "{text}");
            assert_eq!(detector.read(text), None, "{text}");
        }
        assert_eq!(opener("Guten Tag"), Some("de"));
        assert_eq!(opener("ok"), None);
        assert_eq!(opener("hola, necesito ayuda"), None);
    }

    #[test]
    fn a_stated_preference_is_heard_in_each_language() {
        for (text, code) in [
            ("can we speak English?", Some("en")),
            ("do you speak spanish", Some("es")),
            ("please reply in German", Some("de")),
            ("¿hablas inglés?", Some("en")),
            ("en español, por favor", Some("es")),
            ("¿podemos seguir en inglés?", Some("en")),
            ("auf Deutsch bitte", Some("de")),
            ("können Sie Englisch sprechen?", Some("en")),
            ("können wir auf Spanisch weitermachen?", Some("es")),
            ("English please", Some("en")),
            ("Deutsch?", Some("de")),
            ("I bought a German dictionary", None),
            ("where is my order", None),
        ] {
            assert_eq!(preference(text), code, "{text}");
        }
    }

    #[test]
    fn a_message_plainly_in_the_expected_language_is_read_without_the_models() {
        let detector = Detector::new();
        for (text, code) in [
            ("where is my order, it was due on Monday", "en"),
            ("I'd like to return the kettle", "en"),
            ("¿dónde está mi pedido? tenía que llegar el lunes", "es"),
            ("quiero devolver los auriculares", "es"),
            ("wo ist meine Bestellung?", "de"),
            ("ich möchte die Lampe zurückgeben", "de"),
        ] {
            assert!(plainly_in(text, code), "{text}");
            let reading = detector.read_expecting(text, code).unwrap();
            assert_eq!((reading.language.as_str(), reading.confidence), (code, 1.0));
        }
        // A word of another language, too few function words, or a language without a list:
        // the models read it, and a change of language is seen.
        for (text, code) in [
            ("quiero devolver the kettle", "es"),
            ("kettle broken", "en"),
            ("where is my order", "xx"),
            ("mi pedido no ha llegado todavía", "en"),
            ("wo ist meine Bestellung?", "en"),
        ] {
            assert!(!plainly_in(text, code), "{text}");
        }
        assert_eq!(
            detector
                .read_expecting("mi pedido no ha llegado todavía", "en")
                .map(|r| r.language),
            Some("es".to_string())
        );
        // A word shared by two languages counts for neither: "de" is Spanish, French,
        // Portuguese and Dutch; "is" English and Dutch.
        assert!(!plainly_in("de is", "en"));
    }

    fn said(language: Option<&str>) -> Said<'_> {
        Said {
            language,
            preference: None,
        }
    }

    #[test]
    fn one_message_in_another_language_does_not_flip_and_two_in_a_row_do() {
        let es = Some("es");
        let en = Some("en");
        assert_eq!(settle([said(es), said(es), said(en)]), Some("es"));
        assert_eq!(settle([said(es), said(en)]), Some("es"));
        assert_eq!(settle([said(es), said(en), said(en)]), Some("en"));
        assert_eq!(
            settle([said(es), said(None), said(None), said(None)]),
            Some("es")
        );
        assert_eq!(settle([said(None)]), None);
    }

    #[test]
    fn a_stated_preference_holds_until_another_is_stated() {
        let ask = |p| Said {
            language: Some("es"),
            preference: Some(p),
        };
        let es = said(Some("es"));
        assert_eq!(settle([es, ask("en"), es, es, es]), Some("en"));
        assert_eq!(settle([es, ask("en"), es, ask("es")]), Some("es"));
    }
}
