//! The knowledge base at the binary's edge: open it as configured (local model or an
//! OpenAI-compatible endpoint; embedded qdrant-edge or a Qdrant server), ingest with a progress
//! bar, watch the folder, and run the retrieval evals.

use crate::config::Config;
use anyhow::{Context, Result};
use frontline_knowledge::document::{Document, Loaded};
use frontline_knowledge::eval::{evaluate, load_questions, RetrievalReport};
use frontline_knowledge::openai::OpenAiEmbeddingSettings;
use frontline_knowledge::{
    EdgeIndex, Embedder, IngestEvent, IngestReport, KnowledgeBase, KnowledgeSettings, MiniLm,
    OpenAiEmbedder, QdrantServerIndex, RecentEmbeddings, VectorIndex,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The local model (all-MiniLM-L6-v2), from `[knowledge] model_dir` or the install folder.
pub async fn local_model(config: &Config) -> Result<Arc<dyn Embedder>> {
    let dir = PathBuf::from(&config.knowledge.model_dir);
    let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir)).await??;
    Ok(recent(Arc::new(model)))
}

/// The serving embedder: one forward pass (or endpoint call) per message, however many steps
/// of its turn need its vector.
fn recent(embedder: Arc<dyn Embedder>) -> Arc<dyn Embedder> {
    Arc::new(RecentEmbeddings::new(
        embedder,
        RecentEmbeddings::DEFAULT_CAPACITY,
    ))
}

/// The embedder the configuration asks for.
pub async fn open_embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let k = &config.knowledge;
    if k.embedding_base_url.is_empty() {
        return local_model(config).await;
    }
    let api_key = if k.embedding_api_key.is_empty() {
        "none".to_string()
    } else {
        k.embedding_api_key.clone()
    };
    let embedder = OpenAiEmbedder::connect(OpenAiEmbeddingSettings {
        base_url: k.embedding_base_url.clone(),
        api_key,
        model: k.embedding_model.clone(),
        timeout: Duration::from_secs(30),
    })
    .await?;
    Ok(recent(Arc::new(embedder)))
}

/// The index the configuration asks for, sized for `dimension`.
pub async fn open_index(
    config: &Config,
    index_path: &Path,
    dimension: usize,
) -> Result<Arc<dyn VectorIndex>> {
    let k = &config.knowledge;
    if k.qdrant_url.is_empty() {
        Ok(Arc::new(EdgeIndex::open(index_path, dimension)?))
    } else {
        let key = (!k.qdrant_api_key.is_empty()).then(|| k.qdrant_api_key.clone());
        Ok(Arc::new(
            QdrantServerIndex::connect(&k.qdrant_url, key, &k.collection, dimension).await?,
        ))
    }
}

fn settings(config: &Config) -> KnowledgeSettings {
    KnowledgeSettings {
        chunk_tokens: config.knowledge.chunk_tokens,
        overlap_tokens: config.knowledge.overlap_tokens,
        min_similarity: config.knowledge.min_similarity,
        ..KnowledgeSettings::default()
    }
}

/// The knowledge base as configured, on the configured index.
pub async fn open(config: &Config) -> Result<Arc<KnowledgeBase>> {
    open_at(config, &config.knowledge_index_path()).await
}

async fn open_at(config: &Config, index_path: &Path) -> Result<Arc<KnowledgeBase>> {
    let embedder = open_embedder(config).await?;
    let index = open_index(config, index_path, embedder.dimension()).await?;
    Ok(Arc::new(KnowledgeBase::new(
        embedder,
        index,
        settings(config),
    )))
}

/// Ingest `dir`, with a progress bar when `bar` (on stderr), warnings for skipped files.
pub async fn ingest(kb: &KnowledgeBase, dir: &Path, bar: bool) -> Result<IngestReport> {
    let progress = progress_bar(bar);
    let on_event = |event: IngestEvent<'_>| match event {
        // Listed with the summary (and logged), so they are not lost under the bar.
        IngestEvent::Skipped(_) => {}
        IngestEvent::Planned { to_embed } => progress.set_length(to_embed as u64),
        IngestEvent::Embedded(n) => progress.inc(n as u64),
    };
    let report = kb
        .ingest(dir, &on_event)
        .await
        .with_context(|| format!("ingesting {}", dir.display()))?;
    progress.finish_and_clear();
    Ok(report)
}

fn progress_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} embedding {bar:30} {pos}/{len} chunks · {per_sec} · eta {eta}",
        )
        .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `frontline ingest`: once, or on every change with `watch`.
pub async fn ingest_command(
    config: &Config,
    dir: &Path,
    watch: bool,
    poll: Duration,
) -> Result<()> {
    if !dir.is_dir() {
        anyhow::bail!(
            "the knowledge folder {} does not exist (set [knowledge] dir or FRONTLINE_KNOWLEDGE__DIR)",
            dir.display()
        );
    }
    let kb = open(config).await?;
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = ingest(&kb, dir, bar).await?;
    print_report(&kb, dir, "ingested", &report);
    if !watch {
        return Ok(());
    }
    // Take the baseline before saying so: an edit made right after "watching" must count.
    let mut seen = fingerprint(dir);
    println!("watching {} for changes (Ctrl-C to stop)", dir.display());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let now = fingerprint(dir);
        if now == seen {
            continue;
        }
        seen = now;
        match ingest(&kb, dir, bar).await {
            Ok(report) => print_report(&kb, dir, "re-ingested", &report),
            // A bad moment (a file half-saved) must not stop the watcher.
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
}

fn print_report(kb: &KnowledgeBase, dir: &Path, what: &str, report: &IngestReport) {
    for skipped in &report.skipped {
        eprintln!("warning: skipped {skipped}");
    }
    println!("{what} {} into {}: {report}", dir.display(), kb.backend());
}

/// What the folder looks like now: every file with its size and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// `frontline eval knowledge`: the demo question set, and τ2 banking-knowledge when its data is
/// present. Prints every figure; returns the headline ones by suite, for the eval report.
pub async fn eval_command(
    config: &Config,
    suites: &[String],
    shared: &Path,
) -> Result<crate::understanding_eval::DatasetFigures> {
    let mut figures = crate::understanding_eval::DatasetFigures::new();
    let all = suites.is_empty();
    if all || suites.iter().any(|s| s == "demo") {
        let report = eval_demo(config).await?;
        println!("knowledge/demo: {report}");
        figures.insert(
            "demo".into(),
            [
                ("recall_at_1".into(), report.recall_at_1),
                ("recall_at_5".into(), report.recall_at_5),
                ("abstain_precision".into(), report.abstain_precision),
                ("abstain_recall".into(), report.abstain_recall),
            ]
            .into(),
        );
    }
    if all || suites.iter().any(|s| s == "tau2-banking") {
        let data = shared.join("tau2-banking-knowledge");
        if data.is_dir() {
            let (report, ingest, size, elapsed) = eval_tau2_banking(config, &data).await?;
            println!(
                "knowledge/tau2-banking: {} documents ingested in {:.1}s ({} chunks, {:.0} chunks/s, index {:.1} MiB); {} tasks: recall@5 {:.3}, recall@10 {:.3} of required documents (any-hit@5 {:.3}, MRR {:.3}); queried in {:.1}s",
                ingest.files,
                ingest.elapsed.as_secs_f64(),
                ingest.added,
                ingest.added as f64 / ingest.elapsed.as_secs_f64().max(1e-9),
                size as f64 / (1024.0 * 1024.0),
                report.answerable,
                report.document_recall_at_5,
                report.document_recall_at_10,
                report.recall_at_5,
                report.mrr,
                elapsed.as_secs_f64()
            );
            figures.insert(
                "tau2-banking".into(),
                [
                    ("document_recall_at_5".into(), report.document_recall_at_5),
                    ("document_recall_at_10".into(), report.document_recall_at_10),
                    ("mrr".into(), report.mrr),
                ]
                .into(),
            );
        } else if !all {
            anyhow::bail!("τ2 banking-knowledge data not found at {}", data.display());
        }
    }
    Ok(figures)
}

/// The configured knowledge folder in a fresh embedded index (in a scratch folder).
pub async fn eval_knowledge_base(config: &Config) -> Result<Arc<KnowledgeBase>> {
    let scratch = tempdir("frontline-eval-kb")?;
    let kb = open_at(config, &scratch).await?;
    ingest(&kb, &config.knowledge.dir, false).await?;
    Ok(kb)
}

/// The demo question set against the demo articles, in a fresh embedded index.
pub async fn eval_demo(config: &Config) -> Result<RetrievalReport> {
    let scratch = tempdir("frontline-eval-demo")?;
    let kb = open_at(config, &scratch).await?;
    ingest(&kb, &config.knowledge.dir, false).await?;
    let questions =
        load_questions(Path::new("evals/knowledge/questions.yaml")).map_err(anyhow::Error::msg)?;
    let report = evaluate(&kb, &questions, &|| {}).await?;
    drop(kb);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(report)
}

fn tempdir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// τ2 banking-knowledge: ingest its 698 articles, then retrieve each dev task's required
/// documents from its scenario text. Returns the report, the ingest, the index size in bytes
/// and the query time.
pub async fn eval_tau2_banking(
    config: &Config,
    data: &Path,
) -> Result<(RetrievalReport, IngestReport, u64, Duration)> {
    #[derive(serde::Deserialize)]
    struct Article {
        id: String,
        title: String,
        content: String,
    }
    #[derive(serde::Deserialize)]
    struct Task {
        user_scenario: Scenario,
        required_documents: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Scenario {
        instructions: String,
    }
    let mut loaded = Loaded::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("documents"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let article: Article = serde_json::from_slice(&std::fs::read(&file)?)
            .with_context(|| format!("reading {}", file.display()))?;
        loaded.documents.push(Document {
            path: article.id,
            title: article.title,
            tags: vec![],
            locale: "en".into(),
            audience: "customer".into(),
            body: article.content,
        });
    }
    let tasks: Vec<Task> = serde_json::from_slice(&std::fs::read(data.join("tasks_dev.json"))?)
        .context("reading tasks_dev.json")?;

    let scratch = tempdir("frontline-eval-tau2-banking")?;
    let kb = open_at(config, &scratch).await?;
    let progress = progress_bar(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let on_event = |event: IngestEvent<'_>| match event {
        IngestEvent::Planned { to_embed } => progress.set_length(to_embed as u64),
        IngestEvent::Embedded(n) => progress.inc(n as u64),
        IngestEvent::Skipped(_) => {}
    };
    let ingest = kb.ingest_documents(loaded, &on_event).await?;
    progress.finish_and_clear();
    let size = dir_size(&scratch);
    let questions: Vec<_> = tasks
        .into_iter()
        .map(|t| frontline_knowledge::eval::Question {
            text: t.user_scenario.instructions,
            expect: t.required_documents,
        })
        .collect();
    let started = Instant::now();
    let report = evaluate(&kb, &questions, &|| {}).await?;
    let elapsed = started.elapsed();
    drop(kb);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok((report, ingest, size, elapsed))
}
