//! Response and argument templates: `Order {order_id} is {order.status}.` Names are slots,
//! action results and a few built-ins, dotted into JSON values. `{{` and `}}` are literal braces.

use serde_json::{Map, Value};

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Name(Vec<String>),
}

impl Template {
    /// Parse, or say what is wrong.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed `{{` in `{source}`")),
                        }
                    }
                    let path: Vec<String> = name
                        .trim()
                        .split('.')
                        .map(|s| s.trim().to_string())
                        .collect();
                    if path.iter().any(|p| {
                        p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }) {
                        return Err(format!("`{{{name}}}` is not a name (use letters, digits, _ and dots) in `{source}`"));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Name(path));
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` in `{source}` (write `}}}}` for a literal brace)"
                    ))
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    /// The top-level names it uses.
    pub fn names(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Name(path) => Some(path[0].as_str()),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// If the template is exactly one `{name}`, the JSON value it names (keeps lists and
    /// numbers typed when used as action arguments).
    pub fn lone_value(&self, scope: &Map<String, Value>) -> Option<Value> {
        match self.parts.as_slice() {
            [Part::Name(path)] => Some(lookup(scope, path).cloned().unwrap_or(Value::Null)),
            _ => None,
        }
    }

    /// Render; missing names render as empty text.
    pub fn render(&self, scope: &Map<String, Value>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Name(path) => {
                    out.push_str(&display(lookup(scope, path).unwrap_or(&Value::Null)))
                }
            }
        }
        out
    }
}

fn lookup<'a>(scope: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let mut value = scope.get(&path[0])?;
    for key in &path[1..] {
        value = match value {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// How a value reads in a sentence.
pub fn display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "yes".into()
            } else {
                "no".into()
            }
        }
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:.2}"),
            _ => n.to_string(),
        },
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_names_paths_and_literal_braces() {
        let scope = json!({"order_id": "#W1", "order": {"status": "pending", "total": 12.5, "items": [{"name": "Mug"}]}, "ids": ["a", "b"], "n": 3})
            .as_object()
            .unwrap()
            .clone();
        let t = Template::parse("Order {order_id} is {order.status} ({order.total}, {n} items, first {order.items.0.name}) {{ok}}").unwrap();
        assert_eq!(
            t.render(&scope),
            "Order #W1 is pending (12.50, 3 items, first Mug) {ok}"
        );
        assert_eq!(t.names(), ["order_id", "order", "order", "n", "order"]);
        assert_eq!(
            Template::parse("{ids}").unwrap().lone_value(&scope),
            Some(json!(["a", "b"]))
        );
        assert_eq!(Template::parse("x {ids}").unwrap().lone_value(&scope), None);
        assert_eq!(
            Template::parse("{missing.thing}!").unwrap().render(&scope),
            "!"
        );
        assert!(Template::parse("{oops").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a } b").unwrap_err().contains("unmatched"));
        assert!(Template::parse("{not a name}")
            .unwrap_err()
            .contains("is not a name"));
    }
}
