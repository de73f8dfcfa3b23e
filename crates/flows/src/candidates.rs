//! Candidates: a slot can offer what the customer most likely means, from their own data (the
//! orders that fit the flow, their subscriptions), instead of asking for an id nobody knows.
//! One candidate is proposed ("Is it #W0000002: Desk Lamp, placed 6 Nov?"), several are listed
//! and numbered, none gets the flow's reason. The customer then points at one in their own
//! words, and [`resolve`] reads which: "yes", "the second one", "the one with the kettle", "my
//! last order", "the November one", "the big one". Pure: both the engine (to check a value) and
//! understanding (to read a reply) use it.

use frontline_domain::Offer;
use serde_json::Value;

/// The position a reply names in a list shown to the customer ("the second one", "2", "number
/// 3"), counted from 1.
pub fn position(reply: &str) -> Option<usize> {
    words(reply).iter().find_map(|w| {
        ORDINALS
            .iter()
            .find(|(name, _)| name == w)
            .map(|(_, n)| *n)
            .or_else(|| {
                w.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LISTED).contains(n))
            })
    })
}

/// What a reply to an offer says.
#[derive(Clone, Debug, PartialEq)]
pub enum Pick {
    /// It points at this offer's value.
    One(Value),
    /// It turns the proposal down ("no", "none of those").
    Declined,
    /// It points at some of them, not one ("the smart watch order" when three have a watch):
    /// these values, in the order offered.
    Narrowed(Vec<Value>),
    /// It does not point at one (or points at several).
    Unclear,
}

/// The most offers a prompt lists; the rest are reachable by their id.
pub const MAX_LISTED: usize = 6;

const YES: &[&str] = &[
    "yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "exactly",
    "indeed", // Spanish and German (the shipped translations).
    "sí", "si", "claro", "vale", "exacto", "correcto", "ja", "genau", "richtig", "stimmt",
];
const YES_PHRASES: &[&str] = &[
    "that's it",
    "that one",
    "this one",
    "that's the one",
    "that's right",
    "ese es",
    "esa es",
    "es ese",
    "es esa",
    "das ist sie",
    "das ist er",
    "die ist es",
    "das ist es",
];
const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "neither",
    "none",
    "wrong",
    "different",
    "another",
    "ninguno",
    "ninguna",
    "otro",
    "otra",
    "nein",
    "keine",
    "keiner",
    "andere",
];
const ORDINALS: &[(&str, usize)] = &[
    ("first", 1),
    ("1st", 1),
    ("second", 2),
    ("2nd", 2),
    ("third", 3),
    ("3rd", 3),
    ("fourth", 4),
    ("4th", 4),
    ("fifth", 5),
    ("5th", 5),
    ("sixth", 6),
    ("6th", 6),
    ("primero", 1),
    ("primera", 1),
    ("segundo", 2),
    ("segunda", 2),
    ("tercero", 3),
    ("tercera", 3),
    ("cuarto", 4),
    ("cuarta", 4),
    ("erste", 1),
    ("ersten", 1),
    ("erster", 1),
    ("zweite", 2),
    ("zweiten", 2),
    ("zweiter", 2),
    ("dritte", 3),
    ("dritten", 3),
    ("dritter", 3),
    ("vierte", 4),
    ("vierten", 4),
];
const NEWEST: &[&str] = &[
    "last", "latest", "newest", "recent", "último", "última", "ultimo", "ultima", "reciente",
    "letzte", "letzten", "neueste", "neuesten",
];
const OLDEST: &[&str] = &["oldest", "earliest", "older"];
const BIGGEST: &[&str] = &[
    "big",
    "bigger",
    "biggest",
    "large",
    "larger",
    "largest",
    "expensive",
];
const SMALLEST: &[&str] = &[
    "small", "smaller", "smallest", "cheap", "cheaper", "cheapest",
];
const MONTHS: [&str; 12] = [
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
/// Words that say nothing about which offer: they never count as a content match.
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "one",
    "with",
    "that",
    "had",
    "has",
    "have",
    "only",
    "just",
    "my",
    "i",
    "it",
    "order",
    "orders",
    "from",
    "for",
    "of",
    "in",
    "on",
    "and",
    "is",
    "was",
    "me",
    "please",
    "thanks",
    "which",
    "where",
    "where's",
    "this",
    "those",
    "these",
    "them",
    "item",
    "items",
    "thing",
    "stuff",
    "got",
    "get",
    "bought",
    "ordered",
    "placed",
    "delivered",
    "pending",
    "processed",
    "cancelled",
    "shipped",
    "to",
    "yes",
    "no",
    "not",
    "want",
    "like",
    "would",
    "about",
    "subscription",
    "plan",
];

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

/// A word's singular, roughly ("kettles" → "kettle", "glasses" → "glass").
fn stem(word: &str) -> &str {
    if word.len() > 4 && word.ends_with("es") && (word.ends_with("ses") || word.ends_with("xes")) {
        &word[..word.len() - 2]
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

fn month_of(date: &str) -> Option<usize> {
    date.get(5..7)?.parse().ok()
}

/// Which of `offers` the customer's `reply` points at.
pub fn resolve(reply: &str, offers: &[Offer]) -> Pick {
    if offers.is_empty() {
        return Pick::Unclear;
    }
    let said = words(reply);
    let has = |list: &[&str]| said.iter().any(|w| list.contains(&w.as_str()));
    let one = |i: usize| Pick::One(offers[i].value.clone());
    // Its id, as shown ("#W0000002", "W0000002"), wins over everything else.
    if let Some(i) = by_value(reply, offers) {
        return one(i);
    }
    // A refusal of a single proposal, before anything that "no" could be part of.
    if said.len() <= 4 && has(NO) && !has(&["yes", "yeah", "yep"]) {
        return Pick::Declined;
    }
    // By position in the list: "the second one", "2", "number 3".
    if let Some(n) = position(reply) {
        if n <= offers.len().min(MAX_LISTED) && offers.len() > 1 {
            return one(n - 1);
        }
        if n == 1 && offers.len() == 1 {
            return one(0);
        }
    }
    if let Some(i) = described(&said, offers) {
        return one(i);
    }
    let some = by_content(&said, offers);
    if some.len() > 1 && some.len() < offers.len() {
        return Pick::Narrowed(some.into_iter().map(|i| offers[i].value.clone()).collect());
    }
    // "No, it's the one with the lamp" about a single proposal that has no lamp.
    if offers.len() == 1 && said.first().is_some_and(|w| NO.contains(&w.as_str())) {
        return Pick::Declined;
    }
    // A yes to the single proposal ("yes", "yes that's the one", "that's it").
    let lower = reply.to_lowercase().replace('’', "'");
    let affirmed = has(YES) || YES_PHRASES.iter().any(|p| lower.contains(p));
    if offers.len() == 1 && affirmed && !has(NO) && !has(&["not", "isn't", "wasn't"]) {
        return one(0);
    }
    Pick::Unclear
}

/// Whether a reply points at an order or subscription at all, among the offers or not ("the one
/// with the coffee maker", "the smart watch order", one of the offers' items): an answer to the
/// question, however unclear, rather than a new request.
pub fn refers(reply: &str, offers: &[Offer]) -> bool {
    static POINTS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let points = POINTS.get_or_init(|| {
        regex::Regex::new(r"(?i)\b(the one|that one|the (first|second|third|last|latest|other) one|(the|that|my) [a-z -]{0,30}\b(order|one|subscription)|#?w\d{3,})\b")
            .expect("pattern")
    });
    points.is_match(reply) || !by_content(&words(reply), offers).is_empty()
}

/// The offers whose labels share the most content words with `said` ("the one with the
/// kettle"); of those, "only"/"just" keeps the ones with the least else in them ("the order that
/// only had the lamp"). Empty when no word is shared.
fn by_content(said: &[String], offers: &[Offer]) -> Vec<usize> {
    let has = |list: &[&str]| said.iter().any(|w| list.contains(&w.as_str()));
    let content: Vec<&str> = said
        .iter()
        .map(|w| stem(w))
        .filter(|w| w.len() > 2 && !FILLER.contains(w))
        .collect();
    if content.is_empty() {
        return vec![];
    }
    let scores: Vec<usize> = offers
        .iter()
        .map(|o| {
            let label: Vec<String> = words(&o.label);
            content
                .iter()
                .filter(|w| label.iter().any(|l| stem(l) == **w))
                .count()
        })
        .collect();
    let best = *scores.iter().max().unwrap_or(&0);
    if best == 0 {
        return vec![];
    }
    let mut top: Vec<usize> = (0..offers.len()).filter(|&i| scores[i] == best).collect();
    if top.len() > 1 && has(&["only", "just"]) {
        let size = |i: &usize| {
            words(&offers[*i].label)
                .iter()
                .filter(|w| w.len() > 2 && !FILLER.contains(&w.as_str()))
                .count()
        };
        let least = top.iter().map(size).min().unwrap_or(0);
        top.retain(|i| size(i) == least);
    }
    top
}

/// The offer `said` (its words) describes by contents, month, date or size, if exactly one.
fn described(said: &[String], offers: &[Offer]) -> Option<usize> {
    let has = |list: &[&str]| said.iter().any(|w| list.contains(&w.as_str()));
    // By content: words of its label ("the one with the kettle", "the lamp order").
    if let [only] = by_content(said, offers).as_slice() {
        return Some(*only);
    }
    // By month: "the November one", "the one from oct" ("may" is too often a verb).
    let month = said.iter().find_map(|w| {
        MONTHS
            .iter()
            .position(|m| *m != "may" && (m == w || (w.len() == 3 && m.starts_with(w.as_str()))))
            .map(|i| i + 1)
    });
    if let Some(month) = month {
        // "the one from 31 October", "October 28th": the day too, when one is said.
        let day = said.iter().find_map(|w| {
            let digits = w.trim_end_matches(|c: char| c.is_alphabetic());
            digits
                .parse::<usize>()
                .ok()
                .filter(|d| (1..=31).contains(d))
        });
        let matching: Vec<usize> = (0..offers.len())
            .filter(|&i| offers[i].date.as_deref().and_then(month_of) == Some(month))
            .filter(|&i| {
                day.is_none_or(|d| {
                    offers[i]
                        .date
                        .as_deref()
                        .and_then(|x| x.get(8..10)?.parse().ok())
                        == Some(d)
                })
            })
            .collect();
        if matching.len() == 1 {
            return Some(matching[0]);
        }
    }
    // By date: "my last order", "the most recent one", "the oldest".
    let dated: Vec<(usize, &str)> = offers
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, o.date.as_deref()?)))
        .collect();
    let newest = has(NEWEST);
    let oldest = has(OLDEST);
    if (newest ^ oldest) && !dated.is_empty() {
        let pick = if newest {
            dated.iter().max_by_key(|(_, d)| *d)
        } else {
            dated.iter().min_by_key(|(_, d)| *d)
        };
        if let Some((i, date)) = pick {
            let ties = dated.iter().filter(|(_, d)| d == date).count();
            if ties == 1 {
                return Some(*i);
            }
        }
    }
    // By size: "the big one", "the cheaper one".
    let biggest = has(BIGGEST);
    let smallest = has(SMALLEST);
    if biggest ^ smallest {
        let sized: Vec<(usize, f64)> = offers
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, o.size?)))
            .collect();
        let pick = sized.iter().copied().reduce(|a, b| {
            let better = if biggest { b.1 > a.1 } else { b.1 < a.1 };
            if better {
                b
            } else {
                a
            }
        });
        if let Some((i, size)) = pick {
            if sized.iter().filter(|(_, s)| *s == size).count() == 1 {
                return Some(i);
            }
        }
    }
    None
}

/// The offer a message names without being asked (the message a flow was started on: "return
/// the lamp", "cancel my last order"), if exactly one: by its id, contents, month, date or size,
/// never by a yes or a position.
pub fn mentioned(message: &str, offers: &[Offer]) -> Option<Value> {
    let said = words(message);
    by_value(message, offers)
        .or_else(|| described(&said, offers))
        .map(|i| offers[i].value.clone())
}

/// The one offer a message names by its contents ("the running shoes I got"), if exactly one
/// is named more than the others; only contents count (never a date, a size or a position).
pub fn named_by_contents(message: &str, offers: &[Offer]) -> Option<usize> {
    match by_content(&words(message), offers).as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// The offered value that `value` stands for (`"w0000002"` or `"#W0000002 "` for the offer
/// `#W0000002`), if it is one offer's value: how a value read elsewhere (an LLM's `set_slot`) is
/// checked against what the customer was offered, and written as the offer writes it.
pub fn offered(value: &Value, offers: &[Offer]) -> Option<Value> {
    let key = |v: &Value| {
        let text: String = crate::template::display(v)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        text.trim_start_matches('#').to_lowercase()
    };
    let wanted = key(value);
    offers
        .iter()
        .find(|o| !wanted.is_empty() && key(&o.value) == wanted)
        .map(|o| o.value.clone())
}

/// The offer whose id the reply contains, if exactly one.
fn by_value(reply: &str, offers: &[Offer]) -> Option<usize> {
    let compact: String = reply.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.to_lowercase();
    let found: Vec<usize> = (0..offers.len())
        .filter(|&i| {
            let value = crate::template::display(&offers[i].value).to_lowercase();
            let bare = value.trim_start_matches('#');
            !bare.is_empty() && compact.contains(bare)
        })
        .collect();
    (found.len() == 1).then(|| found[0])
}

/// The offers as the customer reads them: one proposed, several numbered (at most
/// [`MAX_LISTED`]).
pub fn render(offers: &[Offer], one: &str, many: &str) -> String {
    match offers {
        [] => String::new(),
        [only] => one.replace("{candidate}", &only.label),
        several => {
            let mut text = many.to_string();
            for (i, o) in several.iter().take(MAX_LISTED).enumerate() {
                text.push_str(&format!("\n{}) {}", i + 1, o.label));
            }
            text
        }
    }
}

/// The wording key of how to answer offers shown a second time, after a reply that pointed at
/// none of them.
pub fn how_to_answer(offers: &[Offer]) -> &'static str {
    match offers {
        [_] => "offers_one_how",
        _ => "offers_many_how",
    }
}

/// Offers from a `candidates` expression's value: a list of `{value, label, date?, size?}`.
pub fn from_value(value: &Value) -> Result<Vec<Offer>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| "candidates must be a list of {value, label}".to_string())?;
    items
        .iter()
        .map(|item| {
            let value = item
                .get("value")
                .filter(|v| !v.is_null())
                .ok_or_else(|| format!("candidate {item} has no value"))?
                .clone();
            Ok(Offer {
                label: item
                    .get("label")
                    .map(crate::template::display)
                    .unwrap_or_else(|| crate::template::display(&value)),
                value,
                date: item.get("date").and_then(Value::as_str).map(str::to_string),
                size: item.get("size").and_then(Value::as_f64),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offer(id: &str, label: &str, date: &str, size: f64) -> Offer {
        Offer {
            value: json!(id),
            label: format!("{id}: {label}"),
            date: Some(date.into()),
            size: Some(size),
        }
    }

    fn orders() -> Vec<Offer> {
        vec![
            offer(
                "#W0000007",
                "Electric Kettle, Desk Lamp, placed 2 Dec",
                "2026-12-02",
                180.0,
            ),
            offer("#W0000005", "Desk Lamp, placed 14 Nov", "2026-11-14", 45.0),
            offer(
                "#W0000003",
                "Running Shoes, Water Bottle, placed 3 Oct",
                "2026-10-03",
                130.0,
            ),
        ]
    }

    #[test]
    fn a_value_read_elsewhere_counts_only_when_it_is_one_of_the_offers() {
        let offers = orders();
        assert_eq!(
            offered(&json!("#W0000007"), &offers),
            Some(json!("#W0000007"))
        );
        assert_eq!(
            offered(&json!(" w0000007"), &offers),
            Some(json!("#W0000007"))
        );
        // Not offered, a part of an id, or nothing at all.
        assert_eq!(offered(&json!("#W0000099"), &offers), None);
        assert_eq!(offered(&json!("W000000"), &offers), None);
        assert_eq!(offered(&json!(""), &offers), None);
        assert_eq!(offered(&json!("#W0000007"), &[]), None);
    }

    #[test]
    fn a_no_that_names_something_else_turns_a_single_proposal_down() {
        let o = &orders()[1..2];
        assert_eq!(
            resolve("no, it's the one with the kettle", o),
            Pick::Declined
        );
        assert_eq!(resolve("no", o), Pick::Declined);
        assert_eq!(
            resolve("yes, the lamp one", o),
            Pick::One(json!("#W0000005"))
        );
    }

    #[test]
    fn customers_point_at_an_order_in_their_own_words() {
        let o = orders();
        let pick = |s: &str| resolve(s, &o);
        assert_eq!(
            pick("the one with the kettle"),
            Pick::One(json!("#W0000007"))
        );
        assert_eq!(
            pick("the order that only had the lamp"),
            Pick::One(json!("#W0000005"))
        );
        assert_eq!(
            pick("the lamp"),
            Pick::Narrowed(vec![json!("#W0000007"), json!("#W0000005")]),
            "two orders have a lamp"
        );
        assert_eq!(
            pick("the one from 14 November"),
            Pick::One(json!("#W0000005"))
        );
        assert_eq!(pick("the one from 15 November"), Pick::Unclear);
        assert_eq!(
            pick("the most expensive one"),
            Pick::One(json!("#W0000007"))
        );
        assert_eq!(pick("the shoes"), Pick::One(json!("#W0000003")));
        assert_eq!(
            pick("running shoes order please"),
            Pick::One(json!("#W0000003"))
        );
        assert_eq!(pick("the second one"), Pick::One(json!("#W0000005")));
        assert_eq!(pick("2"), Pick::One(json!("#W0000005")));
        assert_eq!(pick("my last order"), Pick::One(json!("#W0000007")));
        assert_eq!(pick("the most recent one"), Pick::One(json!("#W0000007")));
        assert_eq!(pick("the oldest"), Pick::One(json!("#W0000003")));
        assert_eq!(pick("the November one"), Pick::One(json!("#W0000005")));
        assert_eq!(pick("the one from oct"), Pick::One(json!("#W0000003")));
        assert_eq!(pick("the big one"), Pick::One(json!("#W0000007")));
        assert_eq!(pick("the cheapest"), Pick::One(json!("#W0000005")));
        assert_eq!(pick("W0000003"), Pick::One(json!("#W0000003")));
        assert_eq!(pick("# w 0000005"), Pick::One(json!("#W0000005")));
        assert_eq!(pick("I'm not sure"), Pick::Unclear);
        assert_eq!(pick("yes"), Pick::Unclear, "a yes to a list names nothing");
    }

    #[test]
    fn an_opening_names_an_offer_by_what_it_describes_only() {
        let o = orders();
        assert_eq!(
            mentioned("I want to return the running shoes", &o),
            Some(json!("#W0000003"))
        );
        assert_eq!(
            mentioned("cancel my last order", &o),
            Some(json!("#W0000007"))
        );
        assert_eq!(
            mentioned("any news on my kettle?", &o),
            Some(json!("#W0000007"))
        );
        assert_eq!(mentioned("I want to cancel my order", &o), None);
        assert_eq!(
            mentioned("yes", &o[..1]),
            None,
            "a yes names nothing unasked"
        );
        assert_eq!(
            mentioned("cancel my 2 orders", &o),
            None,
            "a number is not a position unasked"
        );
    }

    #[test]
    fn a_single_proposal_takes_a_yes_or_a_no() {
        let one = vec![orders().remove(1)];
        assert_eq!(resolve("yes", &one), Pick::One(json!("#W0000005")));
        assert_eq!(
            resolve("yes that's the one", &one),
            Pick::One(json!("#W0000005"))
        );
        assert_eq!(resolve("that's it", &one), Pick::One(json!("#W0000005")));
        assert_eq!(resolve("no", &one), Pick::Declined);
        assert_eq!(resolve("no, a different one", &one), Pick::Declined);
        assert_eq!(resolve("the lamp", &one), Pick::One(json!("#W0000005")));
        assert_eq!(resolve("what?", &one), Pick::Unclear);
        assert_eq!(resolve("I'm not sure", &one), Pick::Unclear);
        assert_eq!(resolve("anything", &[]), Pick::Unclear);
    }

    #[test]
    fn offers_render_for_the_customer_and_read_from_data() {
        let o = orders();
        assert_eq!(
            render(&o[..1], "Is it {candidate}?", "Which one?"),
            "Is it #W0000007: Electric Kettle, Desk Lamp, placed 2 Dec?"
        );
        let listed = render(&o, "Is it {candidate}?", "Which one?");
        assert!(listed.starts_with("Which one?\n1) #W0000007"), "{listed}");
        assert!(listed.ends_with("3) #W0000003: Running Shoes, Water Bottle, placed 3 Oct"));
        let read = from_value(
            &json!([{"value": "SUB-1001", "label": "Water filters", "date": "2026-01-01"}]),
        )
        .unwrap();
        assert_eq!(read[0].label, "Water filters");
        assert_eq!(read[0].date.as_deref(), Some("2026-01-01"));
        assert!(from_value(&json!([{"label": "x"}])).is_err());
        assert!(from_value(&json!("x")).is_err());
    }
}
