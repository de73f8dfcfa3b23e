//! One conformance suite for every `VectorIndex` backend: the embedded qdrant-edge shard always,
//! a Qdrant server when `FRONTLINE_TEST_QDRANT_URL` is set (gRPC, e.g. http://127.0.0.1:6334).

use frontline_knowledge::index::{IndexQuery, IndexedChunk, SearchFilter, VectorIndex};
use frontline_knowledge::{Bm25, Chunk, EdgeIndex, IndexError, QdrantServerIndex};

const DIM: usize = 4;

fn unit(v: [f32; DIM]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn chunk(id: u8, document: &str, text: &str, locale: &str, tags: &[&str]) -> Chunk {
    Chunk {
        id: format!("{:032x}", id as u128 + 1),
        document: document.into(),
        title: document.trim_end_matches(".md").into(),
        heading_path: vec!["Section".into()],
        anchor: "#section".into(),
        text: text.into(),
        tokens: text.split_whitespace().count(),
        locale: locale.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn point(c: Chunk, dense: [f32; DIM]) -> IndexedChunk {
    IndexedChunk {
        sparse: Bm25::default().document(&c.text),
        dense: unit(dense),
        chunk: c,
    }
}

fn corpus() -> Vec<IndexedChunk> {
    vec![
        point(
            chunk(
                1,
                "refunds.md",
                "Refunds reach credit cards within five business days.",
                "en",
                &["billing"],
            ),
            [1.0, 0.1, 0.0, 0.0],
        ),
        point(
            chunk(
                2,
                "shipping.md",
                "Standard shipping takes three to five days.",
                "en",
                &["delivery"],
            ),
            [0.0, 1.0, 0.1, 0.0],
        ),
        point(
            chunk(
                3,
                "warranty.md",
                "Electronics carry a two-year warranty against defects.",
                "en",
                &["product"],
            ),
            [0.0, 0.0, 1.0, 0.1],
        ),
        point(
            chunk(
                4,
                "remboursements.md",
                "Les remboursements arrivent sous cinq jours ouvrés.",
                "fr",
                &["billing"],
            ),
            [0.9, 0.0, 0.0, 0.3],
        ),
    ]
}

fn query(dense: [f32; DIM], text: &str, filter: SearchFilter) -> IndexQuery {
    IndexQuery {
        dense: unit(dense),
        sparse: Bm25::default().query(text),
        limit: 10,
        candidates: 10,
        filter,
    }
}

async fn documents(index: &dyn VectorIndex, q: &IndexQuery) -> Vec<String> {
    index
        .search(q)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.chunk.document)
        .collect()
}

/// The whole suite, against one backend holding nothing yet.
async fn conformance(index: &dyn VectorIndex) {
    let name = index.backend();
    assert!(
        index.stored().await.unwrap().is_empty(),
        "{name}: starts empty"
    );
    index.upsert(corpus()).await.unwrap();

    // Everything stored is listed by document, with its anchor.
    let stored = index.stored().await.unwrap();
    assert_eq!(stored.len(), 4, "{name}: {stored:?}");
    assert_eq!(stored["refunds.md"][0].chunk_id, format!("{:032x}", 2));
    assert_eq!(stored["refunds.md"][0].anchor, "#section");

    // Dense and BM25 agree: the refund passage comes first, payload intact, with its similarity.
    let hits = index
        .search(&query(
            [1.0, 0.0, 0.0, 0.0],
            "refunds credit card",
            SearchFilter::default(),
        ))
        .await
        .unwrap();
    assert_eq!(
        hits[0].chunk,
        corpus()[0].chunk,
        "{name}: payload round-trips"
    );
    assert!(hits[0].similarity > 0.99, "{name}: {}", hits[0].similarity);
    assert!(
        hits.windows(2).all(|w| w[0].fused >= w[1].fused),
        "{name}: best first"
    );

    // BM25 alone can lift a passage the dense vector misses: a query vector pointing at
    // shipping, with words only the warranty passage has, brings warranty into the results
    // above the unrelated French passage.
    let docs = documents(
        index,
        &query(
            [0.0, 1.0, 0.0, 0.0],
            "two-year warranty electronics",
            SearchFilter::default(),
        ),
    )
    .await;
    let pos = |d: &str| docs.iter().position(|x| x == d).unwrap_or(usize::MAX);
    assert!(
        pos("shipping.md") <= 1 && pos("warranty.md") <= 1,
        "{name}: fused {docs:?}"
    );

    // Payload filters: locale, and any-of tags.
    let fr = documents(
        index,
        &query(
            [1.0, 0.0, 0.0, 0.0],
            "remboursements",
            SearchFilter {
                locale: Some("fr".into()),
                tags: vec![],
            },
        ),
    )
    .await;
    assert_eq!(fr, vec!["remboursements.md".to_string()], "{name}");
    let mut tagged = documents(
        index,
        &query(
            [0.0, 0.0, 1.0, 0.0],
            "",
            SearchFilter {
                locale: Some("en".into()),
                tags: vec!["delivery".into(), "product".into()],
            },
        ),
    )
    .await;
    tagged.sort();
    assert_eq!(tagged, vec!["shipping.md", "warranty.md"], "{name}");

    // Upserting the same id replaces (no duplicate); deleting removes; unknown ids are ignored.
    let mut edited = corpus()[1].clone();
    edited.chunk.text = "Express shipping takes one day.".into();
    index.upsert(vec![edited]).await.unwrap();
    let all = documents(
        index,
        &query([0.0, 1.0, 0.0, 0.0], "", SearchFilter::default()),
    )
    .await;
    assert_eq!(all.len(), 4, "{name}: {all:?}");
    let hits = index
        .search(&query(
            [0.0, 1.0, 0.0, 0.0],
            "express",
            SearchFilter::default(),
        ))
        .await
        .unwrap();
    assert_eq!(
        hits[0].chunk.text, "Express shipping takes one day.",
        "{name}"
    );
    index
        .delete(&[
            format!("{:032x}", 3),
            "ffffffffffffffffffffffffffffffff".into(),
        ])
        .await
        .unwrap();
    let stored = index.stored().await.unwrap();
    assert!(!stored.contains_key("shipping.md"), "{name}: {stored:?}");
    assert_eq!(stored.len(), 3);

    // A vector of the wrong length is refused with a clear error, and nothing is written.
    let mut wrong = corpus()[0].clone();
    wrong.dense = vec![1.0; DIM + 1];
    let err = index.upsert(vec![wrong]).await.unwrap_err();
    assert!(matches!(err, IndexError::Dimension { .. }), "{name}: {err}");
    index.optimize().await.unwrap();
    assert_eq!(
        index.stored().await.unwrap().len(),
        3,
        "{name}: after optimize"
    );
}

#[tokio::test]
async fn the_embedded_shard_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = EdgeIndex::open(dir.path(), DIM).unwrap();
        conformance(&index).await;
        // The filtered fields keep their index through writes and optimising.
        assert_eq!(index.indexed_fields(), ["locale", "tags"]);
    }
    // Reopened from disk: the same content, the same indexes.
    let index = EdgeIndex::open(dir.path(), DIM).unwrap();
    assert_eq!(index.stored().await.unwrap().len(), 3);
    assert_eq!(index.len(), 3);
    assert_eq!(index.indexed_fields(), ["locale", "tags"]);
    // Opening with another embedding size says what to do.
    drop(index);
    let err = EdgeIndex::open(dir.path(), 384).err().unwrap();
    assert!(err.to_string().contains("ingest again"), "{err}");
}

#[tokio::test]
async fn a_qdrant_server_conforms_when_configured() {
    let Ok(url) = std::env::var("FRONTLINE_TEST_QDRANT_URL") else {
        eprintln!("FRONTLINE_TEST_QDRANT_URL not set: the Qdrant server variant is skipped");
        return;
    };
    let collection = format!("frontline_conformance_{}", uuid::Uuid::now_v7().simple());
    let index = QdrantServerIndex::connect(&url, None, &collection, DIM)
        .await
        .unwrap();
    conformance(&index).await;
    index.drop_collection().await.unwrap();
}
