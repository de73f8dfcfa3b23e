//! Slot values: every value understanding proposes is checked against its slot's type and
//! normalised (enum synonyms → the canonical value, phones → E.164, order ids → `#W…`) before
//! the engine stores it. A value that does not fit is refused with a message, never stored.

use crate::compile::CompiledSlot;
use crate::expr::Expr;
use crate::spec::SlotType;
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
        // Given in words: every choice all of whose label words are mentioned (or its value),
        // or all of them.
        Value::String(text) => {
            let said = words(text);
            let everything = ["all", "everything", "both"]
                .iter()
                .any(|w| said.contains(*w));
            choices
                .iter()
                .filter(|(v, l)| {
                    let label = words(l);
                    // Plurals count: "the yoga mats" names "Yoga Mat".
                    let named = |w: &String| {
                        said.contains(w)
                            || said.contains(&format!("{w}s"))
                            || said.contains(&format!("{w}es"))
                    };
                    everything
                        || said.contains(&v.to_lowercase())
                        || (!label.is_empty() && label.iter().all(named))
                })
                .map(|(v, _)| v.clone())
                .collect()
        }
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

fn words(text: &str) -> std::collections::BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}
