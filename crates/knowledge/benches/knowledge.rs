//! Knowledge-base benchmarks (issue #4), printing the figures:
//! - ingest throughput with the local model (target ≥ 100 chunks/s);
//! - query = embed + hybrid search on 10k embedded chunks (targets p50 < 10 ms, p99 < 30 ms);
//! - hybrid search alone on the same index (target p50 < 2 ms);
//! - retrieval at scale (issue #10): search alone at 1k, 10k and 100k chunks. The 100k index
//!   holds points recombined from 2,000 real passages (a vector the normalised mix of two real
//!   passages' vectors, text the first half of one passage and the second half of another),
//!   since embedding 100k distinct passages would take the benchmark a quarter of an hour and
//!   search cost depends on the count and the vectors' spread, not on the prose.
//!
//! Run: cargo bench -p frontline-knowledge --bench knowledge
//! The corpus comes from τ2 banking-knowledge (vendored in evals/datasets, or FRONTLINE_SHARED_DATA).
//! Under `cargo test` the binary runs a small smoke version so it cannot rot.

use frontline_knowledge::chunk::Chunk;
use frontline_knowledge::document::{Document, Loaded};
use frontline_knowledge::index::{IndexQuery, IndexedChunk, SearchFilter, VectorIndex};
use frontline_knowledge::{
    Bm25, EdgeIndex, Embedder, IngestReport, KnowledgeBase, KnowledgeSettings, MiniLm,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The vendored public datasets: `evals/datasets`, or `FRONTLINE_SHARED_DATA` when set.
fn datasets() -> PathBuf {
    std::env::var("FRONTLINE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../evals/datasets"))
}

/// Distinct passages: every paragraph, sentence and clause of the τ2 banking articles.
fn passages(limit: usize) -> Vec<(String, String)> {
    let dir = datasets().join("tau2-banking-knowledge/documents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the benchmark corpus)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for file in files {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let title = doc["title"].as_str().unwrap_or_default().to_string();
        let content = doc["content"].as_str().unwrap_or_default();
        let paragraphs = content.split("\n\n").map(str::trim);
        let sentences = content.split(['.', '\n']).map(str::trim);
        // The 698 articles give about 9,600 distinct paragraphs and sentences: clauses make up
        // the rest of the 10k.
        let clauses = content.split(['.', '\n', ',', ';', ':']).map(str::trim);
        for text in paragraphs.chain(sentences).chain(clauses) {
            // Headings alone make no passage.
            if text.len() >= 30 && !text.starts_with('#') && seen.insert(text.to_string()) {
                out.push((title.clone(), text.to_string()));
                if out.len() == limit {
                    return out;
                }
            }
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (chunks, ingest_sample, queries) = if full {
        (10_000, 1_000, 300)
    } else {
        (120, 60, 20)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(chunks, ingest_sample, queries));
}

async fn run(chunks: usize, ingest_sample: usize, queries: usize) {
    let model: Arc<dyn Embedder> = Arc::new(
        MiniLm::load(&frontline_knowledge::testing::model_dir())
            .expect("model installed by scripts/model.sh"),
    );
    let corpus = passages(chunks);
    assert_eq!(
        corpus.len(),
        chunks,
        "the corpus gives {} passages",
        corpus.len()
    );
    let as_documents = |slice: &[(String, String)]| Loaded {
        documents: slice
            .iter()
            .enumerate()
            .map(|(i, (title, text))| Document {
                path: format!("p{i:05}.md"),
                title: title.clone(),
                tags: vec![],
                locale: "en".into(),
                audience: "customer".into(),
                body: text.clone(),
            })
            .collect(),
        warnings: vec![],
    };

    // 1. Ingest throughput on a fresh index: chunk, embed, BM25, write, optimise.
    let dir = tempfile::tempdir().unwrap();
    let sample_index = Arc::new(EdgeIndex::open(&dir.path().join("sample"), 384).unwrap());
    let kb = KnowledgeBase::new(
        model.clone(),
        sample_index.clone(),
        KnowledgeSettings::default(),
    );
    let started = Instant::now();
    let report = kb
        .ingest_documents(as_documents(&corpus[..ingest_sample]), &|_| {})
        .await
        .unwrap();
    print_ingest("ingest", &report, started.elapsed(), " (target ≥ 100)");

    // The demo knowledge folder as CX teams write it: whole articles, chunked at 256 tokens.
    let articles = Arc::new(EdgeIndex::open(&dir.path().join("articles"), 384).unwrap());
    let demo = KnowledgeBase::new(
        model.clone(),
        articles.clone(),
        KnowledgeSettings::default(),
    );
    let started = Instant::now();
    let report = demo
        .ingest(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../knowledge"),
            &|_| {},
        )
        .await
        .unwrap();
    print_ingest("ingest of knowledge/", &report, started.elapsed(), "");

    // 2. The full index.
    let index = Arc::new(EdgeIndex::open(&dir.path().join("full"), 384).unwrap());
    let kb = KnowledgeBase::new(model.clone(), index.clone(), KnowledgeSettings::default());
    let started = Instant::now();
    let report = kb
        .ingest_documents(as_documents(&corpus), &|_| {})
        .await
        .unwrap();
    println!(
        "index: {} chunks embedded and stored in {:.1} s",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    // A passage longer than a chunk becomes two: at least one chunk per passage.
    assert!(report.added >= chunks, "{} chunks", report.added);

    // Queries: questions in customers' words, drawn from the corpus's own topics.
    let questions: Vec<String> = corpus
        .iter()
        .step_by((chunks / queries).max(1))
        .take(queries)
        .map(|(title, text)| {
            let words: Vec<&str> = text.split_whitespace().take(8).collect();
            format!("{} {}?", title.to_lowercase(), words.join(" "))
        })
        .collect();
    let filter = SearchFilter::default();
    for q in questions.iter().take(5) {
        kb.search(q, 5, &filter).await.unwrap(); // warm-up
    }
    let mut end_to_end = Vec::new();
    for q in &questions {
        let t = Instant::now();
        let result = kb.search(q, 5, &filter).await.unwrap();
        end_to_end.push(t.elapsed());
        assert!(!result.passages.is_empty());
    }
    end_to_end.sort();
    println!(
        "query (embed + hybrid search, {} chunks, {} queries): p50 {:.2} ms, p99 {:.2} ms (targets < 10, < 30)",
        chunks,
        questions.len(),
        ms(percentile(&end_to_end, 0.5)),
        ms(percentile(&end_to_end, 0.99))
    );

    // 3. Search alone: the same queries with their vectors computed beforehand.
    let bm25 = Bm25::default();
    let mut prepared = Vec::new();
    for q in &questions {
        prepared.push(IndexQuery {
            dense: model
                .embed(std::slice::from_ref(q))
                .await
                .unwrap()
                .remove(0),
            sparse: bm25.query(q),
            limit: 5,
            candidates: KnowledgeSettings::default().candidates,
            filter: filter.clone(),
        });
    }
    for (label, index) in [("sample", sample_index.clone()), ("full", index.clone())] {
        search_alone(label, index.as_ref(), &prepared).await;
    }
    // The agent searches the conversation's locale (then the default one): the same queries
    // filtered by `locale`, on the demo articles (three locales) and on the full index.
    let in_english: Vec<IndexQuery> = prepared
        .iter()
        .map(|q| IndexQuery {
            filter: SearchFilter {
                locale: Some("en".into()),
                ..SearchFilter::default()
            },
            ..q.clone()
        })
        .collect();
    search_alone("demo articles", articles.as_ref(), &prepared).await;
    search_alone("demo articles, locale en", articles.as_ref(), &in_english).await;
    search_alone("full, locale en", index.as_ref(), &in_english).await;

    // 4. Ten times the full index: the real chunks plus recombined ones (see the module docs).
    let scale = Arc::new(EdgeIndex::open(&dir.path().join("scale"), 384).unwrap());
    let texts: Vec<String> = corpus.iter().take(2_000).map(|(_, t)| t.clone()).collect();
    let mut vectors = Vec::new();
    for batch in texts.chunks(64) {
        vectors.extend(model.embed(batch).await.unwrap());
    }
    let started = Instant::now();
    let mut points = Vec::new();
    for i in 0..chunks * 10 {
        let (a, b) = (i % texts.len(), (i * 7_919 + 13) % texts.len());
        let mut dense: Vec<f32> = vectors[a]
            .iter()
            .zip(&vectors[b])
            .map(|(x, y)| x + 0.5 * y)
            .collect();
        let norm = dense.iter().map(|v| v * v).sum::<f32>().sqrt();
        dense.iter_mut().for_each(|v| *v /= norm);
        let (first, second): (Vec<&str>, Vec<&str>) = (
            texts[a].split_whitespace().collect(),
            texts[b].split_whitespace().collect(),
        );
        let text = [&first[..first.len() / 2], &second[second.len() / 2..]]
            .concat()
            .join(" ");
        points.push(IndexedChunk {
            sparse: bm25.document(&text),
            chunk: Chunk {
                id: format!("scale-{i}"),
                document: format!("scale/{i}.md"),
                title: corpus[a].0.clone(),
                heading_path: vec![],
                anchor: String::new(),
                tokens: text.split_whitespace().count(),
                text,
                locale: "en".into(),
                tags: vec![],
            },
            dense,
        });
        if points.len() == 1_000 {
            scale.upsert(std::mem::take(&mut points)).await.unwrap();
        }
    }
    scale.upsert(points).await.unwrap();
    scale.optimize().await.unwrap();
    println!(
        "scale index: {} points written and optimised in {:.1} s",
        scale.len(),
        started.elapsed().as_secs_f64()
    );
    search_alone("scale", scale.as_ref(), &prepared).await;
}

/// One ingest's figures: chunks, tokens, tokens a chunk, time and chunks per second.
fn print_ingest(label: &str, report: &IngestReport, elapsed: Duration, target: &str) {
    println!(
        "{label}: {} chunks ({} tokens, {:.0} a chunk) in {:.2} s = {:.0} chunks/s{target}",
        report.added,
        report.tokens,
        report.tokens as f64 / report.added.max(1) as f64,
        elapsed.as_secs_f64(),
        report.added as f64 / elapsed.as_secs_f64()
    );
}

/// Hybrid search alone (vectors computed beforehand), three rounds of `prepared`.
async fn search_alone(label: &str, index: &EdgeIndex, prepared: &[IndexQuery]) {
    let mut search = Vec::new();
    for _round in 0..3 {
        for q in prepared {
            let t = Instant::now();
            let hits = index.search(q).await.unwrap();
            search.push(t.elapsed());
            assert!(!hits.is_empty());
        }
    }
    search.sort();
    println!(
        "search alone (hybrid dense + BM25, RRF, {label} index of {} chunks): p50 {:.3} ms, p99 {:.3} ms (target p50 < 2)",
        index.len(),
        ms(percentile(&search, 0.5)),
        ms(percentile(&search, 0.99))
    );
}
