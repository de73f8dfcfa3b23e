//! Chunking: a document becomes passages that follow its heading structure and fit a token
//! budget (cl100k tokens, counted with tiktoken-rs), each remembering the headings above it and
//! carrying an id that changes only when its content does.

use crate::document::Document;
use sha2::{Digest, Sha256};
use tiktoken_rs::CoreBPE;

/// One passage of a document.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    /// Stable id: a hash of the document path and front matter, the heading path and the text
    /// (so editing a passage or its document's tags re-embeds it, and nothing else does).
    pub id: String,
    /// The document's path.
    pub document: String,
    /// The document's title.
    pub title: String,
    /// Headings above the passage, outermost first.
    pub heading_path: Vec<String>,
    /// URL anchor of the innermost heading (`#where-the-refund-goes`), for citations.
    pub anchor: String,
    /// The passage.
    pub text: String,
    /// Its length in tokens.
    pub tokens: usize,
    /// The document's locale (`en`, `fr-CA`, …), for filtering.
    pub locale: String,
    /// The document's tags, for filtering.
    pub tags: Vec<String>,
}

impl Chunk {
    /// What to embed: the title and headings give a short passage its context.
    pub fn embedding_text(&self) -> String {
        let mut path = vec![self.title.as_str()];
        path.extend(
            self.heading_path
                .iter()
                .map(String::as_str)
                .filter(|h| *h != self.title),
        );
        format!("{}\n\n{}", path.join(" > "), self.text)
    }
}

/// Splits documents into chunks.
pub struct Chunker {
    bpe: &'static CoreBPE,
    /// Largest chunk, in tokens.
    pub max_tokens: usize,
    /// Tokens repeated between the pieces of a paragraph too long for one chunk.
    pub overlap_tokens: usize,
}

impl Default for Chunker {
    fn default() -> Self {
        Self::new(256, 32)
    }
}

impl Chunker {
    /// A chunker with this budget (`overlap_tokens` is capped at half of `max_tokens`).
    pub fn new(max_tokens: usize, overlap_tokens: usize) -> Self {
        let max_tokens = max_tokens.max(16);
        Self {
            bpe: tiktoken_rs::cl100k_base_singleton(),
            max_tokens,
            overlap_tokens: overlap_tokens.min(max_tokens / 2),
        }
    }

    /// Tokens in `text`.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }

    /// Split a document.
    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for (headings, body) in sections(&doc.body) {
            let mut current = String::new();
            for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
                let candidate = if current.is_empty() {
                    paragraph.to_string()
                } else {
                    format!("{current}\n\n{paragraph}")
                };
                if self.count(&candidate) <= self.max_tokens {
                    current = candidate;
                    continue;
                }
                if !current.is_empty() {
                    chunks.push(self.make(doc, &headings, std::mem::take(&mut current)));
                }
                if self.count(paragraph) <= self.max_tokens {
                    current = paragraph.to_string();
                } else {
                    for piece in self.windows(paragraph) {
                        chunks.push(self.make(doc, &headings, piece));
                    }
                }
            }
            if !current.is_empty() {
                chunks.push(self.make(doc, &headings, current));
            }
        }
        chunks
    }

    /// A paragraph too long for one chunk, in overlapping token windows.
    fn windows(&self, text: &str) -> Vec<String> {
        let tokens = self.bpe.encode_ordinary(text);
        let step = self.max_tokens - self.overlap_tokens;
        let mut out = Vec::new();
        let mut start = 0;
        while start < tokens.len() {
            let end = (start + self.max_tokens).min(tokens.len());
            // Token boundaries may split a multi-byte character; decoding lossily keeps going.
            let piece = self.bpe.decode(&tokens[start..end]).unwrap_or_else(|_| {
                String::from_utf8_lossy(
                    &self
                        .bpe
                        .decode_bytes(&tokens[start..end])
                        .unwrap_or_default(),
                )
                .into_owned()
            });
            out.push(piece.trim().to_string());
            if end == tokens.len() {
                break;
            }
            start += step;
        }
        out
    }

    fn make(&self, doc: &Document, headings: &[String], text: String) -> Chunk {
        let mut hasher = Sha256::new();
        for part in [&doc.path, &doc.title, &doc.locale, &doc.tags.join("\u{1f}")] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(headings.join("\u{1f}").as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        let id = hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Chunk {
            id,
            document: doc.path.clone(),
            title: doc.title.clone(),
            anchor: headings
                .last()
                .map(|h| format!("#{}", slug(h)))
                .unwrap_or_default(),
            heading_path: headings.to_vec(),
            tokens: self.count(&text),
            text,
            locale: doc.locale.clone(),
            tags: doc.tags.clone(),
        }
    }
}

/// (heading path, text) for each part of a markdown body; headings inside code fences are text.
fn sections(body: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut text = String::new();
    let mut in_fence = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        let is_heading = !in_fence && (1..=6).contains(&level) && line[level..].starts_with(' ');
        if is_heading {
            if !text.trim().is_empty() {
                out.push((
                    path.iter().map(|(_, h)| h.clone()).collect(),
                    std::mem::take(&mut text),
                ));
            }
            text.clear();
            path.retain(|(l, _)| *l < level);
            path.push((level, line[level..].trim().to_string()));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !text.trim().is_empty() {
        out.push((path.iter().map(|(_, h)| h.clone()).collect(), text));
    }
    out
}

/// GitHub-style heading anchor.
pub fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() {
                Some(c)
            } else if c == ' ' || c == '-' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::parse_document;

    fn doc(body: &str) -> Document {
        parse_document(
            "returns-policy.md",
            &format!("---\ntitle: Returns policy\n---\n{body}"),
        )
        .unwrap()
    }

    #[test]
    fn chunks_follow_headings_and_keep_their_path() {
        let d = doc("# Returns policy\n\nIntro.\n\n## Where the refund goes\n\nTo the original method.\n\n### Gift cards\n\nImmediately.\n\n## Large orders\n\nSpecialists.\n");
        let chunks = Chunker::default().chunk(&d);
        let paths: Vec<Vec<&str>> = chunks
            .iter()
            .map(|c| c.heading_path.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec!["Returns policy"],
                vec!["Returns policy", "Where the refund goes"],
                vec!["Returns policy", "Where the refund goes", "Gift cards"],
                vec!["Returns policy", "Large orders"],
            ]
        );
        assert_eq!(chunks[1].anchor, "#where-the-refund-goes");
        assert_eq!(chunks[2].text, "Immediately.");
        assert_eq!(
            chunks[2].embedding_text(),
            "Returns policy > Where the refund goes > Gift cards\n\nImmediately."
        );
    }

    #[test]
    fn no_chunk_exceeds_the_budget_and_long_paragraphs_overlap() {
        let sentence = "Refunds to a gift card are immediate while card refunds take five to seven business days. ";
        let long = sentence.repeat(40);
        let d = doc(&format!(
            "# Refunds\n\n{long}\n\nShort closing paragraph.\n"
        ));
        let chunker = Chunker::new(64, 16);
        let chunks = chunker.chunk(&d);
        assert!(chunks.len() >= 5, "{}", chunks.len());
        for c in &chunks {
            assert!(c.tokens <= 64 + 1, "{} tokens", c.tokens);
        }
        // Consecutive windows share text.
        let tail: String = chunks[0]
            .text
            .chars()
            .rev()
            .take(20)
            .collect::<String>()
            .chars()
            .rev()
            .collect();
        assert!(
            chunks[1].text.contains(tail.trim()),
            "{:?} / {:?}",
            chunks[0].text,
            chunks[1].text
        );
        assert_eq!(chunks.last().unwrap().text, "Short closing paragraph.");
    }

    #[test]
    fn ids_are_stable_and_change_only_with_content() {
        let chunker = Chunker::default();
        let a = chunker.chunk(&doc("# A\n\nOne.\n\n## B\n\nTwo.\n"));
        let again = chunker.chunk(&doc("# A\n\nOne.\n\n## B\n\nTwo.\n"));
        assert_eq!(a, again);
        let edited = chunker.chunk(&doc("# A\n\nOne.\n\n## B\n\nTwo, edited.\n"));
        assert_eq!(a[0].id, edited[0].id, "the untouched section keeps its id");
        assert_ne!(a[1].id, edited[1].id);
        let moved = chunker.chunk(&doc("# A\n\nOne.\n\n## C\n\nTwo.\n"));
        assert_ne!(a[1].id, moved[1].id, "the heading path is part of the id");
        assert_eq!(a[0].id.len(), 32);
    }

    #[test]
    fn headings_in_code_fences_are_text() {
        let chunks = Chunker::default().chunk(&doc("# A\n\n```\n# not a heading\n```\n"));
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.contains("# not a heading"));
    }
}
