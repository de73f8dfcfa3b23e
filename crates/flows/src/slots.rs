//! Slot values: every value understanding proposes is checked against its slot's type and
//! normalised (enum synonyms → the canonical value, phones → E.164, order ids → `#W…`) before
//! the engine stores it. A value that does not fit is refused with a message, never stored.

use crate::compile::CompiledSlot;
use crate::expr::Expr;
use crate::spec::SlotType;
use crate::wording::Wording;
use chrono::NaiveDate;
use frontline_domain::{Identity, IdentityKind, NormalizeOptions};
use serde_json::{Map, Value};

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// Yes/no words, for bool slots and confirmations.
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "yes" | "y" | "true" | "yeah" | "yep" | "sure" | "ok" | "okay" | "correct"
            | "confirm" => Some(true),
            "no" | "n" | "false" | "nope" | "nah" | "cancel" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The canonical enum value for a value or synonym (case-insensitive).
pub fn enum_value(slot: &CompiledSlot, raw: &str) -> Option<String> {
    let wanted = raw.trim().to_lowercase();
    slot.spec.values.iter().find_map(|(canonical, synonyms)| {
        (canonical.to_lowercase() == wanted || synonyms.iter().any(|s| s.to_lowercase() == wanted))
            .then(|| canonical.clone())
    })
}

/// Check and normalise `value` for `slot` (named `name`); `Err` is what to tell the customer.
pub fn normalize(
    name: &str,
    slot: &CompiledSlot,
    value: &Value,
    scope: &Map<String, Value>,
    today: NaiveDate,
) -> Result<Value, String> {
    let spec = &slot.spec;
    let bad = |what: &str| format!("Sorry, that doesn't look like {what}.");
    let normalized = match spec.kind {
        // An explicit empty string is an answer ("no apartment"); a missing value is not.
        SlotType::String => match value {
            Value::String(s) => Value::String(s.trim().to_string()),
            other => text(other)
                .map(Value::String)
                .ok_or_else(|| bad("an answer"))?,
        },
        SlotType::Enum => {
            let raw = text(value).ok_or_else(|| bad("one of the options"))?;
            let canonical = enum_value(slot, &raw).ok_or_else(|| {
                format!(
                    "Sorry, I can only take one of: {}.",
                    spec.values.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
            Value::String(canonical)
        }
        SlotType::Bool => Value::Bool(parse_bool(value).ok_or_else(|| bad("a yes or a no"))?),
        SlotType::Integer => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                other => text(other).and_then(|t| t.parse::<i64>().ok()),
            };
            Value::from(n.ok_or_else(|| bad("a whole number"))?)
        }
        SlotType::Number | SlotType::Money => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                other => text(other).and_then(|t| {
                    t.trim_start_matches(['$', '€', '£'])
                        .replace(',', "")
                        .parse::<f64>()
                        .ok()
                }),
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| {
                bad(if spec.kind == SlotType::Money {
                    "an amount"
                } else {
                    "a number"
                })
            })?;
            let n = if spec.kind == SlotType::Money {
                (n * 100.0).round() / 100.0
            } else {
                n
            };
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| bad("a number"))?
        }
        SlotType::Date => {
            let raw = text(value).ok_or_else(|| bad("a date"))?;
            let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .map_err(|_| bad("a date (YYYY-MM-DD)"))?;
            Value::String(date.to_string())
        }
        SlotType::Email | SlotType::Phone => {
            let raw = text(value).ok_or_else(|| bad("a contact detail"))?;
            let kind = if spec.kind == SlotType::Email {
                IdentityKind::Email
            } else {
                IdentityKind::Phone
            };
            let identity =
                Identity::parse(kind, &raw, &NormalizeOptions::default()).map_err(|_| {
                    bad(if kind == IdentityKind::Email {
                        "an email address"
                    } else {
                        "a phone number"
                    })
                })?;
            Value::String(identity.value)
        }
        SlotType::Pattern => {
            let raw = text(value).ok_or_else(|| bad("the right format"))?;
            match slot.pattern_value(&raw) {
                Some(canonical) => Value::String(canonical),
                None => {
                    return Err(format!(
                        "Sorry, `{raw}` doesn't look right. {}",
                        slot.prompt.render(scope)
                    ))
                }
            }
        }
        SlotType::List => list(slot, value, scope, today)?,
    };
    let mut with_value = scope.clone();
    with_value.insert(name.to_string(), normalized.clone());
    for (condition, message) in &slot.rejections {
        if rejects(condition, &with_value, today) {
            return Err(message.render(&with_value));
        }
    }
    Ok(normalized)
}

fn rejects(condition: &Expr, scope: &Map<String, Value>, today: NaiveDate) -> bool {
    // A rejection rule that cannot be evaluated refuses: better to ask again than to accept
    // a value a policy could not check.
    condition.holds(scope, today).unwrap_or(true)
}

/// The choices of a list slot that a message names outright, by their labels (never by a
/// position: "a different one" or "size 11" in the message a flow started on point at no place
/// in a list the customer has not seen); `None` when it names none or the choices cannot be
/// listed.
pub fn named_in(
    slot: &CompiledSlot,
    text: &str,
    scope: &Map<String, Value>,
    today: NaiveDate,
) -> Option<Value> {
    let choices = slot.choices.as_ref()?.eval(scope, today).ok()?;
    let choices: Vec<(String, String)> = choices
        .as_array()?
        .iter()
        .filter_map(|c| {
            Some((
                crate::template::display(c.get("value")?),
                crate::template::display(c.get("label").unwrap_or(&c["value"])),
            ))
        })
        .collect();
    let picked = named_choices(text, &choices);
    (!picked.is_empty()).then(|| Value::Array(picked.into_iter().map(Value::String).collect()))
}

/// The slot's question in other words, for when the reply to it did not answer it: the flow's
/// `reprompt` if it wrote one; otherwise the question again with what kind of answer fits (its
/// options, its choices, or an example), so the same words are never asked twice.
pub fn rephrased(
    slot: &CompiledSlot,
    scope: &Map<String, Value>,
    today: NaiveDate,
    wording: &Wording,
) -> String {
    if let Some(reprompt) = &slot.reprompt {
        return reprompt.render(scope);
    }
    // At most six, each in quotes: "“a”, “b” or “c”".
    let quoted = |items: Vec<String>| -> String {
        let items: Vec<String> = items
            .into_iter()
            .take(6)
            .map(|i| format!("\u{201c}{i}\u{201d}"))
            .collect();
        wording.list(&items)
    };
    let hint = match slot.spec.kind {
        SlotType::Enum => {
            let values = slot
                .spec
                .values
                .keys()
                .map(|v| v.replace('_', " "))
                .collect();
            wording.say("hint_options", &[("options", &quoted(values))])
        }
        SlotType::List => {
            let labels: Vec<String> = slot
                .choices
                .as_ref()
                .and_then(|c| c.eval(scope, today).ok())
                .and_then(|c| {
                    c.as_array().map(|items| {
                        items
                            .iter()
                            .filter_map(|c| c.get("label").or_else(|| c.get("value")))
                            .map(crate::template::display)
                            .collect()
                    })
                })
                .unwrap_or_default();
            if labels.is_empty() {
                wording.say("hint_list", &[])
            } else {
                wording.say("hint_choices", &[("choices", &quoted(labels))])
            }
        }
        SlotType::Bool => wording.say("hint_yes_no", &[]),
        SlotType::Email => wording.say("hint_email", &[]),
        SlotType::Phone => wording.say("hint_phone", &[]),
        SlotType::Date => wording.say("hint_date", &[]),
        SlotType::Integer | SlotType::Number => wording.say("hint_number", &[]),
        SlotType::Money => wording.say("hint_money", &[]),
        SlotType::Pattern | SlotType::String => match &slot.spec.description {
            Some(what) => wording.say(
                "hint_needed",
                &[("what", what.trim().trim_end_matches('.'))],
            ),
            None => wording.say("hint_needed_unnamed", &[]),
        },
    };
    format!("{} {hint}", slot.prompt.render(scope))
}

/// A list slot's one choice, as its value, when it has exactly one.
pub fn only_choice(
    slot: &CompiledSlot,
    scope: &Map<String, Value>,
    today: NaiveDate,
) -> Option<Value> {
    let choices = slot.choices.as_ref()?.eval(scope, today).ok()?;
    match choices.as_array()?.as_slice() {
        [one] => Some(Value::Array(vec![one.get("value")?.clone()])),
        _ => None,
    }
}

/// The reason a message states: what follows "because", "since", "as" or "cause", or what
/// comes before ", so" ("I'm moving abroad next month so please stop it" → "I'm moving abroad
/// next month"); `None` when it states none.
pub fn stated_reason(text: &str) -> Option<String> {
    static REASON: std::sync::OnceLock<(regex::Regex, regex::Regex)> = std::sync::OnceLock::new();
    let (after, before) = REASON.get_or_init(|| {
        (
            regex::Regex::new(r"(?i)\b(?:because|since|as|'?cause)\s+((?:i|we|it|they|my|our|the|of)\b[^.!?;]{3,})")
                .expect("pattern"),
            regex::Regex::new(r"(?i)^\s*(?:(?:hi|hello|hey)\W+)?([^.!?;]{6,}?),?\s+so\s+(?:i|we|please|can|could|would)\b")
                .expect("pattern"),
        )
    });
    let found = after
        .captures(text)
        .or_else(|| before.captures(text))?
        .get(1)?
        .as_str()
        .trim()
        .trim_end_matches(',');
    (!found.is_empty()).then(|| found.to_string())
}

/// A list slot's value: the choices the customer named (by label or value), or all of them.
fn list(
    slot: &CompiledSlot,
    value: &Value,
    scope: &Map<String, Value>,
    today: NaiveDate,
) -> Result<Value, String> {
    let choices = match &slot.choices {
        Some(expr) => expr
            .eval(scope, today)
            .map_err(|e| format!("Sorry, I can't list the options right now ({e})."))?,
        None => Value::Array(vec![]),
    };
    let choices: Vec<(String, String)> = choices
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| {
                    Some((
                        crate::template::display(c.get("value")?),
                        crate::template::display(c.get("label").unwrap_or(&c["value"])),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let labels = || {
        choices
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let picked: Vec<String> = match value {
        // Given as values (an API, an LLM, a test): each must be one of the choices.
        Value::Array(items) => {
            let mut picked = Vec::new();
            for item in items {
                let wanted = crate::template::display(item);
                match choices
                    .iter()
                    .find(|(v, l)| *v == wanted || l.eq_ignore_ascii_case(&wanted))
                {
                    Some((v, _)) => picked.push(v.clone()),
                    None => return Err(format!("Sorry, {wanted} isn't one of: {}.", labels())),
                }
            }
            picked
        }
        // Given in words: the choices named in them, or all of them.
        Value::String(text) => named_choices(text, &choices),
        _ => vec![],
    };
    // Or by its place in the list shown: "the first one", "2".
    let picked = match (picked.is_empty(), value) {
        (true, Value::String(text)) => crate::candidates::position(text)
            .and_then(|n| choices.get(n - 1))
            .map(|(v, _)| vec![v.clone()])
            .unwrap_or_default(),
        _ => picked,
    };
    if picked.is_empty() {
        return Err(format!(
            "Sorry, I couldn't tell which ones you mean. The options are: {}. You can name them, or say \"all of them\".",
            choices
                .iter()
                .enumerate()
                .map(|(i, (_, l))| format!("{}) {l}", i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Value::Array(
        picked.into_iter().map(Value::String).collect(),
    ))
}

/// The choices a customer's words name, as values:
/// - those all of whose label words are said ("the yoga mats" names "Yoga Mat": plurals count;
///   "medium" names "M");
/// - and those sharing the most of the other words said ("the kettle" names "Electric Kettle",
///   "the speaker and the headphones" both of theirs);
/// - otherwise every choice, when the customer asks for all of them ("all of them", "both",
///   "everything"): "it stopped working all the time" asks for nothing.
fn named_choices(text: &str, choices: &[(String, String)]) -> Vec<String> {
    const FILLER: &[&str] = &[
        "the", "a", "an", "one", "ones", "of", "and", "my", "it", "in",
    ];
    let said = words(text);
    let says = |w: &String| {
        let alias = match w.as_str() {
            "s" => "small",
            "m" => "medium",
            "l" => "large",
            "xl" => "xlarge",
            _ => "",
        };
        said.contains(w)
            || said.contains(&format!("{w}s"))
            || said.contains(&format!("{w}es"))
            || (!alias.is_empty() && said.contains(alias))
    };
    let content = |label: &str| -> Vec<String> {
        words(label)
            .into_iter()
            .filter(|w| !FILLER.contains(&w.as_str()))
            .collect()
    };
    let whole: Vec<String> = choices
        .iter()
        .filter(|(v, l)| {
            // Every word of the label, small ones too: "silver over-ear" is not "silver in-ear".
            let label = words(l);
            said.contains(&v.to_lowercase()) || (!label.is_empty() && label.iter().all(says))
        })
        .map(|(v, _)| v.clone())
        .collect();
    // Words the whole matches account for; a choice named only by other words is named too
    // ("the kettle and the t-shirt"), one named by the same words is not ("white 10" does not
    // name "white 9").
    let covered: Vec<String> = choices
        .iter()
        .filter(|(v, _)| whole.contains(v))
        .flat_map(|(_, l)| content(l))
        .collect();
    // Next to whole matches, only a word no other choice has names one more ("the kettle and
    // the t-shirt"); "the large grey one" does not add every small one.
    let unique = |w: &String| {
        choices
            .iter()
            .filter(|(_, l)| content(l).contains(w))
            .count()
            == 1
    };
    let shared: Vec<usize> = choices
        .iter()
        .map(|(v, l)| match whole.contains(v) {
            true => 0,
            false => content(l)
                .iter()
                .filter(|w| says(w) && !covered.contains(w) && (whole.is_empty() || unique(w)))
                .count(),
        })
        .collect();
    let best = shared.iter().copied().max().unwrap_or(0);
    if best > 0 || !whole.is_empty() {
        return choices
            .iter()
            .zip(&shared)
            .filter(|((v, _), n)| whole.contains(v) || (best > 0 && **n == best))
            .map(|((v, _), _)| v.clone())
            .collect();
    }
    static EVERYTHING: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let everything = EVERYTHING.get_or_init(|| {
        regex::Regex::new(
            r"(?i)^\W*(all|everything|both|the lot)\W*(please|thanks)?\W*$|\b(all of (them|it|those|these|the items)|all (the )?items|all \d+|all (two|three|four|five)|everything|both( of them)?|the whole (order|lot)|the lot)\b",
        )
        .expect("pattern")
    });
    if everything.is_match(text) {
        return choices.iter().map(|(v, _)| v.clone()).collect();
    }
    vec![]
}

fn words(text: &str) -> std::collections::BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::named_choices;

    fn pick(text: &str, labels: &[&str]) -> Vec<String> {
        let choices: Vec<(String, String)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("v{}", i + 1), l.to_string()))
            .collect();
        named_choices(text, &choices)
    }

    #[test]
    fn a_stated_reason_is_read_from_the_opening() {
        use super::stated_reason;
        assert_eq!(
            stated_reason(
                "I'm moving abroad next month so I want my coffee subscription cancelled."
            )
            .as_deref(),
            Some("I'm moving abroad next month")
        );
        assert_eq!(
            stated_reason("please cancel it because we drink tea now").as_deref(),
            Some("we drink tea now")
        );
        assert_eq!(stated_reason("cancel my subscription"), None);
        assert_eq!(stated_reason("as soon as possible please cancel"), None);
    }

    #[test]
    fn customers_name_items_by_part_of_their_label() {
        let order = ["Electric Kettle", "T-Shirt", "Wireless Headphones"];
        assert_eq!(pick("the kettle", &order), ["v1"]);
        assert_eq!(pick("just the headphones please", &order), ["v3"]);
        assert_eq!(pick("the kettle and the t-shirt", &order), ["v1", "v2"]);
        assert_eq!(
            pick("both the kettle and the headphones", &order),
            ["v1", "v3"]
        );
        assert_eq!(pick("all of them", &order), ["v1", "v2", "v3"]);
        assert_eq!(pick("everything", &order), ["v1", "v2", "v3"]);
        assert!(pick("it stops all the time", &order).is_empty());
        assert!(pick("no idea", &order).is_empty());
    }

    #[test]
    fn a_whole_label_beats_a_shared_word_and_sizes_have_their_names() {
        let options = ["blue 9", "white 9", "black 9", "white 10"];
        assert_eq!(pick("white 10", &options), ["v4"]);
        assert_eq!(pick("a 9", &options), ["v1", "v2", "v3"]);
        let headphones = ["black in-ear", "silver in-ear", "silver over-ear"];
        assert_eq!(pick("silver over-ear", &headphones), ["v3"]);
        let backpacks = ["navy small", "olive small", "grey large", "navy large"];
        assert_eq!(
            pick("too small, I'd like the large grey one instead", &backpacks),
            ["v3"]
        );
        let shirts = ["red M", "red L", "blue S"];
        assert_eq!(pick("the red one in medium", &shirts), ["v1"]);
        let mats = ["Yoga Mat", "Yoga Mat", "Office Chair"];
        assert_eq!(pick("the yoga mats", &mats), ["v1", "v2"]);
    }
}
