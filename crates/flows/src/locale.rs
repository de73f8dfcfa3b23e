//! Flows in other languages. `<flows dir>/locales/<locale>/<flow id>.yaml` gives one flow's
//! customer-facing texts in `<locale>`, in the shape of the flow file itself:
//!
//! ```yaml
//! description: Consultar dónde está un pedido.
//! examples: ["¿dónde está mi pedido?"]     # for the router of conversations not in the default locale
//! keywords: ["dónde está"]                  # added to the flow's keywords
//! slots:
//!   order_id:
//!     prompt: "¿Qué pedido reviso?"
//!     candidates: {one: "¿Es el pedido {candidate}?", many: "¿Sobre qué pedido?"}
//!     values: {gift_card: [tarjeta regalo]}  # synonyms added to an enum slot's values
//! responses:
//!   no_orders: "Todavía no veo pedidos en su cuenta."
//! ```
//!
//! The texts are the flow's `description`, each slot's `prompt`, `reprompt`, rejection
//! `message`s and candidates' `one`/`many`, and its `responses`; a slot whose prompt is `-`
//! (filled by the flow, never asked) has none. The candidates' `from` and `others` (CEL
//! building the labels) may be given too, but are not required. A key that is not one of the
//! flow's texts is refused at `file:line:col`; a text the translation leaves out is said in the
//! default locale, and [`missing`] lists it for `frontline flows check`.

use crate::load::{Diagnostic, SourceFlow};
use crate::spec::FlowSpec;
use crate::yaml::{self, Located, Position};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One flow's translation into one locale.
#[derive(Debug)]
pub struct Translation {
    /// The locale (`es`, `de`, …).
    pub locale: String,
    /// The flow it translates.
    pub flow: String,
    /// Its file.
    pub file: PathBuf,
    located: Located,
}

impl Translation {
    fn at(&self, pointer: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            position: self.located.position(pointer),
            message,
            pointer: pointer.to_string(),
        }
    }
}

/// The locales `<dir>/locales` holds besides `default`: each folder of flow translations and
/// each `<locale>.yaml` wording file, sorted.
pub fn locales(dir: &Path, default: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("locales")) else {
        return vec![];
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            if p.is_dir() {
                p.file_name()?.to_str().map(str::to_string)
            } else if p.extension().and_then(|e| e.to_str()) == Some("yaml") {
                p.file_stem()?.to_str().map(str::to_string)
            } else {
                None
            }
        })
        .filter(|l| l != default && is_locale_code(l))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `es`, `de`, `pt-BR`, `fr_CA`.
fn is_locale_code(s: &str) -> bool {
    let mut parts = s.split(['-', '_']);
    let lang = parts.next().unwrap_or_default();
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (2..=4).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Read `<dir>/locales/<locale>/*.yaml`: every problem at `file:line:col`.
pub fn read(dir: &Path, locale: &str) -> Result<Vec<Translation>, Vec<Diagnostic>> {
    let folder = dir.join("locales").join(locale);
    if !folder.is_dir() {
        return Ok(vec![]);
    }
    let files = crate::load::flow_files(&folder).map_err(|e| {
        vec![Diagnostic {
            file: folder.clone(),
            position: Position { line: 1, col: 1 },
            message: format!("cannot read: {e}"),
            pointer: String::new(),
        }]
    })?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let at = |position: Position, message: String| Diagnostic {
            file: file.clone(),
            position,
            message,
            pointer: String::new(),
        };
        let source = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                problems.push(at(
                    Position { line: 1, col: 1 },
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        match yaml::parse(&source) {
            Ok(located) if located.value.is_object() => out.push(Translation {
                locale: locale.to_string(),
                flow: file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string(),
                file: file.clone(),
                located,
            }),
            Ok(located) => problems.push(at(
                located.position(""),
                "a flow's translation is a mapping in the shape of the flow file".into(),
            )),
            Err(e) => problems.push(at(
                Position {
                    line: e.position_line,
                    col: e.position_col,
                },
                format!("YAML syntax: {}", e.message),
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The pointers of a flow's texts (`/description`, `/slots/order_id/prompt`, …) with the text.
pub fn texts(spec: &FlowSpec) -> Vec<(String, &str)> {
    let mut out = vec![("/description".to_string(), spec.description.as_str())];
    for (name, slot) in &spec.slots {
        if slot.prompt.trim() == "-" {
            continue;
        }
        let at = |field: &str| format!("/slots/{}/{field}", yaml::escape(name));
        out.push((at("prompt"), slot.prompt.as_str()));
        if let Some(r) = &slot.reprompt {
            out.push((at("reprompt"), r.as_str()));
        }
        for (i, rejection) in slot.rejections.iter().enumerate() {
            out.push((
                at(&format!("rejections/{i}/message")),
                rejection.message.as_str(),
            ));
        }
        if let Some(c) = &slot.candidates {
            out.push((at("candidates/one"), c.one.as_str()));
            out.push((at("candidates/many"), c.many.as_str()));
        }
    }
    for (id, text) in &spec.responses {
        out.push((format!("/responses/{}", yaml::escape(id)), text.as_str()));
    }
    out
}

/// Pointers a translation may set that are not required of it.
fn optional(pointer: &str) -> bool {
    pointer.starts_with("/slots/")
        && (pointer.ends_with("/candidates/from") || pointer.ends_with("/candidates/others"))
}

/// The leaves of a translation: strings, and lists of strings (examples, keywords, synonyms).
fn leaves(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, format!("{pointer}/{}", yaml::escape(k)), out);
            }
        }
        Value::Array(items) if !items.iter().all(Value::is_string) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{pointer}/{i}"), out);
            }
        }
        _ => out.push((pointer, value.clone())),
    }
}

/// What a translation adds to routing: examples, keywords and enum synonyms, in every locale.
#[derive(Debug, Default)]
pub struct RoutingWords {
    /// Examples to add.
    pub examples: Vec<String>,
    /// Keywords to add.
    pub keywords: Vec<String>,
    /// Slot → value → synonyms to add.
    pub synonyms: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl RoutingWords {
    /// Add these to `spec`.
    pub fn extend(&self, spec: &mut FlowSpec) {
        spec.translated_examples
            .extend(self.examples.iter().cloned());
        spec.keywords.extend(self.keywords.iter().cloned());
        for (slot, values) in &self.synonyms {
            if let Some(s) = spec.slots.get_mut(slot) {
                for (value, synonyms) in values {
                    if let Some(list) = s.values.get_mut(value) {
                        list.extend(synonyms.iter().cloned());
                    }
                }
            }
        }
    }
}

/// `source` in the translation's words, and what the translation adds to routing (which the
/// caller adds to the flow in every locale); every key that is not one of the flow's texts is a
/// problem at `file:line:col`.
pub fn apply(
    source: &SourceFlow,
    translation: &Translation,
) -> Result<(FlowSpec, RoutingWords), Vec<Diagnostic>> {
    let known: BTreeMap<String, &str> = texts(&source.spec).into_iter().collect();
    let mut spec = serde_json::to_value(&source.spec).expect("a flow spec is JSON");
    let mut routing = RoutingWords::default();
    let mut problems = Vec::new();
    let mut found = Vec::new();
    leaves(&translation.located.value, String::new(), &mut found);
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    for (pointer, value) in found {
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["examples"] | ["keywords"] => match strings(&value) {
                Some(list) if parts[0] == "examples" => routing.examples.extend(list),
                Some(list) => routing.keywords.extend(list),
                None => problems
                    .push(translation.at(&pointer, format!("`{}` is a list of texts", parts[0]))),
            },
            ["slots", slot, "values", value_name] => {
                let slot_name = unescape(slot);
                let value_name = unescape(value_name);
                let known_value = source
                    .spec
                    .slots
                    .get(&slot_name)
                    .is_some_and(|s| s.values.contains_key(&value_name));
                match strings(&value) {
                    Some(list) if known_value => {
                        routing
                            .synonyms
                            .entry(slot_name)
                            .or_default()
                            .entry(value_name)
                            .or_default()
                            .extend(list);
                    }
                    Some(_) => problems.push(translation.at(
                        &pointer,
                        format!(
                            "flow `{}` has no slot `{slot_name}` with the value `{value_name}`",
                            source.spec.id
                        ),
                    )),
                    None => problems
                        .push(translation.at(&pointer, "synonyms are a list of texts".into())),
                }
            }
            _ if known.contains_key(&pointer) || optional(&pointer) => {
                let Value::String(text) = value else {
                    problems.push(translation.at(&pointer, "a translation is a text".into()));
                    continue;
                };
                match spec.pointer_mut(&pointer) {
                    Some(slot) => *slot = Value::String(text),
                    None => problems.push(translation.at(
                        &pointer,
                        format!(
                            "flow `{}` has nothing to translate at `{}`",
                            source.spec.id,
                            dotted(&pointer)
                        ),
                    )),
                }
            }
            _ => problems.push(translation.at(
                &pointer,
                format!(
                    "`{}` is not one of flow `{}`'s texts (those are: {})",
                    dotted(&pointer),
                    source.spec.id,
                    known.keys().map(|k| dotted(k)).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let spec: FlowSpec = serde_json::from_value(spec).map_err(|e| {
        vec![translation.at("", format!("the translated flow does not read back: {e}"))]
    })?;
    Ok((spec, routing))
}

/// The flow's texts a translation leaves out, each at the line of the default text in the flow
/// file and naming the translation's file.
pub fn missing(
    source: &SourceFlow,
    translation: Option<&Translation>,
    locale: &str,
    dir: &Path,
) -> Vec<Diagnostic> {
    let file = translation.map(|t| t.file.clone()).unwrap_or_else(|| {
        dir.join("locales")
            .join(locale)
            .join(format!("{}.yaml", source.spec.id))
    });
    texts(&source.spec)
        .into_iter()
        .filter(|(pointer, _)| {
            translation.is_none_or(|t| t.located.value.pointer(pointer).is_none())
        })
        .map(|(pointer, _)| {
            source.diagnostic(
                &pointer,
                format!(
                    "{locale}: no translation of `{}` in {}",
                    dotted(&pointer),
                    file.display()
                ),
            )
        })
        .collect()
}

/// `/slots/order_id/prompt` → `slots.order_id.prompt`.
pub fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(unescape)
        .collect::<Vec<_>>()
        .join(".")
}

fn unescape(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}
