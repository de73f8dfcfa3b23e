//! YAML to JSON with positions. Flow files are YAML, validated as JSON (JSON Schema) and then
//! typed (serde); every error in any of those stages must point at `file:line:col`. So the YAML
//! is read event by event and each node's position is kept, keyed by its JSON pointer.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// A YAML document as JSON, with the position of every node.
#[derive(Clone, Debug)]
pub struct Located {
    /// The document.
    pub value: Value,
    positions: HashMap<String, Position>,
}

impl Located {
    /// Where the node at a JSON pointer (`/steps/2/collect`) starts; for a pointer that does not
    /// exist (a missing property), where its nearest existing parent starts.
    pub fn position(&self, pointer: &str) -> Position {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Position { line: 1, col: 1 },
            }
        }
    }
}

/// A YAML syntax problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position_line}:{position_col}: {message}")]
pub struct YamlError {
    /// Line.
    pub position_line: usize,
    /// Column.
    pub position_col: usize,
    /// What is wrong.
    pub message: String,
}

fn pos(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

/// Escape a key for a JSON pointer (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

enum Frame {
    Seq {
        items: Vec<Value>,
        pointer: String,
    },
    Map {
        map: Map<String, Value>,
        pointer: String,
        key: Option<(String, Position)>,
        fix_on_first_key: bool,
    },
}

struct Builder {
    stack: Vec<Frame>,
    documents: usize,
    root: Option<Value>,
    positions: HashMap<String, Position>,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, at: Position, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                position_line: at.line,
                position_col: at.col,
                message,
            });
        }
    }

    /// The pointer the next node gets, or `None` if the next scalar is a mapping key.
    fn next_pointer(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { items, pointer }) => Some(format!("{pointer}/{}", items.len())),
            Some(Frame::Map {
                key: Some((k, _)),
                pointer,
                ..
            }) => Some(format!("{pointer}/{}", escape(k))),
            Some(Frame::Map { key: None, .. }) => None,
        }
    }

    fn push_value(&mut self, value: Value, at: Position) {
        let duplicate = match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                None
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                None
            }
            Some(Frame::Map { map, key, .. }) => {
                let (k, _) = key.take().expect("a key precedes every value");
                let seen = map.contains_key(&k);
                map.insert(k.clone(), value);
                seen.then_some(k)
            }
        };
        if let Some(k) = duplicate {
            self.fail(at, format!("duplicate key `{k}`"));
        }
    }
}

/// Resolve a plain scalar the YAML 1.2 core-schema way.
fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Number(i.into());
    }
    let numeric = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if numeric {
        if let Some(n) = s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = pos(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        at,
                        "more than one YAML document in the file (one flow per file)".into(),
                    );
                }
            }
            Event::Alias(_) => self.fail(
                at,
                "YAML aliases (*name) are not supported in flow files; write the value out".into(),
            ),
            Event::Scalar(text, style, _, _) => match self.next_pointer() {
                None => {
                    if let Some(Frame::Map {
                        key,
                        map,
                        pointer,
                        fix_on_first_key,
                    }) = self.stack.last_mut()
                    {
                        // Block mappings in lists are marked at their first `:`; their first
                        // key is where an author looks.
                        if map.is_empty() && *fix_on_first_key {
                            self.positions.insert(pointer.clone(), at);
                        }
                        *key = Some((text, at));
                    }
                }
                Some(pointer) => {
                    self.positions.insert(pointer, at);
                    let value = if style == TScalarStyle::Plain {
                        plain_scalar(&text)
                    } else {
                        Value::String(text)
                    };
                    self.push_value(value, at);
                }
            },
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let Some(pointer) = self.next_pointer() else {
                    self.fail(
                        at,
                        "a mapping key must be a plain value, not a list or mapping".into(),
                    );
                    return;
                };
                // A list or mapping under a key is best pointed at by that key.
                let key_position = match self.stack.last() {
                    Some(Frame::Map {
                        key: Some((_, key_at)),
                        ..
                    }) => Some(*key_at),
                    _ => None,
                };
                self.positions
                    .insert(pointer.clone(), key_position.unwrap_or(at));
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: vec![],
                        pointer,
                    }
                } else {
                    Frame::Map {
                        map: Map::new(),
                        pointer,
                        key: None,
                        fix_on_first_key: key_position.is_none(),
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let value = match self.stack.pop() {
                    Some(Frame::Seq { items, .. }) => Value::Array(items),
                    Some(Frame::Map { map, .. }) => Value::Object(map),
                    None => return,
                };
                self.push_value(value, at);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parse one YAML document.
pub fn parse(source: &str) -> Result<Located, YamlError> {
    let mut builder = Builder {
        stack: vec![],
        documents: 0,
        root: None,
        positions: HashMap::new(),
        error: None,
    };
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(YamlError {
            position_line: m.line(),
            position_col: m.col() + 1,
            message: e.info().to_string(),
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(Located {
        value: builder.root.unwrap_or(Value::Null),
        positions: builder.positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_and_their_positions() {
        let doc = parse("id: cancel_order\ncount: 3\nratio: 0.5\nflag: yes\nquoted: '42'\nsteps:\n  - collect: order_id\n  - end: resolved\nnone: ~\n").unwrap();
        assert_eq!(
            doc.value,
            json!({"id": "cancel_order", "count": 3, "ratio": 0.5, "flag": "yes", "quoted": "42",
                   "steps": [{"collect": "order_id"}, {"end": "resolved"}], "none": null})
        );
        assert_eq!(doc.position("/id"), Position { line: 1, col: 5 });
        assert_eq!(doc.position("/steps/1/end"), Position { line: 8, col: 10 });
        assert_eq!(doc.position("/steps/1"), Position { line: 8, col: 5 });
        // A missing property points at its parent.
        assert_eq!(
            doc.position("/steps/1/missing"),
            Position { line: 8, col: 5 }
        );
    }

    #[test]
    fn syntax_errors_duplicates_and_aliases_say_where() {
        let err = parse("id: x\nsteps: [a, b\n").unwrap_err();
        assert!(err.position_line >= 2, "{err}");
        let err = parse("id: x\nid: y\n").unwrap_err();
        assert_eq!(
            (err.position_line, err.message.as_str()),
            (2, "duplicate key `id`")
        );
        let err = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(err.message.contains("aliases"), "{err}");
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("more than one"), "{err}");
    }
}
