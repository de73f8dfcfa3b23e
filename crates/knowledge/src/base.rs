//! The knowledge base: ingest a folder of markdown into a [`VectorIndex`], search it with
//! hybrid retrieval, and answer with citations, or abstain when the evidence is weak.

use crate::chunk::{Chunk, Chunker};
use crate::document::{load_dir, DocumentError, Loaded};
use crate::embed::{EmbedError, Embedder};
use crate::index::{
    IndexError, IndexQuery, IndexedChunk, SearchFilter, SparseVector, StoredRef, VectorIndex,
};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the knowledge base could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The knowledge folder could not be read.
    #[error("knowledge folder {path}: {message}")]
    Folder {
        /// The folder.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Tunables, with defaults calibrated on the demo question set (`evals/knowledge`).
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeSettings {
    /// Largest chunk, in cl100k tokens.
    pub chunk_tokens: usize,
    /// Overlap between the windows of a paragraph longer than a chunk.
    pub overlap_tokens: usize,
    /// The relevance gate: below this cosine similarity between the question and the best
    /// passage, the knowledge base abstains.
    pub min_similarity: f32,
    /// Candidates each retriever (dense, BM25) contributes before fusion.
    pub candidates: usize,
    /// Texts per embedding call during ingest.
    pub batch_size: usize,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            chunk_tokens: 256,
            overlap_tokens: 32,
            min_similarity: DEFAULT_MIN_SIMILARITY,
            candidates: 20,
            batch_size: 32,
        }
    }
}

/// The gate's default, chosen on the demo question set (see `evals/knowledge/README.md`).
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.33;

/// Progress of an ingest, for a progress bar.
#[derive(Debug)]
pub enum IngestEvent<'a> {
    /// A file was skipped (and its chunks already indexed, if any, were kept).
    Skipped(&'a DocumentError),
    /// The plan is known: this many chunks to embed.
    Planned {
        /// Chunks to embed.
        to_embed: usize,
    },
    /// This many more chunks were embedded and stored.
    Embedded(usize),
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Documents read.
    pub files: usize,
    /// Files skipped, with why.
    pub skipped: Vec<String>,
    /// Chunks new to the index.
    pub added: usize,
    /// Chunks replaced because their section changed.
    pub updated: usize,
    /// Chunks removed (sections or documents gone).
    pub removed: usize,
    /// Chunks left as they were (not re-embedded).
    pub unchanged: usize,
    /// Tokens embedded.
    pub tokens: usize,
    /// Wall time.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files ({} skipped): {} chunks added, {} updated, {} removed, {} unchanged; {} tokens embedded in {:.1}s",
            self.files,
            self.skipped.len(),
            self.added,
            self.updated,
            self.removed,
            self.unchanged,
            self.tokens,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Where a passage comes from, as shown to the customer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Citation {
    /// Document title.
    pub title: String,
    /// The innermost heading, if any.
    pub section: Option<String>,
    /// Document path inside `knowledge/`.
    pub document: String,
    /// Heading anchor (`#refund-timing`).
    pub anchor: String,
}

impl Citation {
    /// The article's address in a help centre published at `base`: the document's path without
    /// `.md`, and the section's anchor (`https://help.shop.example/refund-timing#where-the-refund-goes`).
    pub fn url(&self, base: &str) -> String {
        let page = self.document.strip_suffix(".md").unwrap_or(&self.document);
        let anchor = if self.anchor.is_empty() || self.section.as_deref() == Some(&self.title) {
            String::new()
        } else if self.anchor.starts_with('#') {
            self.anchor.clone()
        } else {
            format!("#{}", self.anchor)
        };
        format!("{}/{page}{anchor}", base.trim_end_matches('/'))
    }
}

/// `text` with its `(Source: …)` naming one of `citations` made a markdown link to that article
/// in the help centre at `base` (each channel then renders the link its own way); unchanged when
/// it names none.
pub fn link_source(text: &str, citations: &[Citation], base: &str) -> String {
    for citation in citations {
        let named = format!("(Source: {citation})");
        if text.contains(&named) {
            let linked = format!("(Source: [{citation}]({}))", citation.url(base));
            return text.replacen(&named, &linked, 1);
        }
    }
    text.to_string()
}

impl std::fmt::Display for Citation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.section {
            Some(section) if *section != self.title => write!(f, "{} › {}", self.title, section),
            _ => write!(f, "{}", self.title),
        }
    }
}

/// One retrieved passage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Passage {
    /// Chunk id.
    pub chunk_id: String,
    /// The passage.
    pub text: String,
    /// Headings above it.
    pub heading_path: Vec<String>,
    /// Fused rank score (orders results of one query).
    pub score: f32,
    /// Cosine similarity to the question (what the gate reads).
    pub similarity: f32,
    /// Its source.
    pub citation: Citation,
}

impl From<crate::index::IndexHit> for Passage {
    fn from(hit: crate::index::IndexHit) -> Self {
        let Chunk {
            id,
            document,
            title,
            heading_path,
            anchor,
            text,
            ..
        } = hit.chunk;
        Passage {
            chunk_id: id,
            citation: Citation {
                title,
                section: heading_path.last().cloned(),
                document,
                anchor,
            },
            text,
            heading_path,
            score: hit.fused,
            similarity: hit.similarity,
        }
    }
}

/// Search results and the gate's verdict on them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResult {
    /// Passages, best first.
    pub passages: Vec<Passage>,
    /// The best similarity among them (0 when none).
    pub confidence: f32,
    /// Why the knowledge base would not answer from these passages, if it would not.
    pub abstain: Option<String>,
}

/// An answer, or a reasoned refusal to invent one.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// Grounded in the cited passages.
    Grounded {
        /// What to tell the customer (the source named at the end).
        text: String,
        /// Sources, best first.
        citations: Vec<Citation>,
        /// The gate's evidence.
        confidence: f32,
    },
    /// Not enough evidence: the caller clarifies or hands off.
    Abstain {
        /// Why.
        reason: String,
        /// The gate's evidence.
        confidence: f32,
    },
}

/// BM25 term vectors for documents and queries, with one language's stemming and stop words
/// (English by default).
pub struct Bm25 {
    model: EdgeBm25,
}

impl Default for Bm25 {
    fn default() -> Self {
        Self::for_language("english")
    }
}

/// The Snowball language of a locale's stemming and stop words (`es` → `spanish`); English for
/// a locale it has none for.
pub fn bm25_language(locale: &str) -> &'static str {
    match locale.split(['-', '_']).next().unwrap_or_default() {
        "es" => "spanish",
        "de" => "german",
        "fr" => "french",
        "it" => "italian",
        "pt" => "portuguese",
        "nl" => "dutch",
        _ => "english",
    }
}

impl Bm25 {
    /// BM25 with `language`'s (a Snowball name) stemming and stop words.
    pub fn for_language(language: &str) -> Self {
        let config = EdgeBm25Config {
            language: Some(language.into()),
            // Chunks are short passages, not 256-token pages.
            avg_len: qdrant_edge::external::ordered_float::NotNan::new(80.0).expect("a number"),
            ..Default::default()
        };
        Self {
            model: EdgeBm25::new(config).expect("the built-in BM25 settings are valid"),
        }
    }

    /// A passage's term weights.
    pub fn document(&self, text: &str) -> SparseVector {
        let v = self.model.embed_document(text);
        SparseVector {
            indices: v.indices,
            values: v.values,
        }
    }

    /// A question's terms.
    pub fn query(&self, text: &str) -> SparseVector {
        let v = self.model.embed_query(text);
        SparseVector {
            indices: v.indices,
            values: v.values,
        }
    }
}

/// The shared knowledge base.
pub struct KnowledgeBase {
    embedder: Arc<dyn Embedder>,
    index: Arc<dyn VectorIndex>,
    /// By Snowball language (`english`, `spanish`, …): a passage's terms are read in its
    /// locale's, a question's in the locale it is searched in.
    bm25: BTreeMap<&'static str, Bm25>,
    chunker: Chunker,
    settings: KnowledgeSettings,
    last_ingest: std::sync::Mutex<Option<(std::time::SystemTime, IngestReport)>>,
}

/// An indexed document, as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndexedDocument {
    /// Its path under the knowledge folder (the citation's document).
    pub path: String,
    /// Passages indexed from it.
    pub chunks: usize,
}

impl KnowledgeBase {
    /// A knowledge base over `index`, embedding with `embedder`.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        index: Arc<dyn VectorIndex>,
        settings: KnowledgeSettings,
    ) -> Self {
        Self {
            chunker: Chunker::new(settings.chunk_tokens, settings.overlap_tokens),
            embedder,
            index,
            bm25: [
                "english",
                "spanish",
                "german",
                "french",
                "italian",
                "portuguese",
                "dutch",
            ]
            .into_iter()
            .map(|l| (l, Bm25::for_language(l)))
            .collect(),
            settings,
            last_ingest: std::sync::Mutex::new(None),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    /// The index backend's name.
    pub fn backend(&self) -> &'static str {
        self.index.backend()
    }

    /// Bring the index in line with the markdown under `dir`: embed new and edited sections,
    /// remove deleted ones, leave the rest. Each document is written in one index write, so an
    /// interrupted ingest never leaves a document half-indexed. A file that cannot be read is
    /// skipped with a warning and its previously indexed chunks stay.
    pub async fn ingest(
        &self,
        dir: &Path,
        progress: &(dyn Fn(IngestEvent<'_>) + Send + Sync),
    ) -> Result<IngestReport, KnowledgeError> {
        let started = Instant::now();
        let loaded = load_dir(dir).map_err(|e| KnowledgeError::Folder {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        self.ingest_loaded(loaded, started, progress).await
    }

    /// [`KnowledgeBase::ingest`] for documents already read (from another source than a
    /// folder of markdown, such as a JSON export); documents absent here are removed.
    pub async fn ingest_documents(
        &self,
        loaded: Loaded,
        progress: &(dyn Fn(IngestEvent<'_>) + Send + Sync),
    ) -> Result<IngestReport, KnowledgeError> {
        self.ingest_loaded(loaded, Instant::now(), progress).await
    }

    async fn ingest_loaded(
        &self,
        loaded: Loaded,
        started: Instant,
        progress: &(dyn Fn(IngestEvent<'_>) + Send + Sync),
    ) -> Result<IngestReport, KnowledgeError> {
        let mut report = IngestReport {
            files: loaded.documents.len(),
            ..Default::default()
        };
        let mut kept_documents: BTreeSet<String> = BTreeSet::new();
        for warning in &loaded.warnings {
            tracing::warn!(%warning, "knowledge file skipped");
            progress(IngestEvent::Skipped(warning));
            report.skipped.push(warning.to_string());
            kept_documents.insert(warning.path().to_string());
        }
        let mut stored = self.index.stored().await?;

        // Per document: the chunks to embed and the ids to drop.
        let mut work: Vec<(Vec<Chunk>, Vec<StoredRef>)> = Vec::new();
        for doc in &loaded.documents {
            let before = stored.remove(&doc.path).unwrap_or_default();
            let known: BTreeSet<&str> = before.iter().map(|r| r.chunk_id.as_str()).collect();
            let chunks = self.chunker.chunk(doc);
            let current: BTreeSet<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
            let (fresh, same): (Vec<Chunk>, Vec<Chunk>) = chunks
                .iter()
                .cloned()
                .partition(|c| !known.contains(c.id.as_str()));
            report.unchanged += same.len();
            let stale: Vec<StoredRef> = before
                .into_iter()
                .filter(|r| !current.contains(r.chunk_id.as_str()))
                .collect();
            if !fresh.is_empty() || !stale.is_empty() {
                work.push((fresh, stale));
            }
        }
        // Documents gone from the folder (but not merely unreadable now).
        for (document, refs) in stored {
            if !kept_documents.contains(&document) {
                work.push((Vec::new(), refs));
            }
        }

        progress(IngestEvent::Planned {
            to_embed: work.iter().map(|(fresh, _)| fresh.len()).sum(),
        });
        let changed = !work.is_empty();
        // Small documents share embedding batches; each document is still written whole.
        let batch_size = self.settings.batch_size.max(1);
        let mut group: Vec<(Vec<Chunk>, Vec<StoredRef>)> = Vec::new();
        let mut grouped = 0;
        let mut work = work.into_iter().peekable();
        while let Some(item) = work.next() {
            grouped += item.0.len();
            group.push(item);
            let next_fits = work
                .peek()
                .is_some_and(|(fresh, _)| grouped + fresh.len() <= batch_size);
            if !next_fits {
                self.write_group(std::mem::take(&mut group), &mut report, progress)
                    .await?;
                grouped = 0;
            }
        }
        if changed {
            self.index.optimize().await?;
        }
        report.elapsed = started.elapsed();
        tracing::info!(%report, "knowledge ingested");
        *self.last_ingest.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::SystemTime::now(), report.clone()));
        Ok(report)
    }

    /// Embed a group of whole documents' new chunks in shared batches, then write them in one
    /// index write: new versions first, then the stale chunks go (a crash in between leaves
    /// both versions, which the next ingest cleans up; never neither, never half a document).
    async fn write_group(
        &self,
        group: Vec<(Vec<Chunk>, Vec<StoredRef>)>,
        report: &mut IngestReport,
        progress: &(dyn Fn(IngestEvent<'_>) + Send + Sync),
    ) -> Result<(), KnowledgeError> {
        let fresh: Vec<&Chunk> = group.iter().flat_map(|(f, _)| f).collect();
        let mut vectors = Vec::with_capacity(fresh.len());
        for batch in fresh.chunks(self.settings.batch_size.max(1)) {
            let texts: Vec<String> = batch.iter().map(|c| c.embedding_text()).collect();
            vectors.extend(self.embedder.embed(&texts).await?);
            progress(IngestEvent::Embedded(batch.len()));
        }
        let mut vectors = vectors.into_iter();
        let (mut points, mut stale_ids) = (Vec::new(), Vec::new());
        for (fresh, stale) in group {
            let stale_anchors: BTreeSet<&str> = stale.iter().map(|r| r.anchor.as_str()).collect();
            let updated = fresh
                .iter()
                .filter(|c| stale_anchors.contains(c.anchor.as_str()))
                .count()
                .min(stale.len());
            report.added += fresh.len() - updated;
            report.updated += updated;
            report.removed += stale.len() - updated;
            for (chunk, dense) in fresh.into_iter().zip(vectors.by_ref()) {
                report.tokens += chunk.tokens;
                points.push(IndexedChunk {
                    sparse: self
                        .bm25_of(&chunk.locale)
                        .document(&chunk.embedding_text()),
                    chunk,
                    dense,
                });
            }
            stale_ids.extend(stale.into_iter().map(|r| r.chunk_id));
        }
        // One write for the group's documents (whole documents only), then one delete.
        self.index.upsert(points).await?;
        self.index.delete(&stale_ids).await?;
        Ok(())
    }

    /// When this process last ingested, and what that did (none before the first ingest).
    pub fn last_ingest(&self) -> Option<(std::time::SystemTime, IngestReport)> {
        self.last_ingest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every indexed document with its passage count, by path.
    pub async fn documents(&self) -> Result<Vec<IndexedDocument>, KnowledgeError> {
        Ok(self
            .index
            .stored()
            .await?
            .into_iter()
            .map(|(path, refs)| IndexedDocument {
                path,
                chunks: refs.len(),
            })
            .collect())
    }

    /// The embedder questions and passages go through.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The BM25 of `locale`'s language.
    fn bm25_of(&self, locale: &str) -> &Bm25 {
        &self.bm25[bm25_language(locale)]
    }

    /// Hybrid search, with the relevance gate's verdict.
    pub async fn search(
        &self,
        question: &str,
        limit: usize,
        filter: &SearchFilter,
    ) -> Result<SearchResult, KnowledgeError> {
        let question = question.trim();
        if question.is_empty() {
            return Ok(SearchResult {
                passages: vec![],
                confidence: 0.0,
                abstain: Some("empty question".into()),
            });
        }
        let dense = self
            .embedder
            .embed(&[question.to_string()])
            .await?
            .pop()
            .unwrap_or_default();
        let limit = limit.clamp(1, 100);
        // Reciprocal rank fusion ties often (rank 3 of one retriever against rank 3 of the
        // other), and an index orders ties as it stores them. Fetch past the limit and break
        // ties by chunk id, so the same question gets the same passages in the same order on
        // every index (and an LLM prompt built from them replays from its cassette).
        let hits = self
            .index
            .search(&IndexQuery {
                dense,
                sparse: self
                    .bm25_of(filter.locale.as_deref().unwrap_or("en"))
                    .query(question),
                limit: (limit * 2).min(100),
                candidates: self.settings.candidates,
                filter: filter.clone(),
            })
            .await?;
        let mut passages: Vec<Passage> = hits.into_iter().map(Passage::from).collect();
        passages.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.chunk_id.cmp(&b.chunk_id))
        });
        passages.truncate(limit);
        // The embedding model reads English: in another language, what it finds similar is
        // only evidence when the passage also shares a word (stem) with the question.
        let bm25 = self.bm25_of(filter.locale.as_deref().unwrap_or("en"));
        let unsupported = bm25_language(filter.locale.as_deref().unwrap_or("en")) != "english" && {
            // The passages sharing the most of the question's words are the evidence.
            let asked: BTreeSet<u32> = bm25.query(question).indices.into_iter().collect();
            let shared = |p: &Passage| {
                let text = format!("{}\n\n{}", p.heading_path.join(" > "), p.text);
                let words: BTreeSet<u32> = bm25.document(&text).indices.into_iter().collect();
                words.intersection(&asked).count()
            };
            let most = passages.iter().map(shared).max().unwrap_or(0);
            passages.retain(|p| most > 0 && shared(p) == most);
            passages.is_empty()
        };
        let confidence = passages.iter().map(|p| p.similarity).fold(0.0f32, f32::max);
        let abstain = if unsupported {
            Some("no passage shares a word with the question".to_string())
        } else if passages.is_empty() {
            Some("nothing in the knowledge base matches".to_string())
        } else if confidence < self.settings.min_similarity {
            Some(format!(
                "best passage similarity {confidence:.2} is below the gate ({:.2})",
                self.settings.min_similarity
            ))
        } else {
            None
        };
        Ok(SearchResult {
            passages,
            confidence,
            abstain,
        })
    }

    /// Answer extractively: the most similar passage among the top results, trimmed to
    /// `max_chars` (the channel's length), with its source named. Abstains rather than guess.
    pub async fn answer(
        &self,
        question: &str,
        max_chars: usize,
        filter: &SearchFilter,
    ) -> Result<Answer, KnowledgeError> {
        let result = self.search(question, 5, filter).await?;
        Ok(extractive_answer(&result, max_chars))
    }
}

/// The extractive answer a search result supports: the most similar passage, as plain text
/// trimmed to `max_chars`, with its source; or the abstention the gate decided.
pub fn extractive_answer(result: &SearchResult, max_chars: usize) -> Answer {
    if let Some(reason) = &result.abstain {
        return Answer::Abstain {
            reason: reason.clone(),
            confidence: result.confidence,
        };
    }
    let best = result
        .passages
        .iter()
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
        .expect("a passage passed the gate");
    let source = format!("(Source: {})", best.citation);
    let budget = max_chars.saturating_sub(source.chars().count() + 2).max(80);
    let text = format!("{}\n\n{source}", trim_to(&plain(&best.text), budget));
    let mut citations = vec![best.citation.clone()];
    citations.extend(
        result
            .passages
            .iter()
            .filter(|p| p.chunk_id != best.chunk_id)
            .map(|p| p.citation.clone()),
    );
    citations.dedup();
    Answer::Grounded {
        text,
        citations,
        confidence: result.confidence,
    }
}

/// Markdown made readable as plain text on any channel: a paragraph's hard-wrapped lines are
/// joined into one (a chat bubble, an SMS or a mail client wraps by itself, and a line broken
/// mid-sentence reads as two), list items stay one a line with a bullet (a wrapped item's
/// continuation joins it), paragraphs stay apart, and emphasis and code marks go.
fn plain(markdown: &str) -> String {
    let mut out = String::new();
    // Whether the last line written may be continued by the next one.
    let mut open = false;
    for line in markdown.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push_str("\n\n");
            }
            open = false;
            continue;
        }
        let text = line.replace("**", "").replace('`', "");
        let item = text
            .strip_prefix("- ")
            .or_else(|| text.strip_prefix("* "))
            .map(|rest| format!("• {rest}"))
            .or_else(|| numbered(&text).then(|| text.clone()));
        let heading = text.starts_with('#');
        match item {
            None if open && !heading => {
                out.push(' ');
                out.push_str(&text);
            }
            line => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(line.as_deref().unwrap_or(&text));
                open = !heading;
            }
        }
    }
    out.trim().to_string()
}

/// Whether a line is an item of a numbered list (`1. `, `12) `).
fn numbered(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
}

/// At most `max` characters, cut at a sentence (or word) boundary, marked with an ellipsis.
fn trim_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let sentence_end = cut
        .rfind(['.', '!', '?', '\n'])
        .filter(|i| *i >= cut.len() / 2);
    match sentence_end {
        Some(i) => cut[..=i].trim_end().to_string(),
        None => {
            let word_end = cut.rfind(' ').unwrap_or(cut.len());
            format!("{}…", cut[..word_end].trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_passages_are_cut_at_a_sentence() {
        let text = "Refunds go back to the original payment method. They take 5 to 7 business days. Gift cards are refunded instantly.";
        let cut = trim_to(text, 90);
        assert_eq!(
            cut,
            "Refunds go back to the original payment method. They take 5 to 7 business days."
        );
        assert!(trim_to("short", 90) == "short");
        let words = trim_to(&"word ".repeat(40), 50);
        assert!(
            words.ends_with('…') && words.chars().count() <= 50,
            "{words}"
        );
    }

    #[test]
    fn markdown_reads_as_plain_text() {
        assert_eq!(
            plain("- **Standard**: 5 days\n- `Express`: 2 days"),
            "• Standard: 5 days\n• Express: 2 days"
        );
    }

    #[test]
    fn hard_wrapped_lines_are_reflowed_into_paragraphs() {
        let article =
            "Refunds to\na gift card are immediate. Refunds to a card\ntake 5 to 7 days.\n\n\
                       You can return:\n\
                       - shoes, unworn,\n  in their box\n\
                       - clothes\n\
                       1. Start the return.\n\
                       2. Print the label.\n\n\
                       ## Exchanges\n\
                       Exchanges are\nfree.";
        assert_eq!(
            plain(article),
            "Refunds to a gift card are immediate. Refunds to a card take 5 to 7 days.\n\n\
             You can return:\n\
             • shoes, unworn, in their box\n\
             • clothes\n\
             1. Start the return.\n\
             2. Print the label.\n\n\
             ## Exchanges\n\
             Exchanges are free."
        );
    }

    #[test]
    fn citations_name_the_title_and_section() {
        let c = Citation {
            title: "Refunds".into(),
            section: Some("Timing".into()),
            document: "refunds.md".into(),
            anchor: "#timing".into(),
        };
        assert_eq!(c.to_string(), "Refunds › Timing");
        let top = Citation {
            section: Some("Refunds".into()),
            ..c
        };
        assert_eq!(top.to_string(), "Refunds");
    }

    #[test]
    fn a_source_becomes_a_link_to_its_article_and_section() {
        let c = Citation {
            title: "Refunds".into(),
            section: Some("Timing".into()),
            document: "refunds.md".into(),
            anchor: "#timing".into(),
        };
        assert_eq!(
            c.url("https://help.example/"),
            "https://help.example/refunds#timing"
        );
        let text = "Allow 5 days.\n\n(Source: Refunds › Timing)";
        assert_eq!(
            link_source(text, std::slice::from_ref(&c), "https://help.example"),
            "Allow 5 days.\n\n(Source: [Refunds › Timing](https://help.example/refunds#timing))"
        );
        // The whole article, not a section: no anchor.
        let top = Citation {
            section: Some("Refunds".into()),
            ..c.clone()
        };
        assert_eq!(
            top.url("https://help.example"),
            "https://help.example/refunds"
        );
        // A text naming no citation is left as it is.
        assert_eq!(
            link_source("Allow 5 days.", &[c], "https://help.example"),
            "Allow 5 days."
        );
    }
}
