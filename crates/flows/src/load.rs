//! Reading flow files: YAML → JSON Schema → typed spec. Every problem becomes a [`Diagnostic`]
//! at `file:line:col`, and all of a file's problems are reported at once.

use crate::spec::{step_extra_keys, FlowSpec, STEP_KINDS};
use crate::yaml::{self, Located, Position};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The authoring schema, also shipped as `flows/schema.json`.
pub const SCHEMA: &str = include_str!("../../../flows/schema.json");

/// One problem in a flow file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub position: Position,
    /// What is wrong, and where possible what to do.
    pub message: String,
    /// The JSON pointer of the node at fault (empty for the whole file).
    pub pointer: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.position.line,
            self.position.col,
            self.message
        )?;
        if !self.pointer.is_empty() {
            write!(f, " (at {})", self.pointer)?;
        }
        Ok(())
    }
}

/// A flow with where it came from, for diagnostics after loading.
#[derive(Debug)]
pub struct SourceFlow {
    /// The flow.
    pub spec: FlowSpec,
    /// Its file.
    pub file: PathBuf,
    located: Located,
}

impl SourceFlow {
    /// The same file read as `spec` (a translation of it), its diagnostics still pointing here.
    pub fn with_spec(&self, spec: FlowSpec) -> SourceFlow {
        SourceFlow {
            spec,
            file: self.file.clone(),
            located: self.located.clone(),
        }
    }

    /// A diagnostic about the node at `pointer`.
    pub fn diagnostic(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            position: self.located.position(pointer),
            message: message.into(),
            pointer: pointer.to_string(),
        }
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("flows/schema.json is JSON");
        jsonschema::validator_for(&schema).expect("flows/schema.json is a valid JSON Schema")
    })
}

/// A clearer message than "not valid under any of the schemas" for a malformed step.
fn diagnose_step(step: &Value) -> Option<String> {
    let obj = step.as_object()?;
    let kinds: Vec<&str> = STEP_KINDS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    match kinds.as_slice() {
        [] => {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            Some(format!(
                "a step needs exactly one of: {} (found: {})",
                STEP_KINDS.join(", "),
                if keys.is_empty() {
                    "nothing".into()
                } else {
                    keys.join(", ")
                }
            ))
        }
        [kind] => {
            let allowed = step_extra_keys(kind);
            let extra: Vec<&str> = obj
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "id" && k != kind && !allowed.contains(k))
                .collect();
            if !extra.is_empty() {
                let mut allowed: Vec<&str> = vec!["id", kind];
                allowed.extend(step_extra_keys(kind));
                return Some(format!(
                    "`{}` is not allowed on a `{kind}` step (allowed: {})",
                    extra.join("`, `"),
                    allowed.join(", ")
                ));
            }
            if *kind == "if" && !obj.contains_key("then") {
                return Some("an `if` step needs `then`".into());
            }
            None
        }
        several => Some(format!(
            "a step does one thing, but this one has {}",
            several.join(" and ")
        )),
    }
}

/// Read a YAML document, check it against a JSON Schema and type it, every problem located at
/// `file:line:col`. `explain` may reword a schema error (return `None` to keep the schema's own
/// words). Flow files and eval suites are read this way.
pub fn parse_document<T: serde::de::DeserializeOwned>(
    file: &Path,
    source: &str,
    schema: &jsonschema::Validator,
    explain: &dyn Fn(&Located, &jsonschema::ValidationError<'_>) -> Option<String>,
) -> Result<(T, Located), Vec<Diagnostic>> {
    let at = |position: Position, message: String, pointer: &str| Diagnostic {
        file: file.to_path_buf(),
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
            format!("YAML syntax: {}", e.message),
            "",
        )]
    })?;
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for error in schema.iter_errors(&located.value) {
        let pointer = error.instance_path().as_str().to_string();
        let message = explain(&located, &error).unwrap_or_else(|| error.to_string());
        diagnostics.push(at(located.position(&pointer), message, &pointer));
    }
    if !diagnostics.is_empty() {
        diagnostics.sort();
        diagnostics.dedup();
        return Err(diagnostics);
    }
    let typed: T = serde_path_to_error::deserialize(&located.value).map_err(|e| {
        let pointer = path_to_pointer(&e.path().to_string());
        vec![at(
            located.position(&pointer),
            e.inner().to_string(),
            &pointer,
        )]
    })?;
    Ok((typed, located))
}

/// Parse one flow file's text.
pub fn parse_flow(file: &Path, source: &str) -> Result<SourceFlow, Vec<Diagnostic>> {
    let explain = |located: &Located, error: &jsonschema::ValidationError<'_>| {
        let is_step = matches!(
            error.kind(),
            jsonschema::error::ValidationErrorKind::OneOfNotValid { .. }
                | jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
        );
        is_step
            .then(|| {
                located
                    .value
                    .pointer(error.instance_path().as_str())
                    .and_then(diagnose_step)
            })
            .flatten()
    };
    let (spec, located): (FlowSpec, Located) = parse_document(file, source, validator(), &explain)?;
    let at = |position: Position, message: String, pointer: &str| Diagnostic {
        file: file.to_path_buf(),
        position,
        message,
        pointer: pointer.to_string(),
    };
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !stem.is_empty() && stem != spec.id {
        return Err(vec![at(
            located.position("/id"),
            format!(
                "flow id `{}` differs from its file name `{stem}`; rename one",
                spec.id
            ),
            "/id",
        )]);
    }
    Ok(SourceFlow {
        spec,
        file: file.to_path_buf(),
        located,
    })
}

/// serde_path_to_error's `steps[2].collect` → `/steps/2/collect`.
pub(crate) fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push('/');
            out.push_str(&yaml::escape(name));
        }
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(index);
        }
    }
    out
}

/// Every `*.yaml`/`*.yml` file directly in `dir`, sorted by name.
pub fn flow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Load every flow file in `dir`; all files' problems are reported together.
pub fn load_dir(dir: &Path) -> Result<Vec<SourceFlow>, Vec<Diagnostic>> {
    let io = |e: std::io::Error, file: &Path| Diagnostic {
        file: file.to_path_buf(),
        position: Position { line: 1, col: 1 },
        message: format!("cannot read: {e}"),
        pointer: String::new(),
    };
    let files = flow_files(dir).map_err(|e| vec![io(e, dir)])?;
    let mut flows = Vec::new();
    let mut diagnostics = Vec::new();
    for file in files {
        let source = match std::fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => {
                    diagnostics.push(Diagnostic {
                        file: file.clone(),
                        position: Position { line: 1, col: 1 },
                        message: format!("not UTF-8 text: {e}"),
                        pointer: String::new(),
                    });
                    continue;
                }
            },
            Err(e) => {
                diagnostics.push(io(e, &file));
                continue;
            }
        };
        match parse_flow(&file, &source) {
            Ok(flow) => flows.push(flow),
            Err(mut d) => diagnostics.append(&mut d),
        }
    }
    if diagnostics.is_empty() {
        Ok(flows)
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(source: &str) -> Vec<String> {
        parse_flow(Path::new("flows/demo.yaml"), source)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const HEAD: &str = "id: demo\ndescription: A demo.\ntier: transactional\n";

    #[test]
    fn a_valid_flow_parses() {
        let flow = parse_flow(
            Path::new("demo.yaml"),
            &format!("{HEAD}steps:\n  - respond: hi\nresponses:\n  hi: Hello!\n"),
        )
        .unwrap();
        assert_eq!(flow.spec.steps[0].respond.as_deref(), Some("hi"));
    }

    #[test]
    fn schema_errors_name_file_line_column_and_pointer() {
        let e = errors(&format!(
            "{HEAD}steps:\n  - collect: order_id\n  - colect: reason\n"
        ));
        assert_eq!(e, ["flows/demo.yaml:6:5: a step needs exactly one of: collect, action, set, if, respond, confirm, call, verify, link, escalate, end (found: colect) (at /steps/1)"]);

        let e = errors(&format!(
            "{HEAD}steps:\n  - collect: order_id\n    args: {{}}\n"
        ));
        assert_eq!(e, ["flows/demo.yaml:5:5: `args` is not allowed on a `collect` step (allowed: id, collect) (at /steps/0)"]);

        let e = errors(&format!("{HEAD}steps:\n  - collect: a\n    respond: b\n"));
        assert_eq!(e, ["flows/demo.yaml:5:5: a step does one thing, but this one has collect and respond (at /steps/0)"]);

        let e = errors("id: demo\ndescription: A demo.\ntier: urgent\nsteps:\n  - end: resolved\n");
        assert!(
            e[0].starts_with("flows/demo.yaml:3:7: ") && e[0].ends_with("(at /tier)"),
            "{e:?}"
        );

        let e = errors(&format!("{HEAD}steps:\n  - end: maybe\n"));
        assert!(
            e[0].starts_with("flows/demo.yaml:5:10:") && e[0].contains("/steps/0/end"),
            "{e:?}"
        );

        let e = errors("id: demo\ntier: transactional\nsteps:\n  - end: resolved\n");
        assert!(
            e[0].starts_with("flows/demo.yaml:1:1:") && e[0].contains("description"),
            "{e:?}"
        );

        let e = errors(&format!("{HEAD}slots:\n  reason:\n    type: enum\n    prompt: Why?\nsteps:\n  - end: resolved\n"));
        assert_eq!(
            e,
            ["flows/demo.yaml:5:3: \"values\" is a required property (at /slots/reason)"]
        );
    }

    #[test]
    fn yaml_syntax_and_naming_problems() {
        let e = errors("id: demo\nsteps: [\n");
        assert!(
            e[0].starts_with("flows/demo.yaml:") && e[0].contains("YAML syntax"),
            "{e:?}"
        );
        let e = errors("id: other\ndescription: x\ntier: complex\nsteps:\n  - end: resolved\n");
        assert_eq!(e, ["flows/demo.yaml:1:5: flow id `other` differs from its file name `demo`; rename one (at /id)"]);
        let e = errors("- just\n- a list\n");
        assert!(e[0].contains("flows/demo.yaml:1:1:"), "{e:?}");
    }

    #[test]
    fn paths_become_pointers() {
        assert_eq!(
            path_to_pointer("steps[2].then[0].collect"),
            "/steps/2/then/0/collect"
        );
        assert_eq!(path_to_pointer("."), "");
    }
}
