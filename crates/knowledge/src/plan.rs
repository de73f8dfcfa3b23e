//! Incremental ingest: what to embed, what to delete and what to keep, from the ids already
//! indexed and the chunks the documents give now. Unchanged chunks are never re-embedded.

use crate::chunk::Chunk;
use std::collections::{BTreeMap, BTreeSet};

/// The work one ingest has to do.
#[derive(Debug, Default, PartialEq)]
pub struct IngestPlan {
    /// Chunks to embed and insert.
    pub added: Vec<Chunk>,
    /// Ids to delete (their text changed or their document is gone).
    pub removed: Vec<String>,
    /// How many chunks stay as they are.
    pub unchanged: usize,
}

impl IngestPlan {
    /// Compare the index (`indexed`: document → chunk ids) with the chunks of every document
    /// present now. Ids not among them (edited sections, deleted documents) are removed.
    pub fn between(indexed: &BTreeMap<String, BTreeSet<String>>, chunks: Vec<Chunk>) -> IngestPlan {
        let current: BTreeSet<String> = chunks.iter().map(|c| c.id.clone()).collect();
        let known: BTreeSet<&String> = indexed.values().flatten().collect();
        let mut plan = IngestPlan::default();
        for chunk in chunks {
            if known.contains(&chunk.id) {
                plan.unchanged += 1;
            } else {
                plan.added.push(chunk);
            }
        }
        plan.removed = indexed
            .values()
            .flatten()
            .filter(|id| !current.contains(*id))
            .cloned()
            .collect();
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunker;
    use crate::document::parse_document;

    #[test]
    fn only_what_changed_is_embedded_and_what_vanished_is_removed() {
        let chunker = Chunker::default();
        let v1 = [
            parse_document("a.md", "# A\n\nOne.\n\n## B\n\nTwo.\n").unwrap(),
            parse_document("gone.md", "# Gone\n\nSoon deleted.\n").unwrap(),
        ];
        let first = IngestPlan::between(
            &BTreeMap::new(),
            v1.iter().flat_map(|d| chunker.chunk(d)).collect(),
        );
        assert_eq!(
            (first.added.len(), first.removed.len(), first.unchanged),
            (3, 0, 0)
        );
        let mut indexed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in &first.added {
            indexed
                .entry(c.document.clone())
                .or_default()
                .insert(c.id.clone());
        }

        let v2 = [parse_document("a.md", "# A\n\nOne.\n\n## B\n\nTwo, edited.\n").unwrap()];
        let second =
            IngestPlan::between(&indexed, v2.iter().flat_map(|d| chunker.chunk(d)).collect());
        assert_eq!(second.unchanged, 1);
        assert_eq!(second.added.len(), 1);
        assert_eq!(second.added[0].text, "Two, edited.");
        assert_eq!(
            second.removed.len(),
            2,
            "the old section and the deleted document"
        );
    }
}
