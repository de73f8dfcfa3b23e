//! Wording as content: what the agent says outside any flow's own prompts and responses
//! (repair, small talk, the reply when nothing could be acted on, the hints of a question asked
//! again). The built-in English is `flows/locales/en.yaml`, compiled in; a deployment's
//! `<flows dir>/locales/<locale>.yaml` replaces any of its keys, and keys it leaves out keep
//! the built-in text. Unknown keys and unknown placeholders are refused at `file:line`, so
//! `frontline flows check` catches a typo before a customer sees it.

use crate::load::Diagnostic;
use crate::template::Template;
use crate::yaml::{self, Position};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built-in English, as shipped in `flows/locales/en.yaml`.
pub const BUILTIN: &str = include_str!("../../../flows/locales/en.yaml");

/// The locale the built-in wording is in, and the one a deployment's file is read for.
pub const DEFAULT_LOCALE: &str = "en";

/// Every key, with the placeholders its text may use.
pub const KEYS: &[(&str, &[&str])] = &[
    ("not_understood", &["capabilities"]),
    ("greeting", &[]),
    ("greeting_named", &["name"]),
    ("thanks", &[]),
    ("goodbye", &[]),
    ("list_or", &[]),
    ("cancelled", &["flow"]),
    ("resumed", &["flow"]),
    ("queued", &["flow"]),
    ("next_request", &["flow"]),
    ("offer_flow", &["flow"]),
    ("clarify", &["options"]),
    ("clarify_joiner", &[]),
    ("didnt_catch", &[]),
    ("which_offer", &[]),
    ("confirm_declined", &[]),
    ("already_done", &["slot"]),
    ("changed", &["slot", "value"]),
    ("backend_error", &[]),
    ("cannot_solve", &[]),
    ("process_changed", &[]),
    ("agent_error", &[]),
    ("ack_frustration", &[]),
    ("ack_circles", &[]),
    ("code_prompt", &[]),
    ("code_digits", &["digits"]),
    ("code_wrong", &[]),
    ("code_message", &["code", "minutes"]),
    ("code_subject", &[]),
    ("code_sent", &["minutes"]),
    ("code_none_resend", &[]),
    ("code_used_resend", &[]),
    ("code_expired_resend", &[]),
    ("code_wrong_retry", &[]),
    ("code_locked", &["minutes"]),
    ("handoff_notice", &["when"]),
    ("handoff_when_open", &["where", "within"]),
    ("handoff_when_away", &["day", "time", "zone", "where"]),
    ("day_today", &[]),
    ("day_tomorrow", &[]),
    ("day_on", &["weekday"]),
    ("where_chat", &[]),
    ("where_email", &[]),
    ("where_sms", &[]),
    ("where_whatsapp", &[]),
    ("where_messenger", &[]),
    ("where_telegram", &[]),
    ("hint_options", &["options"]),
    ("hint_choices", &["choices"]),
    ("hint_list", &[]),
    ("hint_yes_no", &[]),
    ("hint_email", &[]),
    ("hint_phone", &[]),
    ("hint_date", &[]),
    ("hint_number", &[]),
    ("hint_money", &[]),
    ("hint_needed", &["what"]),
    ("hint_needed_unnamed", &[]),
    ("offers_one_how", &[]),
    ("offers_many_how", &[]),
    ("survey_csat", &[]),
    ("survey_effort", &[]),
    ("survey_how_digits", &[]),
    ("survey_how_tap", &[]),
    ("survey_how_links", &["links"]),
    ("survey_thanks", &[]),
    ("survey_thanks_low", &[]),
    ("survey_subject", &[]),
    ("knowledge_in_default", &[]),
    ("source", &[]),
    ("language_switched", &[]),
];

/// The wording of one locale: every key of [`KEYS`] has a text.
#[derive(Clone, Debug)]
pub struct Wording {
    texts: BTreeMap<&'static str, Template>,
}

impl Default for Wording {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Wording {
    /// The built-in English.
    pub fn builtin() -> Self {
        let texts = parse(Path::new("flows/locales/en.yaml"), BUILTIN)
            .expect("the built-in wording is checked by its tests");
        let wording = Wording {
            texts: texts.into_iter().map(|(k, (_, t))| (k, t)).collect(),
        };
        debug_assert_eq!(
            wording.texts.len(),
            KEYS.len(),
            "every key has a built-in text"
        );
        wording
    }

    /// The built-in wording with `<dir>/locales/<locale>.yaml` over it, when that file exists.
    pub fn load(dir: &Path, locale: &str) -> Result<Self, Vec<Diagnostic>> {
        let mut wording = Self::builtin();
        wording.overlay(dir, locale)?;
        Ok(wording)
    }

    /// The wording of another locale than the default: the default's (as [`Wording::load`]
    /// reads it) with `<dir>/locales/<locale>.yaml` over it, and the keys that file leaves out
    /// (said in the default locale), each at the file's first line.
    pub fn load_translation(
        dir: &Path,
        locale: &str,
    ) -> Result<(Self, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut wording = Self::load(dir, DEFAULT_LOCALE)?;
        let given = wording.overlay(dir, locale)?;
        let file = dir.join("locales").join(format!("{locale}.yaml"));
        let missing = KEYS
            .iter()
            .filter(|(key, _)| !given.contains(key))
            .map(|(key, _)| Diagnostic {
                file: file.clone(),
                position: Position { line: 1, col: 1 },
                message: format!(
                    "{locale}: no translation of wording key `{key}` (see flows/locales/en.yaml)"
                ),
                pointer: String::new(),
            })
            .collect();
        Ok((wording, missing))
    }

    /// Put `<dir>/locales/<locale>.yaml`'s texts over these; the keys it gave.
    fn overlay(&mut self, dir: &Path, locale: &str) -> Result<Vec<&'static str>, Vec<Diagnostic>> {
        let file = dir.join("locales").join(format!("{locale}.yaml"));
        let Ok(source) = std::fs::read_to_string(&file) else {
            return Ok(vec![]);
        };
        let mut given = Vec::new();
        for (key, (_, text)) in parse(&file, &source)? {
            self.texts.insert(key, text);
            given.push(key);
        }
        Ok(given)
    }

    /// The text of `key` with `vars` filled in.
    pub fn say(&self, key: &str, vars: &[(&str, &str)]) -> String {
        let scope: Map<String, Value> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        self.texts
            .get(key)
            .map(|t| t.render(&scope))
            .unwrap_or_else(|| {
                debug_assert!(false, "wording key `{key}` is not in KEYS");
                String::new()
            })
    }

    /// `items` as a sentence lists them: "a, b or c".
    pub fn list(&self, items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} {} {last}", rest.join(", "), self.say("list_or", &[])),
        }
    }
}

/// Read a locale file: every problem at `file:line:col`.
fn parse(
    file: &Path,
    source: &str,
) -> Result<BTreeMap<&'static str, (Position, Template)>, Vec<Diagnostic>> {
    let at = |position: Position, message: String, pointer: &str| Diagnostic {
        file: PathBuf::from(file),
        position,
        message,
        pointer: pointer.to_string(),
    };
    let located = yaml::parse(source).map_err(|e| {
        vec![at(
            Position {
                line: e.position_line,
                col: e.position_col,
            },
            e.message,
            "",
        )]
    })?;
    let Value::Object(entries) = &located.value else {
        return Err(vec![at(
            located.position(""),
            "a locale file is a mapping of keys to texts".into(),
            "",
        )]);
    };
    let mut texts = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in entries {
        let pointer = format!("/{key}");
        let position = located.position(&pointer);
        let Some((known, placeholders)) = KEYS.iter().find(|(k, _)| k == key) else {
            let mut near: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            near.sort_by_key(|k| strsim_distance(k, key));
            problems.push(at(
                position,
                format!(
                    "unknown wording key `{key}` (did you mean `{}`? known keys are listed in flows/locales/en.yaml)",
                    near[0]
                ),
                &pointer,
            ));
            continue;
        };
        let Value::String(text) = value else {
            problems.push(at(position, format!("`{key}` must be a text"), &pointer));
            continue;
        };
        match Template::parse(text) {
            Ok(template) => {
                let unknown: Vec<&str> = template
                    .names()
                    .into_iter()
                    .filter(|n| !placeholders.contains(n))
                    .collect();
                if unknown.is_empty() {
                    texts.insert(*known, (position, template));
                } else {
                    problems.push(at(
                        position,
                        format!(
                            "`{key}` uses {{{}}}, which it is never given (it may use: {})",
                            unknown.join("}, {"),
                            if placeholders.is_empty() {
                                "nothing".to_string()
                            } else {
                                format!("{{{}}}", placeholders.join("}, {"))
                            }
                        ),
                        &pointer,
                    ));
                }
            }
            Err(message) => problems.push(at(position, message, &pointer)),
        }
    }
    if problems.is_empty() {
        Ok(texts)
    } else {
        Err(problems)
    }
}

/// Edit distance between two short keys, for "did you mean".
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_wording_has_every_key_and_only_known_placeholders() {
        let texts = parse(Path::new("flows/locales/en.yaml"), BUILTIN).unwrap();
        let missing: Vec<&str> = KEYS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !texts.contains_key(k))
            .collect();
        assert!(missing.is_empty(), "missing from en.yaml: {missing:?}");
        let wording = Wording::builtin();
        assert_eq!(
            wording.say("greeting_named", &[("name", "Ada")]),
            "Hi Ada! How can I help?"
        );
        assert_eq!(
            wording.list(&["a".into(), "b".into(), "c".into()]),
            "a, b or c"
        );
    }

    #[test]
    fn a_deployment_replaces_keys_and_typos_are_refused_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("locales")).unwrap();
        let file = dir.path().join("locales/en.yaml");
        std::fs::write(&file, "thanks: \"Cheers, {name}!\"\n").unwrap();
        let problems = Wording::load(dir.path(), "en").unwrap_err();
        assert_eq!(problems.len(), 1);
        let shown = problems[0].to_string();
        assert!(
            shown.contains("en.yaml:1:")
                && shown.contains("`thanks` uses {name}, which it is never given"),
            "{shown}"
        );

        std::fs::write(&file, "# ours\ngreting: Hello!\n").unwrap();
        let shown = Wording::load(dir.path(), "en").unwrap_err()[0].to_string();
        assert!(
            shown.contains("en.yaml:2:")
                && shown.contains("unknown wording key `greting` (did you mean `greeting`?"),
            "{shown}"
        );

        std::fs::write(&file, "thanks: Cheers!\n").unwrap();
        let wording = Wording::load(dir.path(), "en").unwrap();
        assert_eq!(wording.say("thanks", &[]), "Cheers!");
        // What the file leaves out keeps the built-in text; no file at all is the built-in.
        assert_eq!(
            wording.say("goodbye", &[]),
            Wording::builtin().say("goodbye", &[])
        );
        assert_eq!(
            Wording::load(dir.path(), "de").unwrap().say("thanks", &[]),
            Wording::builtin().say("thanks", &[])
        );
    }
}
