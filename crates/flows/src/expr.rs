//! Conditions and computed values in CEL (the Common Expression Language): small, safe, no side
//! effects, no loops. Flow authors write `order.status == "pending"` or
//! `days_since(order.delivered_on) <= 30`.

use cel_interpreter::{Context, ExecutionError, Program};
use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Functions frontline adds to CEL's standard ones.
pub const EXTRA_FUNCTIONS: [&str; 6] = [
    "days_since",
    "keys",
    "describe",
    "sum",
    "join",
    "short_date",
];

/// A compiled CEL expression.
#[derive(Debug)]
pub struct Expr {
    source: String,
    program: Program,
}

impl Expr {
    /// Compile, or say why not.
    pub fn compile(source: &str) -> Result<Expr, String> {
        // cel-parser panics on some malformed literals (an invalid escape such as `"\i"`, found
        // by the `condition` fuzz target): they are refused before it sees them.
        crate::literals::check(source)
            .map_err(|why| format!("`{source}` does not parse: it {why}"))?;
        let program =
            Program::compile(source).map_err(|e| format!("`{source}` does not parse: {e}"))?;
        Ok(Expr {
            source: source.to_string(),
            program,
        })
    }

    /// Its text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The top-level names it reads (`order` for `order.status`), without the variables that
    /// macros bind (`s` in `subs.exists(s, s.active)`).
    pub fn variables(&self) -> Vec<String> {
        static BOUND: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let bound = BOUND.get_or_init(|| {
            regex::Regex::new(
                r"\.(?:exists_one|exists|all|map|filter)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,",
            )
            .expect("pattern")
        });
        let bound: Vec<&str> = bound
            .captures_iter(&self.source)
            .map(|c| c.get(1).expect("group").as_str())
            .collect();
        let mut names: Vec<String> = self
            .program
            .references()
            .variables()
            .into_iter()
            .filter(|v| !bound.contains(v))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Evaluate over `scope` (names → JSON values); `today` feeds `days_since`.
    pub fn eval(&self, scope: &Map<String, Value>, today: NaiveDate) -> Result<Value, String> {
        let mut context = Context::default();
        for (name, value) in scope {
            context
                .add_variable(name.as_str(), value.clone())
                .map_err(|e| format!("cannot pass `{name}` to `{}`: {e}", self.source))?;
        }
        context.add_function(
            "days_since",
            move |date: Arc<String>| -> Result<i64, ExecutionError> {
                let day = NaiveDate::parse_from_str(date.get(..10).unwrap_or(&date), "%Y-%m-%d")
                    .map_err(|e| {
                        ExecutionError::function_error(
                            "days_since",
                            format!("`{date}` is not a date: {e}"),
                        )
                    })?;
                Ok((today - day).num_days())
            },
        );
        // The sum of a list of numbers (as a double); CEL has no fold.
        context.add_function(
            "sum",
            |list: cel_interpreter::Value| -> Result<cel_interpreter::Value, ExecutionError> {
                let cel_interpreter::Value::List(items) = list else {
                    return Err(ExecutionError::function_error("sum", "expects a list"));
                };
                let mut total = 0.0;
                for item in items.iter() {
                    total += match item {
                        cel_interpreter::Value::Int(i) => *i as f64,
                        cel_interpreter::Value::UInt(u) => *u as f64,
                        cel_interpreter::Value::Float(f) => *f,
                        other => {
                            return Err(ExecutionError::function_error(
                                "sum",
                                format!("{other:?} is not a number"),
                            ))
                        }
                    };
                }
                Ok(cel_interpreter::Value::Float(
                    (total * 100.0).round() / 100.0,
                ))
            },
        );
        // A map's values in key order, as words: `{"color": "blue", "size": "L"}` → "blue L".
        context.add_function(
            "describe",
            |map: cel_interpreter::Value| -> Result<cel_interpreter::Value, ExecutionError> {
                let cel_interpreter::Value::Map(map) = map else {
                    return Err(ExecutionError::function_error("describe", "expects a map"));
                };
                let mut pairs: Vec<(String, String)> = map
                    .map
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            match v {
                                cel_interpreter::Value::String(s) => s.to_string(),
                                other => format!("{other:?}"),
                            },
                        )
                    })
                    .collect();
                pairs.sort();
                Ok(cel_interpreter::Value::String(Arc::new(
                    pairs
                        .into_iter()
                        .map(|(_, v)| v)
                        .collect::<Vec<_>>()
                        .join(" "),
                )))
            },
        );
        // A list's items as text, separated: `join(["Kettle", "Lamp"], ", ")` → "Kettle, Lamp".
        context.add_function(
            "join",
            |list: cel_interpreter::Value,
             separator: Arc<String>|
             -> Result<cel_interpreter::Value, ExecutionError> {
                let cel_interpreter::Value::List(items) = list else {
                    return Err(ExecutionError::function_error("join", "expects a list"));
                };
                let words: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        cel_interpreter::Value::String(s) => s.to_string(),
                        cel_interpreter::Value::Int(i) => i.to_string(),
                        cel_interpreter::Value::Float(f) => f.to_string(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(cel_interpreter::Value::String(Arc::new(
                    words.join(separator.as_str()),
                )))
            },
        );
        // A date as customers say it: `short_date("2026-11-06")` → "6 Nov" (empty for none).
        context.add_function(
            "short_date",
            |date: cel_interpreter::Value| -> Result<cel_interpreter::Value, ExecutionError> {
                let text = match date {
                    cel_interpreter::Value::String(s) => s.to_string(),
                    cel_interpreter::Value::Null => String::new(),
                    other => {
                        return Err(ExecutionError::function_error(
                            "short_date",
                            format!("{other:?} is not a date"),
                        ))
                    }
                };
                let shown = NaiveDate::parse_from_str(text.get(..10).unwrap_or(&text), "%Y-%m-%d")
                    .map(|d| d.format("%-d %b").to_string())
                    .unwrap_or_default();
                Ok(cel_interpreter::Value::String(Arc::new(shown)))
            },
        );
        // CEL's macros do not iterate maps here; `keys(m)` gives a map's keys, sorted.
        context.add_function(
            "keys",
            |map: cel_interpreter::Value| -> Result<cel_interpreter::Value, ExecutionError> {
                let cel_interpreter::Value::Map(map) = map else {
                    return Err(ExecutionError::function_error("keys", "expects a map"));
                };
                let mut keys: Vec<cel_interpreter::Value> = map
                    .map
                    .keys()
                    .map(|k| cel_interpreter::Value::from(k.clone()))
                    .collect();
                keys.sort_by_key(|k| format!("{k:?}"));
                Ok(cel_interpreter::Value::List(Arc::new(keys)))
            },
        );
        // cel-interpreter 0.9 does integer arithmetic unchecked: `n / 0`, `n % 0` and
        // overflows panic (found by the `condition` fuzz target). A slot can be zero, so the
        // panic is contained here and becomes this expression's error.
        let executed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.program.execute(&context)
        }))
        .map_err(|_| {
            format!(
                "`{}` failed: integer arithmetic out of range (a division by zero or an overflow)",
                self.source
            )
        })?;
        let value = executed.map_err(|e| format!("`{}` failed: {e}", self.source))?;
        value
            .json()
            .map_err(|e| format!("`{}` gave a value that is not JSON: {e}", self.source))
    }

    /// Evaluate as a condition: anything but `true` is false, errors included (reported).
    pub fn holds(&self, scope: &Map<String, Value>, today: NaiveDate) -> Result<bool, String> {
        match self.eval(scope, today)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!(
                "`{}` is not true or false (it is {other})",
                self.source
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn integer_division_by_zero_is_an_error_not_a_panic() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let s = scope(json!({"n": 0, "total": 500}));
        for source in ["total % n == 0", "total / n > 1", "500 % 0 == 1"] {
            let err = Expr::compile(source).unwrap().eval(&s, today).unwrap_err();
            assert!(err.contains("division by zero"), "{source}: {err}");
        }
    }

    #[test]
    fn a_malformed_string_literal_is_an_error_not_a_panic() {
        // Found by the `condition` fuzz target: cel-parser panics on an invalid escape.
        let err = Expr::compile(r#"reason == "p\ing" && amount > 100"#).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
    }

    #[test]
    fn conditions_over_slots_and_results() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let s = scope(
            json!({"order": {"status": "delivered", "delivered_on": "2026-11-01", "total": 612.5}, "reason": null, "n": 3}),
        );
        let cases = [
            ("order.status == \"delivered\"", true),
            ("order.status in [\"pending\", \"processed\"]", false),
            ("days_since(order.delivered_on) <= 30", true),
            ("days_since(order.delivered_on) == 20", true),
            ("order.total > 500.0", true),
            ("n > 2 && reason == null", true),
            ("size(order.status) == 9", true),
        ];
        for (source, want) in cases {
            assert_eq!(
                Expr::compile(source).unwrap().holds(&s, today),
                Ok(want),
                "{source}"
            );
        }
        let e = Expr::compile("order.status ==").unwrap_err();
        assert!(e.contains("does not parse"), "{e}");
        let e = Expr::compile("missing == 1")
            .unwrap()
            .holds(&s, today)
            .unwrap_err();
        assert!(e.contains("missing"), "{e}");
        assert!(Expr::compile("order.total")
            .unwrap()
            .holds(&s, today)
            .unwrap_err()
            .contains("not true or false"));
        assert_eq!(
            Expr::compile("order.status == \"x\" || n > 1")
                .unwrap()
                .variables(),
            ["n", "order"]
        );
        let exists =
            Expr::compile("subs.exists(s, s.id == wanted && s.status != \"cancelled\")").unwrap();
        assert_eq!(exists.variables(), ["subs", "wanted"]);
        let subs = scope(
            json!({"subs": [{"id": "A", "status": "active"}, {"id": "B", "status": "cancelled"}], "wanted": "B"}),
        );
        assert_eq!(exists.holds(&subs, today), Ok(false));
        let methods = scope(
            json!({"pm": {"credit_card_1": {"source": "credit_card"}, "gift_card_2": {"source": "gift_card"}}}),
        );
        let first_gift_card =
            Expr::compile("keys(pm).filter(k, pm[k].source == \"gift_card\")[0]").unwrap();
        assert_eq!(
            first_gift_card.eval(&methods, today),
            Ok(json!("gift_card_2"))
        );
    }
}
