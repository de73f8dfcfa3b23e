//! The scale-out backend: a Qdrant server or cluster through qdrant-client (gRPC). Same
//! collection layout as the embedded shard: a `dense` cosine vector, a `bm25` sparse vector with
//! the IDF modifier, the chunk as payload, and hybrid queries fused by reciprocal rank.

use crate::index::{
    check_dimensions, chunk_from_payload, payload, point_uuid, IndexError, IndexHit, IndexQuery,
    IndexedChunk, SearchFilter, StoredRef, VectorIndex, DENSE, FILTERED_FIELDS, RRF_K, SPARSE,
};
use async_trait::async_trait;
use qdrant_client::qdrant::vector_output::Vector as OutputVector;
use qdrant_client::qdrant::{
    Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, Modifier, NamedVectors, PointId, PointStruct, PointsIdsList,
    PrefetchQueryBuilder, Query, QueryPointsBuilder, RrfBuilder, ScrollPointsBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector,
    VectorInput, VectorParamsBuilder, VectorsConfigBuilder, VectorsSelector,
};
use qdrant_client::{Payload, Qdrant};
use std::collections::BTreeMap;

const BACKEND: &str = "qdrant-server";

/// A collection on a Qdrant server.
pub struct QdrantServerIndex {
    client: Qdrant,
    url: String,
    collection: String,
    dimension: usize,
}

fn op_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Operation {
        backend: BACKEND,
        message: e.to_string(),
    }
}

impl QdrantServerIndex {
    /// The longest a call may take by default (connecting included).
    pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// Connect to `url` (gRPC, e.g. `http://localhost:6334`) and make sure `collection` exists
    /// with `dimension`-long dense vectors.
    pub async fn connect(
        url: &str,
        api_key: Option<String>,
        collection: &str,
        dimension: usize,
    ) -> Result<QdrantServerIndex, IndexError> {
        let index =
            QdrantServerIndex::lazy(url, api_key, collection, dimension, Self::DEFAULT_TIMEOUT)?;
        index.ensure_collection().await?;
        Ok(index)
    }

    /// A handle on `collection` at `url` that has not talked to the server yet: the
    /// connection is made by the first call, and every call (connecting included) gives up
    /// after `timeout`. A server that is down, hangs or drops connections makes calls fail with
    /// [`IndexError::Operation`] within that time; it never blocks.
    pub fn lazy(
        url: &str,
        api_key: Option<String>,
        collection: &str,
        dimension: usize,
        timeout: std::time::Duration,
    ) -> Result<QdrantServerIndex, IndexError> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(timeout)
            .connect_timeout(timeout)
            // The compatibility check would call the server from `build`, blocking the thread.
            .skip_compatibility_check()
            .build()
            .map_err(|e| IndexError::Open {
                location: format!("{url} (collection {collection})"),
                message: e.to_string(),
            })?;
        Ok(QdrantServerIndex {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
            dimension,
        })
    }

    /// Create the collection (dense and BM25 sparse vectors, keyword indexes on
    /// [`FILTERED_FIELDS`]) unless it exists.
    pub async fn ensure_collection(&self) -> Result<(), IndexError> {
        let open_err = |e: &dyn std::fmt::Display| IndexError::Open {
            location: format!("{} (collection {})", self.url, self.collection),
            message: e.to_string(),
        };
        let client = &self.client;
        let exists = client
            .collection_exists(&self.collection)
            .await
            .map_err(|e| open_err(&e))?;
        if !exists {
            let mut dense = VectorsConfigBuilder::default();
            dense.add_named_vector_params(
                DENSE,
                VectorParamsBuilder::new(self.dimension as u64, Distance::Cosine),
            );
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(
                SPARSE,
                SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
            );
            client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection)
                        .vectors_config(dense)
                        .sparse_vectors_config(sparse),
                )
                .await
                .map_err(|e| open_err(&e))?;
            for field in FILTERED_FIELDS {
                client
                    .create_field_index(
                        CreateFieldIndexCollectionBuilder::new(
                            &self.collection,
                            field,
                            FieldType::Keyword,
                        )
                        .wait(true),
                    )
                    .await
                    .map_err(|e| open_err(&e))?;
            }
        }
        Ok(())
    }

    /// Drop the collection (tests use a fresh one each).
    pub async fn drop_collection(&self) -> Result<(), IndexError> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map(|_| ())
            .map_err(op_err)
    }
}

fn point_id(chunk_id: &str) -> PointId {
    PointId::from(point_uuid(chunk_id).to_string())
}

fn filter(f: &SearchFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if let Some(locale) = &f.locale {
        must.push(Condition::matches("locale", locale.clone()));
    }
    if !f.tags.is_empty() {
        must.push(
            Filter::should(f.tags.iter().map(|t| Condition::matches("tags", t.clone()))).into(),
        );
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

fn json_payload(
    payload: std::collections::HashMap<String, qdrant_client::qdrant::Value>,
) -> serde_json::Value {
    serde_json::Value::from(Payload::from(payload))
}

#[async_trait]
impl VectorIndex for QdrantServerIndex {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn upsert(&self, chunks: Vec<IndexedChunk>) -> Result<(), IndexError> {
        if chunks.is_empty() {
            return Ok(());
        }
        check_dimensions(self.dimension, &chunks)?;
        let mut points = Vec::with_capacity(chunks.len());
        for c in chunks {
            let vectors = NamedVectors::default()
                .add_vector(DENSE, Vector::new_dense(c.dense))
                .add_vector(
                    SPARSE,
                    Vector::new_sparse(c.sparse.indices, c.sparse.values),
                );
            points.push(PointStruct::new(
                point_id(&c.chunk.id),
                vectors,
                Payload::from(payload(&c.chunk)),
            ));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
            .await
            .map(|_| ())
            .map_err(op_err)
    }

    async fn delete(&self, chunk_ids: &[String]) -> Result<(), IndexError> {
        if chunk_ids.is_empty() {
            return Ok(());
        }
        let ids = PointsIdsList {
            ids: chunk_ids.iter().map(|id| point_id(id)).collect(),
        };
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(ids)
                    .wait(true),
            )
            .await
            .map(|_| ())
            .map_err(op_err)
    }

    async fn stored(&self) -> Result<BTreeMap<String, Vec<StoredRef>>, IndexError> {
        let mut out: BTreeMap<String, Vec<StoredRef>> = BTreeMap::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .limit(1000)
                .with_payload(true)
                .with_vectors(false);
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = self.client.scroll(request).await.map_err(op_err)?;
            for point in page.result {
                let chunk = chunk_from_payload(BACKEND, json_payload(point.payload))?;
                out.entry(chunk.document).or_default().push(StoredRef {
                    chunk_id: chunk.id,
                    anchor: chunk.anchor,
                });
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    async fn search(&self, query: &IndexQuery) -> Result<Vec<IndexHit>, IndexError> {
        let filter = filter(&query.filter);
        let candidates = query.candidates.max(query.limit) as u64;
        let prefetch = |using: &str, input: VectorInput| {
            let mut p = PrefetchQueryBuilder::default()
                .query(Query::new_nearest(input))
                .using(using)
                .limit(candidates);
            if let Some(f) = &filter {
                p = p.filter(f.clone());
            }
            p
        };
        let mut request = QueryPointsBuilder::new(&self.collection)
            .add_prefetch(prefetch(DENSE, VectorInput::new_dense(query.dense.clone())))
            .query(Query::new_rrf(RrfBuilder::with_k(RRF_K as u32)))
            .limit(query.limit as u64)
            .with_payload(true)
            .with_vectors(VectorsSelector {
                names: vec![DENSE.to_string()],
            });
        if !query.sparse.indices.is_empty() {
            request = request.add_prefetch(prefetch(
                SPARSE,
                VectorInput::new_sparse(query.sparse.indices.clone(), query.sparse.values.clone()),
            ));
        }
        let response = self.client.query(request).await.map_err(op_err)?;
        response
            .result
            .into_iter()
            .map(|point| {
                let dense = point
                    .vectors
                    .as_ref()
                    .and_then(|v| v.get_vector_by_name(DENSE))
                    .and_then(|v| match v {
                        OutputVector::Dense(d) => Some(d.data),
                        _ => None,
                    });
                let similarity = dense
                    .map(|v| crate::embed::cosine(&query.dense, &v))
                    .unwrap_or(0.0);
                Ok(IndexHit {
                    chunk: chunk_from_payload(BACKEND, json_payload(point.payload))?,
                    fused: point.score,
                    similarity,
                })
            })
            .collect()
    }
}
