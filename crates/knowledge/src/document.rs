//! Markdown documents with optional front matter (`title`, `tags`, `locale`, `audience`).
//! A broken file is skipped with a warning naming it, never a crash.

use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// One article.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Its path relative to the knowledge folder (`returns-policy.md`): its identity.
    pub path: String,
    /// Front matter `title`, else the first `# heading`, else the file name.
    pub title: String,
    /// Front matter `tags`.
    pub tags: Vec<String>,
    /// Front matter `locale` (default `en`).
    pub locale: String,
    /// Front matter `audience` (default `customers`).
    pub audience: String,
    /// The markdown after the front matter.
    pub body: String,
}

/// Why a file was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The front matter is not valid YAML or has fields of the wrong type.
    #[error("{path}:{line}: front matter: {message}")]
    FrontMatter {
        /// The file.
        path: String,
        /// The line in the file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to index.
    #[error("{path}: empty document")]
    Empty {
        /// The file.
        path: String,
    },
    /// Not UTF-8, or unreadable.
    #[error("{path}: {message}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

impl DocumentError {
    /// The file skipped.
    pub fn path(&self) -> &str {
        match self {
            DocumentError::FrontMatter { path, .. }
            | DocumentError::Empty { path }
            | DocumentError::Unreadable { path, .. } => path,
        }
    }
}

/// Largest document read (bytes); larger files are skipped with a warning.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// Parse one markdown document; `path` is relative to the knowledge folder.
pub fn parse_document(path: &str, text: &str) -> Result<Document, DocumentError> {
    let (front, body) = split_front_matter(text);
    let mut doc = Document {
        path: path.to_string(),
        title: String::new(),
        tags: vec![],
        locale: "en".into(),
        audience: "customers".into(),
        body: body.to_string(),
    };
    if let Some(front) = front {
        let bad = |line: usize, message: String| DocumentError::FrontMatter {
            path: path.into(),
            line,
            message,
        };
        let docs = YamlLoader::load_from_str(front)
            .map_err(|e| bad(e.marker().line() + 1, e.info().to_string()))?;
        match docs.first() {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Hash(map)) => {
                for (key, value) in map {
                    let key = key.as_str().unwrap_or_default();
                    let text = |v: &Yaml| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad(2, format!("`{key}` must be text")))
                    };
                    match key {
                        "title" => doc.title = text(value)?,
                        "locale" => doc.locale = text(value)?,
                        "audience" => doc.audience = text(value)?,
                        "tags" => {
                            doc.tags = match value {
                                Yaml::Array(items) => {
                                    items.iter().map(text).collect::<Result<_, _>>()?
                                }
                                Yaml::String(s) => s
                                    .split(',')
                                    .map(|t| t.trim().to_string())
                                    .filter(|t| !t.is_empty())
                                    .collect(),
                                _ => return Err(bad(2, "`tags` must be a list".into())),
                            }
                        }
                        // Unknown keys are the authors' own metadata; keep going.
                        _ => {}
                    }
                }
            }
            Some(_) => return Err(bad(2, "front matter must be `key: value` lines".into())),
        }
    }
    if doc.body.trim().is_empty() {
        return Err(DocumentError::Empty { path: path.into() });
    }
    if doc.title.is_empty() {
        doc.title = doc
            .body
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| {
                Path::new(path)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or(path)
                    .replace(['-', '_'], " ")
            });
    }
    Ok(doc)
}

/// (front matter, body)
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    {
        for (offset, line) in line_offsets(rest) {
            if line.trim_end() == "---" {
                let front = &rest[..offset];
                let body = &rest[(offset + line.len()).min(rest.len())..];
                let body = body
                    .strip_prefix('\n')
                    .or_else(|| body.strip_prefix("\r\n"))
                    .unwrap_or(body);
                return (Some(front), body);
            }
        }
    }
    (None, text)
}

fn line_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |line| {
        let start = offset;
        offset += line.len();
        (start, line.trim_end_matches(['\n', '\r']))
    })
}

/// What reading a folder gave: the documents, and the files skipped with why.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Documents, by path.
    pub documents: Vec<Document>,
    /// Skipped files.
    pub warnings: Vec<DocumentError>,
}

/// Read every `*.md` below `dir` (except `README.md` files, which document the folder).
pub fn load_dir(dir: &Path) -> std::io::Result<Loaded> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut loaded = Loaded::default();
    for file in files {
        let relative = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                loaded.warnings.push(DocumentError::Unreadable {
                    path: relative,
                    message: e.to_string(),
                });
                continue;
            }
        };
        if bytes.len() > MAX_DOCUMENT_BYTES {
            loaded.warnings.push(DocumentError::Unreadable {
                path: relative,
                message: format!("larger than {MAX_DOCUMENT_BYTES} bytes"),
            });
            continue;
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                loaded.warnings.push(DocumentError::Unreadable {
                    path: relative,
                    message: format!("not UTF-8 text ({e})"),
                });
                continue;
            }
        };
        match parse_document(&relative, &text) {
            Ok(doc) => loaded.documents.push(doc),
            Err(e) => loaded.warnings.push(e),
        }
    }
    Ok(loaded)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md")
            && path.file_name().is_some_and(|n| n != "README.md")
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_defaults() {
        let doc = parse_document(
            "returns.md",
            "---\ntitle: Returns\ntags: [returns, refunds]\nlocale: fr\n---\n# Retours\n\nText.\n",
        )
        .unwrap();
        assert_eq!(
            (
                doc.title.as_str(),
                doc.locale.as_str(),
                doc.audience.as_str()
            ),
            ("Returns", "fr", "customers")
        );
        assert_eq!(doc.tags, ["returns", "refunds"]);
        assert!(doc.body.starts_with("# Retours"));
        let doc = parse_document("gift-cards.md", "# Gift cards\n\nNever expire.\n").unwrap();
        assert_eq!(doc.title, "Gift cards");
        let doc = parse_document("store-hours.md", "Open daily.\n").unwrap();
        assert_eq!(doc.title, "store hours");
    }

    #[test]
    fn broken_files_are_errors_that_name_them() {
        let err = parse_document("bad.md", "---\ntitle: [unclosed\n---\nText\n").unwrap_err();
        assert!(
            matches!(err, DocumentError::FrontMatter { ref path, .. } if path == "bad.md"),
            "{err}"
        );
        assert!(err.to_string().starts_with("bad.md:"), "{err}");
        let err = parse_document("tags.md", "---\ntags: {a: 1}\n---\nText\n").unwrap_err();
        assert!(err.to_string().contains("`tags` must be a list"), "{err}");
        assert_eq!(
            parse_document("empty.md", "---\ntitle: x\n---\n \n").unwrap_err(),
            DocumentError::Empty {
                path: "empty.md".into()
            }
        );
    }

    #[test]
    fn a_folder_loads_with_warnings_for_what_it_skips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.md"), "# A\n\nText.\n").unwrap();
        std::fs::write(dir.path().join("sub/b.md"), "# B\n\nText.\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "# About this folder\n").unwrap();
        std::fs::write(dir.path().join("empty.md"), "").unwrap();
        std::fs::write(dir.path().join("binary.md"), [0xff, 0xfe, 0x00]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let loaded = load_dir(dir.path()).unwrap();
        assert_eq!(
            loaded
                .documents
                .iter()
                .map(|d| d.path.as_str())
                .collect::<Vec<_>>(),
            ["a.md", "sub/b.md"]
        );
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("binary.md: not UTF-8")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w == "empty.md: empty document"),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_demo_knowledge_base_loads_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge");
        let loaded = load_dir(&dir).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert!(
            loaded.documents.len() >= 25,
            "{} articles",
            loaded.documents.len()
        );
        assert!(loaded
            .documents
            .iter()
            .all(|d| !d.title.is_empty() && !d.tags.is_empty()));
    }
}
