//! Typed slot extractors: read a slot's value out of a customer message by the slot's declared
//! type. Every understanding uses them (the LLM's values are checked by the engine the same way),
//! so a CX team that writes `type: date` gets "yesterday" and "last Tuesday" for free.
//!
//! Two modes: a slot being *asked* for is read generously (a bare "3" is a quantity, any text is
//! a free-text answer); a slot not asked for is read only when its value identifies itself (an
//! order id by its pattern, an email, a phone with enough digits, a date, an amount with a
//! currency, an enum phrase) or when the message names the slot ("zip 78701").

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};
use frontline_domain::{Identity, IdentityKind, NormalizeOptions};
use frontline_flows::compile::CompiledSlot;
use frontline_flows::spec::SlotType;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

/// Lowercase, apostrophes unified, punctuation (but `#`, `'`, `$`, `.` inside numbers) made
/// spaces, whitespace collapsed.
pub fn normalize(message: &str) -> String {
    let lowered = message.to_lowercase().replace(['’', '‘'], "'");
    let cleaned: String = lowered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '#' {
                c
            } else {
                ' '
            }
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Yes or no in its common forms ("yep", "go ahead", "please do", "nah", "I'd rather not",
/// "👍"); `None` when the message is neither or both.
pub fn yes_no(message: &str) -> Option<bool> {
    let raw = message.trim();
    if raw.starts_with('👍') || raw.starts_with('✅') {
        return Some(true);
    }
    if raw.starts_with('👎') || raw.starts_with('❌') {
        return Some(false);
    }
    let text = normalize(message);
    const YES: &[&str] = &[
        "yes",
        "y",
        "yeah",
        "yea",
        "ya",
        "yep",
        "yup",
        "yas",
        "sure",
        "ok",
        "okay",
        "k",
        "kk",
        "correct",
        "right",
        "confirm",
        "confirmed",
        "go ahead",
        "go for it",
        "do it",
        "please do",
        "absolutely",
        "definitely",
        "certainly",
        "of course",
        "affirmative",
        "that's right",
        "that is right",
        "that's correct",
        "that is correct",
        "that's fine",
        "that works",
        "fine",
        "sounds good",
        "sounds great",
        "perfect",
        "alright",
        "all right",
        "please go ahead",
        "please proceed",
        "please confirm",
        "yes please",
        "i do",
        "i confirm",
        "proceed",
        "si",
        "oui",
        "ja",
        // Spanish
        "sí",
        "claro",
        "claro que sí",
        "vale",
        "de acuerdo",
        "correcto",
        "exacto",
        "eso es",
        "adelante",
        "por supuesto",
        "perfecto",
        "confirmo",
        "hágalo",
        "hazlo",
        "sí por favor",
        "si por favor",
        // German
        "genau",
        "richtig",
        "gerne",
        "gern",
        "klar",
        "natürlich",
        "einverstanden",
        "in ordnung",
        "stimmt",
        "jawohl",
        "ja bitte",
        "ja gerne",
        "passt",
        "bestätigt",
        "machen sie das",
    ];
    const NO: &[&str] = &[
        "no",
        "n",
        "nope",
        "nah",
        "na",
        "don't",
        "dont",
        "do not",
        "stop",
        "wait",
        "hold on",
        "not now",
        "not really",
        "not yet",
        "never mind",
        "nevermind",
        "cancel",
        "negative",
        "absolutely not",
        "definitely not",
        "certainly not",
        "of course not",
        "no way",
        "i'd rather not",
        "i would rather not",
        "rather not",
        "that's wrong",
        "that is wrong",
        "that's not right",
        "that's incorrect",
        "incorrect",
        "wrong",
        "i don't",
        "i do not",
        "please don't",
        "please do not",
        // Spanish
        "no gracias",
        "mejor no",
        "para nada",
        "de ninguna manera",
        "espera",
        "espere",
        "incorrecto",
        "no es correcto",
        "no lo haga",
        "todavía no",
        // German
        "nein",
        "nee",
        "nö",
        "lieber nicht",
        "auf keinen fall",
        "nicht",
        "warten sie",
        "moment",
        "stopp",
        "falsch",
        "noch nicht",
        "bitte nicht",
    ];
    // The longest phrase the message starts with decides: "no way" over "no", "of course
    // not" over "of course".
    let leading = |words: &[&str]| {
        words
            .iter()
            .filter(|w| text == **w || text.starts_with(&format!("{w} ")))
            .map(|w| w.len())
            .max()
    };
    // A bare "please" agrees; "please ship it to my new address" asks for something else.
    if text == "please" {
        return Some(true);
    }
    // A yes that goes on to ask something else, or to hold back, is not a yes: "ok, but how
    // long does the refund take?", "sure, wait, which card?".
    let hedged = |at: usize| {
        let rest = &text[at.min(text.len())..];
        rest.contains('?')
            || raw.contains('?')
            || rest
                .split(|c: char| !c.is_alphanumeric() && c != '\'')
                .any(|w| HEDGES.contains(&w))
    };
    match (leading(YES), leading(NO)) {
        (Some(y), Some(n)) if y > n => (!hedged(y)).then_some(true),
        (Some(y), Some(n)) if n > y => Some(false),
        (Some(y), None) => (!hedged(y)).then_some(true),
        (None, Some(_)) => Some(false),
        _ => None,
    }
}

/// Whether `message` takes up an offer the last reply made ("Would you like me to help you
/// return items…?"): a yes, but not one that only acknowledges the answer with thanks
/// ("perfect, thank you", "ok thanks", "great, cheers"), which closes; an explicit yes with
/// thanks ("yes please, thanks", "sure, thank you") still takes it up.
pub fn takes_up_offer(message: &str) -> bool {
    if yes_no(message) != Some(true) {
        return false;
    }
    let text = normalize(message);
    let words: Vec<&str> = text.split(' ').collect();
    let thanks = words.iter().any(|w| {
        matches!(
            *w,
            "thanks"
                | "thank"
                | "thx"
                | "ty"
                | "cheers"
                | "appreciated"
                | "appreciate"
                | "gracias"
                | "danke"
                | "dankeschön"
        )
    });
    let explicit = words.iter().any(|w| {
        matches!(
            *w,
            "yes"
                | "yeah"
                | "yep"
                | "yup"
                | "sure"
                | "please"
                | "do"
                | "go"
                | "let's"
                | "lets"
                | "sí"
                | "si"
                | "ja"
                | "bitte"
                | "favor"
                | "gerne"
                | "claro"
        )
    });
    !thanks || explicit
}

/// Words after a yes that take it back or turn it into another request.
const HEDGES: &[&str] = &[
    "but", "wait", "instead", "actually", "first", "before", "rather", "except", "unless", "where",
    "what", "how", "why", "which", "when", // Spanish
    "pero", "espera", "antes", "mejor", "qué", "cómo", "cuándo", "dónde", "cuál", "por qué",
    // German
    "aber", "warte", "vorher", "lieber", "was", "wie", "wann", "wo", "welche", "warum",
];

/// Number words ("twenty one", "a dozen", "two hundred") and digits → the number; the first
/// number in `words`, with how many words it used and where it began.
fn number_in(words: &[&str]) -> Option<(f64, usize, usize)> {
    for start in 0..words.len() {
        if let Some((n, used)) = number_at(&words[start..]) {
            return Some((n, start, used));
        }
    }
    None
}

fn unit_word(w: &str) -> Option<f64> {
    const UNITS: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: &[&str] = &[
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = UNITS.iter().position(|u| *u == w) {
        return Some(i as f64);
    }
    // Spanish and German, one to twelve (not the articles "una", "ein", "eine").
    const OTHER: [[&str; 2]; 12] = [
        ["uno", "eins"],
        ["dos", "zwei"],
        ["tres", "drei"],
        ["cuatro", "vier"],
        ["cinco", "fünf"],
        ["seis", "sechs"],
        ["siete", "sieben"],
        ["ocho", "acht"],
        ["nueve", "neun"],
        ["diez", "zehn"],
        ["-", "elf"],
        ["doce", "zwölf"],
    ];
    if let Some(i) = OTHER.iter().position(|names| names.contains(&w)) {
        return Some(i as f64 + 1.0);
    }
    TENS.iter()
        .position(|t| *t == w)
        .map(|i| (i as f64 + 2.0) * 10.0)
}

/// The number at the start of `words` (digits or words) and how many words it took.
fn number_at(words: &[&str]) -> Option<(f64, usize)> {
    let first = words.first()?;
    let digits = first
        .trim_start_matches(['$', '€', '£', '#'])
        .trim_end_matches(['.', ',']);
    if !digits.is_empty()
        && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        let n = parse_digits(digits)?;
        return Some((n, 1));
    }
    let mut total = 0.0;
    let mut current: Option<f64> = None;
    let mut used = 0;
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_end_matches([',', '.']);
        if let Some(n) = unit_word(w) {
            // "twenty one": a unit after a tens word adds; two units in a row end the number.
            match current {
                Some(c) if c >= 20.0 && c % 10.0 == 0.0 && n < 10.0 => current = Some(c + n),
                Some(_) => break,
                None => current = Some(n),
            }
        } else if (w == "a" || w == "an") && current.is_none() && i + 1 < words.len() {
            let next = words[i + 1];
            if ["hundred", "thousand", "dozen", "couple"].contains(&next) {
                current = Some(1.0);
            } else {
                break;
            }
        } else if w == "dozen" && current.is_some() {
            current = current.map(|c| c * 12.0);
        } else if w == "couple" && current == Some(1.0) {
            current = Some(2.0);
            used = i + 1;
            // "a couple of": swallow the "of".
            if words.get(i + 1) == Some(&"of") {
                used += 1;
            }
            break;
        } else if w == "hundred" && current.is_some() {
            current = current.map(|c| c * 100.0);
        } else if w == "thousand" && current.is_some() {
            total += current.take().unwrap_or(1.0) * 1000.0;
        } else if w == "and" && current.is_some_and(|c| c >= 100.0) {
            // "two hundred and five".
        } else {
            break;
        }
        used = i + 1;
    }
    let n = total + current.unwrap_or(0.0);
    (used > 0 && (current.is_some() || total > 0.0)).then_some((n, used))
}

/// "1,234.50" / "12,50" / "12.5" → f64. A comma followed by exactly three digits groups
/// thousands; otherwise it is a decimal comma.
fn parse_digits(raw: &str) -> Option<f64> {
    let grouped = raw.contains(',')
        && raw
            .split(',')
            .skip(1)
            .all(|g| g.len() == 3 || (g.len() > 3 && g.as_bytes()[3] == b'.'));
    let cleaned = if grouped {
        raw.replace(',', "")
    } else {
        raw.replace(',', ".")
    };
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_of(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    if w.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    // Spanish and German month names (the shipped translations).
    const OTHER: [[&str; 3]; 12] = [
        ["enero", "januar", "jänner"],
        ["febrero", "februar", "-"],
        ["marzo", "märz", "-"],
        ["abril", "-", "-"],
        ["mayo", "mai", "-"],
        ["junio", "-", "-"],
        ["julio", "-", "-"],
        ["agosto", "-", "-"],
        ["septiembre", "setiembre", "-"],
        ["octubre", "oktober", "okt"],
        ["noviembre", "-", "-"],
        ["diciembre", "dezember", "dez"],
    ];
    MONTHS
        .iter()
        .zip(full)
        .position(|(short, long)| w == *short || (long.starts_with(w) && w.len() >= 3))
        .or_else(|| (w == "sept").then_some(8))
        .or_else(|| OTHER.iter().position(|names| names.contains(&w)))
        .map(|i| i as u32 + 1)
}

fn weekday_of(word: &str) -> Option<Weekday> {
    use Weekday::*;
    let days = [
        ("mon", Mon),
        ("tue", Tue),
        ("wed", Wed),
        ("thu", Thu),
        ("fri", Fri),
        ("sat", Sat),
        ("sun", Sun),
    ];
    let w = word.trim_end_matches(['.', ',']);
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    days.iter()
        .zip(full)
        .find(|((short, _), long)| {
            w == *long || w == *short || w == format!("{short}s") || w == format!("{long}s")
        })
        .map(|((_, d), _)| *d)
        .or(match w {
            "tues" => Some(Tue),
            "weds" => Some(Wed),
            "thur" | "thurs" => Some(Thu),
            // Spanish and German (the shipped translations).
            "lunes" | "montag" => Some(Mon),
            "martes" | "dienstag" => Some(Tue),
            "miércoles" | "miercoles" | "mittwoch" => Some(Wed),
            "jueves" | "donnerstag" => Some(Thu),
            "viernes" | "freitag" => Some(Fri),
            "sábado" | "sabado" | "samstag" | "sonnabend" => Some(Sat),
            "domingo" | "sonntag" => Some(Sun),
            _ => None,
        })
}

/// The date of `month`/`day` (year unknown): the latest such date at most a month ahead of
/// `today`, since support conversations mostly talk about what already happened. "Dec 28" said
/// on Jan 2 is last year's, "Jan 3" said on Dec 30 next year's, "April 11" said in November
/// this year's.
fn nearest_year(month: u32, day: u32, today: NaiveDate) -> Option<NaiveDate> {
    let horizon = today + Duration::days(31);
    [today.year() + 1, today.year(), today.year() - 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .find(|d| *d <= horizon)
}

fn full_year(raw: &str) -> Option<i32> {
    let y: i32 = raw.parse().ok()?;
    match raw.len() {
        2 => Some(2000 + y),
        4 => Some(y),
        _ => None,
    }
}

/// Slot values out of messages; see the module docs.
#[derive(Debug)]
pub struct Extractors {
    email: Regex,
    phone: Regex,
    iso_date: Regex,
    slash_date: Regex,
    day_month: Regex,
    month_day: Regex,
    ago: Regex,
    money_symbol: Regex,
    money_code: Regex,
    correction: Regex,
    postal_address: Regex,
}

/// The parts of a postal address, named as the slots that hold them in τ2-style flows
/// (`address1`, `address2`, `city`, `state`, `zip`).
pub const ADDRESS_PARTS: [&str; 5] = ["address1", "address2", "city", "state", "zip"];

impl Default for Extractors {
    fn default() -> Self {
        Self::new()
    }
}

/// A built-in pattern; they are all tested, so a failure here is a programming error.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

impl Extractors {
    /// The extractors, with their patterns compiled once.
    pub fn new() -> Self {
        let month = concat!(
            r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?",
            // Spanish and German (the shipped translations).
            r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre",
            r"|januar|februar|märz|mai|juni|juli|oktober|dezember)\.?",
        );
        Self {
            email: re(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
            phone: re(r"(?:\+|\b)\d[\d\s().-]{6,}\d\b"),
            iso_date: re(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
            slash_date: re(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b"),
            day_month: re(&format!(
                r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:of\s+|de\s+)?{month}(?:,?\s+(?:de\s+)?(\d{{4}}))?\b"
            )),
            month_day: re(&format!(
                r"(?i)\b{month}\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?"
            )),
            ago: re(
                r"(?i)\b(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)\s+(day|week|month)s?\s+ago\b",
            ),
            money_symbol: re(r"([$€£])\s?(\d[\d,]*(?:\.\d{1,2})?)"),
            money_code: re(
                r"(?i)(?:\b(?:usd|eur|gbp)\s?(\d[\d,]*(?:\.\d{1,2})?)\b|\b(\d[\d,]*(?:\.\d{1,2})?)\s?(?:dollars?|bucks|usd|euros?|eur|pounds?|gbp)\b)",
            ),
            // "12 Elm Street, Apt 4, Springfield, IL 62704": a numbered street, an optional
            // apartment line, a city, a two-letter state and a ZIP code.
            postal_address: re(concat!(
                r"(?i)\b(?P<line1>\d+[a-z]?\s+[a-z0-9][a-z0-9 .'-]*?)\s*,\s*",
                r"(?:(?P<line2>(?:apt|apartment|suite|ste|unit|flat|floor|fl|#)\.?\s*[a-z0-9-]+)\s*,?\s*)?",
                r"(?P<city>[a-z][a-z .'-]*?)\s*,?\s+(?P<state>[a-z]{2})\s*,?\s*(?P<zip>\d{5})(?:-\d{4})?\b",
            )),
            correction: re(
                r"(?i)\b(i meant|i mean|meant to say|actually|sorry|correction|make (?:it|that)|change (?:it|that) to|not .+ but|should be|should have been|wrong)\b",
            ),
        }
    }

    /// A whole postal address in the message, by part (see [`ADDRESS_PARTS`]); a missing
    /// apartment line is `none`, as a customer asked for it would say.
    pub fn postal_address(&self, message: &str) -> Option<BTreeMap<&'static str, String>> {
        // A house number and a ZIP code: at least six digits, and a comma. Most messages have
        // neither, and skip the pattern.
        let digits = message.bytes().filter(u8::is_ascii_digit).count();
        if digits < 6 || !message.contains(',') {
            return None;
        }
        let found = self.postal_address.captures(message)?;
        let part = |name: &str| found.name(name).map(|m| m.as_str().trim().to_string());
        let state = part("state")?.to_uppercase();
        Some(BTreeMap::from([
            ("address1", part("line1")?),
            ("address2", part("line2").unwrap_or_else(|| "none".into())),
            ("city", part("city")?),
            ("state", state),
            ("zip", part("zip")?),
        ]))
    }

    /// Whether the message reads as a correction of something said before.
    pub fn is_correction(&self, message: &str) -> bool {
        self.correction.is_match(message)
    }

    /// The first email address.
    pub fn email(&self, message: &str) -> Option<String> {
        self.email.find(message).and_then(|m| {
            Identity::parse(
                IdentityKind::Email,
                m.as_str(),
                &NormalizeOptions::default(),
            )
            .ok()
            .map(|i| i.value)
        })
    }

    /// The first phone number, in E.164. `strict`: only numbers that can't be anything else
    /// (a leading `+`, or ten digits or more).
    pub fn phone(&self, message: &str, strict: bool) -> Option<String> {
        self.phone.find_iter(message).find_map(|m| {
            let raw = m.as_str();
            if self.iso_date.is_match(raw) {
                return None;
            }
            let digits = raw.chars().filter(char::is_ascii_digit).count();
            if strict && !(raw.starts_with('+') || digits >= 10) {
                return None;
            }
            Identity::parse(IdentityKind::Phone, raw, &NormalizeOptions::default())
                .ok()
                .map(|i| i.value)
        })
    }

    /// A date, absolute ("2026-11-03", "11/3", "Nov 3rd", "3 November 2025") or relative to
    /// `today` ("yesterday", "last Tuesday", "3 days ago", "on Monday").
    pub fn date(&self, message: &str, today: NaiveDate) -> Option<NaiveDate> {
        if let Some(c) = self.iso_date.captures(message) {
            return NaiveDate::from_ymd_opt(
                c[1].parse().ok()?,
                c[2].parse().ok()?,
                c[3].parse().ok()?,
            );
        }
        if let Some(c) = self.slash_date.captures(message) {
            let (month, day): (u32, u32) = (c[1].parse().ok()?, c[2].parse().ok()?);
            return match c.get(3) {
                Some(y) => NaiveDate::from_ymd_opt(full_year(y.as_str())?, month, day),
                None => nearest_year(month, day, today),
            };
        }
        let with_year = |month: u32, day: &str, year: Option<regex::Match>| {
            let day: u32 = day.parse().ok()?;
            match year {
                Some(y) => NaiveDate::from_ymd_opt(y.as_str().parse().ok()?, month, day),
                None => nearest_year(month, day, today),
            }
        };
        if let Some(c) = self.day_month.captures(message) {
            if let Some(d) = with_year(month_of(&c[2].to_lowercase())?, &c[1], c.get(3)) {
                return Some(d);
            }
        }
        if let Some(c) = self.month_day.captures(message) {
            if let Some(d) = with_year(month_of(&c[1].to_lowercase())?, &c[2], c.get(3)) {
                return Some(d);
            }
        }
        if let Some(c) = self.ago.captures(message) {
            let amount = c[1].to_lowercase();
            let n = match amount.as_str() {
                "a" | "an" => 1,
                "a couple of" => 2,
                "a few" => 3,
                other => number_at(&[other]).map(|(n, _)| n as i64)?,
            };
            return match c[2].to_lowercase().as_str() {
                "day" => Some(today - Duration::days(n)),
                "week" => Some(today - Duration::days(7 * n)),
                _ => today.checked_sub_months(Months::new(n as u32)),
            };
        }
        let text = normalize(message);
        if text.contains("day before yesterday") {
            return Some(today - Duration::days(2));
        }
        if text.contains("day after tomorrow") {
            return Some(today + Duration::days(2));
        }
        let words: Vec<&str> = text.split(' ').collect();
        for (i, w) in words.iter().enumerate() {
            match *w {
                "today" | "tonight" | "hoy" | "heute" => return Some(today),
                "yesterday" | "ayer" | "gestern" => return Some(today - Duration::days(1)),
                "anteayer" | "vorgestern" => return Some(today - Duration::days(2)),
                "tomorrow" | "morgen" => return Some(today + Duration::days(1)),
                "mañana" if words.len() <= 3 => return Some(today + Duration::days(1)),
                "week" if i > 0 && words[i - 1] == "last" => {
                    return Some(today - Duration::days(7))
                }
                _ => {}
            }
            if let Some(day) = weekday_of(w) {
                let back =
                    (today.weekday().num_days_from_monday() + 7 - day.num_days_from_monday()) % 7;
                let previous = i.checked_sub(1).map(|p| words[p]);
                let next = words.get(i + 1).copied();
                // "el lunes pasado" / "letzten Montag": strictly before today.
                let previous = match (previous, next) {
                    (_, Some("pasado")) => Some("last"),
                    (Some("letzten" | "letzter" | "vergangenen" | "vorigen"), _) => Some("last"),
                    (Some("próximo" | "proximo" | "nächsten" | "kommenden"), _) => Some("next"),
                    (other, _) => other,
                };
                return Some(match previous {
                    // "last Tuesday": strictly before today.
                    Some("last") | Some("past") => {
                        today - Duration::days(if back == 0 { 7 } else { back } as i64)
                    }
                    // "next Tuesday" / "this coming Tuesday": strictly after.
                    Some("next") | Some("coming") => {
                        let ahead = (7 - back) % 7;
                        today + Duration::days(if ahead == 0 { 7 } else { ahead } as i64)
                    }
                    // "on Tuesday" / "this Tuesday": the latest one, today included (support
                    // messages talk about what already happened).
                    _ => today - Duration::days(back as i64),
                });
            }
        }
        None
    }

    /// An amount of money: with a currency ("$12.50", "20 bucks", "USD 40", "twenty dollars")
    /// or, when `asked`, a bare number.
    pub fn money(&self, message: &str, asked: bool) -> Option<f64> {
        if let Some(c) = self.money_symbol.captures(message) {
            return parse_digits(&c[2]);
        }
        if let Some(c) = self.money_code.captures(message) {
            return parse_digits(c.get(1).or(c.get(2))?.as_str());
        }
        let text = normalize(message);
        let words: Vec<&str> = text.split(' ').collect();
        if let Some(at) = words.iter().position(|w| {
            [
                "dollar", "dollars", "bucks", "euro", "euros", "pound", "pounds",
            ]
            .contains(w)
        }) {
            if let Some((n, start, used)) = number_in(&words[..at]) {
                if start + used == at {
                    return Some(n);
                }
            }
        }
        if asked {
            return self.number(message);
        }
        None
    }

    /// The first number, in digits or words ("3", "2.5", "twenty one", "a dozen").
    pub fn number(&self, message: &str) -> Option<f64> {
        let mut spaced = String::with_capacity(message.len() + 8);
        let mut previous_digit = false;
        for c in message.to_lowercase().chars() {
            // "12.3kg" → "12.3 kg".
            if previous_digit && c.is_alphabetic() {
                spaced.push(' ');
            }
            previous_digit = c.is_ascii_digit();
            spaced.push(if c.is_alphanumeric() || ".,-$€£".contains(c) {
                c
            } else {
                ' '
            });
        }
        let words: Vec<&str> = spaced
            .split_whitespace()
            .map(|w| w.trim_end_matches(['.', ',']))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            if let Some(bare) = w.strip_prefix('-') {
                if let Some((n, _)) = number_at(&[bare]) {
                    return Some(-n);
                }
            }
            if let Some((n, _)) = number_at(&words[i..]) {
                return Some(n);
            }
        }
        None
    }

    /// The enum value whose canonical name or synonym the message contains (longest phrase
    /// wins; negated phrases such as "not by mistake" do not count).
    pub fn enum_value(&self, slot: &CompiledSlot, message: &str) -> Option<String> {
        let text = format!(" {} ", normalize(message));
        slot.spec
            .values
            .iter()
            .flat_map(|(canonical, synonyms)| {
                std::iter::once(canonical)
                    .chain(synonyms)
                    .map(move |p| (canonical, normalize(p)))
            })
            .filter(|(_, phrase)| {
                // "don't need it" is said as "I don't need the kettle any more" too: a
                // synonym's closing pronoun stands for whatever the customer names.
                let core = ["it", "them", "this", "that"]
                    .iter()
                    .find_map(|p| phrase.strip_suffix(&format!(" {p}")))
                    .filter(|core| core.contains(' '));
                let says = |p: &str| {
                    text.contains(&format!(" {p} ")) && !text.contains(&format!(" not {p} "))
                };
                !phrase.is_empty() && (says(phrase) || core.is_some_and(says))
            })
            .max_by_key(|(_, phrase)| phrase.len())
            .map(|(canonical, _)| canonical.clone())
    }

    /// A value for `slot` in `message`, read by the slot's type (see the module docs for
    /// `asked`). List slots give the text, which the engine matches against the choices.
    pub fn value(
        &self,
        slot: &CompiledSlot,
        message: &str,
        asked: bool,
        today: NaiveDate,
    ) -> Option<Value> {
        let number = |n: f64| serde_json::Number::from_f64(n).map(Value::Number);
        match slot.spec.kind {
            SlotType::Pattern => message
                .split(|c: char| c.is_whitespace() || ",;:!?()\"'".contains(c))
                .find_map(|token| slot.pattern_value(token.trim_end_matches('.')))
                .or_else(|| {
                    // "W 123 4567": ids typed with spaces, when asked.
                    asked.then(|| slot.pattern_value(message.trim().trim_end_matches('.')))?
                })
                .map(Value::String),
            SlotType::Enum => self.enum_value(slot, message).map(Value::String),
            SlotType::Email => self.email(message).map(Value::String),
            SlotType::Phone => self.phone(message, !asked).map(Value::String),
            SlotType::Bool if asked => yes_no(message).map(Value::Bool),
            SlotType::Date => self
                .date(message, today)
                .map(|d| Value::String(d.to_string())),
            SlotType::Money => self
                .money(message, asked)
                .map(|n| (n * 100.0).round() / 100.0)
                .and_then(number),
            SlotType::Number if asked => self.number(message).and_then(number),
            SlotType::Integer if asked => self
                .number(message)
                .filter(|n| n.fract() == 0.0)
                .map(|n| Value::from(n as i64)),
            SlotType::String | SlotType::List if asked => {
                let text = message.trim();
                (!text.is_empty()).then(|| Value::String(text.to_string()))
            }
            _ => None,
        }
    }

    /// Whether a value of this slot's type can be recognised without the slot being asked.
    pub fn self_identifying(slot: &CompiledSlot) -> bool {
        match slot.spec.kind {
            SlotType::Email | SlotType::Enum | SlotType::Phone | SlotType::Date => true,
            SlotType::Money => true,
            // `#W\d{7}` or `SUB-\d{4}` announce themselves; `[A-Z]{2}` would match "my".
            SlotType::Pattern => {
                slot.spec.prefix.is_some()
                    || slot
                        .spec
                        .pattern
                        .as_deref()
                        .and_then(|p| p.chars().next())
                        .is_some_and(|c| c.is_alphanumeric() || c == '#')
            }
            _ => false,
        }
    }

    /// Values for slots the message names ("zip 78701", "the city is Austin, state TX"): the
    /// text after each slot's name, up to the next comma, semicolon or " and ", read as if that
    /// slot had been asked.
    pub fn named_values<'a>(
        &self,
        slots: impl Iterator<Item = (&'a String, &'a CompiledSlot)>,
        message: &str,
        today: NaiveDate,
    ) -> BTreeMap<String, Value> {
        let slots: Vec<(&String, &CompiledSlot)> = slots.collect();
        let spoken = |name: &str| {
            name.trim_end_matches(|c: char| c.is_ascii_digit())
                .replace('_', " ")
        };
        let lowered = message.to_lowercase();
        let mut found = BTreeMap::new();
        if lowered.len() != message.len() {
            // Offsets in the lowercased text would not be offsets in the message.
            return found;
        }
        for (name, slot) in &slots {
            let words = spoken(name);
            // A name two slots share ("address1", "address2") says nothing.
            if words.len() < 3 || slots.iter().filter(|(n, _)| spoken(n) == words).count() > 1 {
                continue;
            }
            let Some(at) = find_word(&lowered, &words) else {
                continue;
            };
            let mut rest = &message[at + words.len()..];
            let mut separated = false;
            for filler in ["code", "number", "is", ":", "=", "should be", "to"] {
                if let Some(after) = rest.trim_start().strip_prefix(filler) {
                    let whole_word = !filler.chars().all(char::is_alphabetic)
                        || !after.starts_with(char::is_alphanumeric);
                    if whole_word {
                        separated |= !matches!(filler, "code" | "number");
                        rest = after;
                    }
                }
            }
            // Free text needs "city is …" or "city: …"; "the city for" names nothing.
            if matches!(slot.spec.kind, SlotType::String | SlotType::List) && !separated {
                continue;
            }
            let end = [",", ";", " and ", "\n"]
                .iter()
                .filter_map(|d| rest.find(d))
                .min()
                .unwrap_or(rest.len());
            let segment = rest[..end].trim().trim_end_matches(['.', '!']);
            if segment.is_empty() {
                continue;
            }
            if let Some(value) = self.value(slot, segment, true, today) {
                found.insert((*name).clone(), value);
            }
        }
        found
    }
}

/// Byte offset of `words` in `text` as whole words.
fn find_word(text: &str, words: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(words) {
        let at = from + i;
        let before = text[..at].chars().last();
        let after = text[at + words.len()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return Some(at);
        }
        from = at + words.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates_absolute_and_relative() {
        let x = Extractors::new();
        // A Saturday.
        let today = day("2026-11-21");
        let cases = [
            ("it arrived on 2026-11-03", "2026-11-03"),
            ("11/3", "2026-11-03"),
            ("on 11/03/2025", "2025-11-03"),
            ("Nov 3rd", "2026-11-03"),
            ("the 3rd of November", "2026-11-03"),
            ("3 November 2025", "2025-11-03"),
            ("December 28", "2025-12-28"),
            ("December 5", "2026-12-05"),
            ("04/11", "2026-04-11"),
            ("yesterday", "2026-11-20"),
            ("the day before yesterday", "2026-11-19"),
            ("today", "2026-11-21"),
            ("tomorrow", "2026-11-22"),
            ("last Tuesday", "2026-11-17"),
            ("last saturday", "2026-11-14"),
            ("on Saturday", "2026-11-21"),
            ("on monday", "2026-11-16"),
            ("next friday", "2026-11-27"),
            ("3 days ago", "2026-11-18"),
            ("two weeks ago", "2026-11-07"),
            ("a month ago", "2026-10-21"),
            ("last week", "2026-11-14"),
            // Spanish and German (the shipped translations).
            ("llegó ayer", "2026-11-20"),
            ("el 3 de noviembre", "2026-11-03"),
            ("el lunes pasado", "2026-11-16"),
            ("el próximo viernes", "2026-11-27"),
            ("gestern", "2026-11-20"),
            ("am 3. November", "2026-11-03"),
            ("12. Oktober 2025", "2025-10-12"),
            ("letzten Dienstag", "2026-11-17"),
            ("am Montag", "2026-11-16"),
        ];
        for (message, want) in cases {
            assert_eq!(x.date(message, today), Some(day(want)), "{message}");
        }
        for message in ["may I return it?", "order #W1234567", "I want 3 of them"] {
            assert_eq!(x.date(message, today), None, "{message}");
        }
    }

    #[test]
    fn whole_addresses_split_into_their_parts() {
        let x = Extractors::new();
        let parts = |m: &str| {
            x.postal_address(m)
                .map(|p| ADDRESS_PARTS.map(|k| p[k].clone()).join(" | "))
        };
        assert_eq!(
            parts("12 Elm Street, Springfield, IL 62704").as_deref(),
            Some("12 Elm Street | none | Springfield | IL | 62704")
        );
        assert_eq!(
            parts("please send it to 455 Oak Ave, Apt 3B, Austin, tx 78701 instead").as_deref(),
            Some("455 Oak Ave | Apt 3B | Austin | TX | 78701")
        );
        assert_eq!(
            parts("it's 9 Harbor Road, Unit 2, San Diego CA 92101-1234").as_deref(),
            Some("9 Harbor Road | Unit 2 | San Diego | CA | 92101")
        );
        assert_eq!(parts("my order #W0000001 from 2 days ago"), None);
        assert_eq!(parts("Springfield"), None);
        assert_eq!(parts("62704"), None);
    }

    #[test]
    fn numbers_and_money() {
        let x = Extractors::new();
        for (message, want) in [
            ("3", 3.0),
            ("I'd like two", 2.0),
            ("twenty one please", 21.0),
            ("a dozen", 12.0),
            ("two hundred and five", 205.0),
            ("2.5 kg", 2.5),
            ("1,250", 1250.0),
            ("-4", -4.0),
            ("12.3kg", 12.3),
            ("quiero tres", 3.0),
            ("zwei bitte", 2.0),
        ] {
            assert_eq!(x.number(message), Some(want), "{message}");
        }
        assert_eq!(x.number("none"), None);
        for (message, asked, want) in [
            ("$12.50", false, Some(12.5)),
            ("it cost 20 bucks", false, Some(20.0)),
            ("USD 40", false, Some(40.0)),
            ("twenty dollars", false, Some(20.0)),
            ("€1,299.99", false, Some(1299.99)),
            ("I paid 35", false, None),
            ("35", true, Some(35.0)),
        ] {
            assert_eq!(x.money(message, asked), want, "{message}");
        }
    }

    #[test]
    fn yes_and_no_in_many_forms() {
        for message in [
            "yes",
            "Yep!",
            "sure thing",
            "ok",
            "go ahead",
            "please do",
            "of course",
            "👍",
            "That's right",
            "sounds good to me",
            "absolutely",
        ] {
            assert_eq!(yes_no(message), Some(true), "{message}");
        }
        for message in [
            "no",
            "Nope",
            "nah",
            "not really",
            "of course not",
            "absolutely not",
            "no way",
            "I'd rather not",
            "don't",
            "👎",
            "wait",
        ] {
            assert_eq!(yes_no(message), Some(false), "{message}");
        }
        for message in ["maybe", "what is the refund?", ""] {
            assert_eq!(yes_no(message), None, "{message}");
        }
        // Spanish and German (the shipped translations).
        for message in [
            "sí",
            "Sí, adelante",
            "vale",
            "claro que sí",
            "de acuerdo",
            "ja",
            "genau",
            "ja, gerne",
            "in Ordnung",
            "passt",
        ] {
            assert_eq!(yes_no(message), Some(true), "{message}");
        }
        for message in [
            "no, gracias",
            "mejor no",
            "nein",
            "lieber nicht",
            "auf keinen Fall",
        ] {
            assert_eq!(yes_no(message), Some(false), "{message}");
        }
        for message in ["sí, pero ¿cuándo llega?", "ja, aber wann kommt es?"] {
            assert_eq!(yes_no(message), None, "{message}");
        }
        // A yes that asks for something else is not a yes: at "cancel order #W…? (yes/no)",
        // "please ship it to my new address" must not cancel it.
        for message in [
            "please ship order #W7178170 to my new address",
            "please cancel my subscription instead",
            "ok, but how long does the refund take?",
            "sure, wait, which card?",
            "yes? what happens to my points",
        ] {
            assert_eq!(yes_no(message), None, "{message}");
        }
        for message in [
            "please",
            "yes please",
            "please go ahead",
            "yes, cancel it",
            "ok do it",
        ] {
            assert_eq!(yes_no(message), Some(true), "{message}");
        }
    }

    #[test]
    fn an_acknowledgement_with_thanks_closes_rather_than_takes_up_an_offer() {
        for message in [
            "perfect, thank you",
            "ok thanks",
            "Great, cheers!",
            "alright, thx",
        ] {
            assert!(!takes_up_offer(message), "{message}");
        }
        for message in [
            "yes please",
            "yes please, thanks",
            "sure, thank you",
            "ok",
            "perfect",
            "ok, please do, thanks",
        ] {
            assert!(takes_up_offer(message), "{message}");
        }
        assert!(!takes_up_offer("no thanks"));
    }

    #[test]
    fn phones_need_enough_digits_unless_asked() {
        let x = Extractors::new();
        assert_eq!(
            x.phone("call me at (415) 555-0123", true).as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            x.phone("+44 20 7946 0958", true).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(x.phone("order 1234567", true), None);
        assert_eq!(x.phone("on 2026-11-03", false), None);
    }
}
