//! The embedded backend: a qdrant-edge shard in a local folder (no server). Each write is one
//! WAL record, so a chunk batch lands whole or not at all.

use crate::embed::cosine;
use crate::index::{
    check_dimensions, chunk_from_payload, payload, point_uuid, IndexError, IndexHit, IndexQuery,
    IndexedChunk, SearchFilter, SparseVector, StoredRef, VectorIndex, DENSE, FILTERED_FIELDS,
    RRF_K, SPARSE,
};
use async_trait::async_trait;
use qdrant_edge::{
    Condition, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, Fusion, JsonPath, Match,
    Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, Prefetch, QueryEnum, QueryRequest, ScoringQuery, ScrollRequest,
    UpdateOperation, ValueVariants, Vector, VectorInternal, VectorStructInternal, Vectors,
    WithPayloadInterface, WithVector,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BACKEND: &str = "qdrant-edge";

/// A qdrant-edge shard holding the knowledge base.
pub struct EdgeIndex {
    shard: EdgeShard,
    path: PathBuf,
    dimension: usize,
}

fn op_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Operation {
        backend: BACKEND,
        message: e.to_string(),
    }
}

impl EdgeIndex {
    /// Open the shard in `path`, creating it (for `dimension`-long embeddings) if it is new.
    pub fn open(path: &Path, dimension: usize) -> Result<EdgeIndex, IndexError> {
        let open_err = |e: &dyn std::fmt::Display| IndexError::Open {
            location: path.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(path).map_err(|e| open_err(&e))?;
        let config = EdgeConfigBuilder::new()
            .vector(
                DENSE,
                EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
            )
            .sparse_vector(
                SPARSE,
                EdgeSparseVectorParamsBuilder::new()
                    .modifier(Modifier::Idf)
                    .build(),
            )
            .build();
        let exists = path.join("edge_config.json").is_file();
        let shard = if exists {
            let shard = EdgeShard::load(path, None).map_err(|e| open_err(&e))?;
            let found = shard.config().vectors.get(DENSE).map(|v| v.size);
            match found {
                Some(found) if found != dimension => {
                    return Err(IndexError::Dimension {
                        expected: dimension,
                        found,
                    })
                }
                Some(_) => shard,
                None => {
                    return Err(open_err(
                        &"the shard has no dense vector; not a frontline index",
                    ))
                }
            }
        } else {
            EdgeShard::new(path, config).map_err(|e| open_err(&e))?
        };
        let index = EdgeIndex {
            shard,
            path: path.to_path_buf(),
            dimension,
        };
        index.index_filtered_fields().map_err(|e| open_err(&e))?;
        Ok(index)
    }

    /// Give every segment a keyword index on [`FILTERED_FIELDS`] (a segment that has one keeps
    /// it). Run on opening and after optimising, which may build new segments.
    fn index_filtered_fields(&self) -> Result<(), IndexError> {
        for field in FILTERED_FIELDS {
            let field_name: JsonPath = field.try_into().expect("a valid payload key");
            self.shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name,
                        field_schema: Some(PayloadFieldSchema::FieldType(
                            PayloadSchemaType::Keyword,
                        )),
                    }),
                ))
                .map_err(op_err)?;
        }
        Ok(())
    }

    /// The payload fields with an index.
    pub fn indexed_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self
            .shard
            .info()
            .payload_schema
            .keys()
            .map(|k| k.to_string())
            .collect();
        fields.sort();
        fields
    }

    /// The shard's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Vector length.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Points stored.
    pub fn len(&self) -> usize {
        self.shard.info().points_count
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn sparse(v: &SparseVector) -> Result<Vector, IndexError> {
    Vector::new_sparse(v.indices.clone(), v.values.clone()).map_err(op_err)
}

fn filter(f: &SearchFilter) -> Option<Filter> {
    let field = |key: &str, value: &str| {
        Condition::Field(FieldCondition::new_match(
            key.try_into().expect("a valid payload key"),
            Match::new_value(ValueVariants::String(value.to_string())),
        ))
    };
    let mut must = Vec::new();
    if let Some(locale) = &f.locale {
        must.push(field("locale", locale));
    }
    if !f.tags.is_empty() {
        let mut any = Filter::new();
        any.should = Some(f.tags.iter().map(|t| field("tags", t)).collect());
        must.push(Condition::Filter(any));
    }
    (!must.is_empty()).then(|| {
        let mut all = Filter::new();
        all.must = Some(must);
        all
    })
}

fn dense_of(vector: Option<VectorStructInternal>) -> Option<Vec<f32>> {
    match vector? {
        VectorStructInternal::Named(mut named) => match named.remove(DENSE)? {
            VectorInternal::Dense(v) => Some(v),
            _ => None,
        },
        VectorStructInternal::Single(v) => Some(v),
        VectorStructInternal::MultiDense(_) => None,
    }
}

#[async_trait]
impl VectorIndex for EdgeIndex {
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
            let vectors = Vectors::new_named([
                (DENSE, Vector::new_dense(c.dense)),
                (SPARSE, sparse(&c.sparse)?),
            ]);
            let id = PointId::Uuid(point_uuid(&c.chunk.id));
            points.push(
                PointStruct::new(id, vectors, serde_json::Value::Object(payload(&c.chunk))).into(),
            );
        }
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
            ))
            .map_err(op_err)
    }

    async fn delete(&self, chunk_ids: &[String]) -> Result<(), IndexError> {
        if chunk_ids.is_empty() {
            return Ok(());
        }
        let ids = chunk_ids
            .iter()
            .map(|id| PointId::Uuid(point_uuid(id)))
            .collect();
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePoints { ids },
            ))
            .map_err(op_err)
    }

    async fn stored(&self) -> Result<BTreeMap<String, Vec<StoredRef>>, IndexError> {
        let mut out: BTreeMap<String, Vec<StoredRef>> = BTreeMap::new();
        let mut offset = None;
        loop {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(op_err)?;
            for record in records {
                let payload =
                    serde_json::Value::Object(record.payload.map(|p| p.0).unwrap_or_default());
                let chunk = chunk_from_payload(BACKEND, payload)?;
                out.entry(chunk.document).or_default().push(StoredRef {
                    chunk_id: chunk.id,
                    anchor: chunk.anchor,
                });
            }
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    async fn search(&self, query: &IndexQuery) -> Result<Vec<IndexHit>, IndexError> {
        let filter = filter(&query.filter);
        let prefetch = |using: &str, vector: VectorInternal| Prefetch {
            prefetches: vec![],
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                query: vector,
                using: Some(using.to_string()),
            }))),
            limit: query.candidates.max(query.limit),
            params: None,
            filter: filter.clone(),
            score_threshold: None,
        };
        let mut prefetches = vec![prefetch(DENSE, VectorInternal::Dense(query.dense.clone()))];
        if !query.sparse.indices.is_empty() {
            prefetches.push(prefetch(SPARSE, sparse(&query.sparse)?.0));
        }
        let points = self
            .shard
            .query(QueryRequest {
                prefetches,
                query: Some(ScoringQuery::Fusion(Fusion::Rrf {
                    k: RRF_K,
                    weights: None,
                })),
                filter: None,
                score_threshold: None,
                limit: query.limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Selector(vec![DENSE.into()]),
                with_payload: WithPayloadInterface::Bool(true),
            })
            .map_err(op_err)?;
        points
            .into_iter()
            .map(|p| {
                let similarity = dense_of(p.vector)
                    .map(|v| cosine(&query.dense, &v))
                    .unwrap_or(0.0);
                let payload = serde_json::Value::Object(p.payload.map(|p| p.0).unwrap_or_default());
                Ok(IndexHit {
                    chunk: chunk_from_payload(BACKEND, payload)?,
                    fused: p.score,
                    similarity,
                })
            })
            .collect()
    }

    async fn optimize(&self) -> Result<(), IndexError> {
        self.shard.optimize().map_err(op_err)?;
        self.index_filtered_fields()
    }
}
