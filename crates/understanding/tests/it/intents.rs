//! The local router on public intent datasets (vendored in evals/datasets): each
//! is split by a stable hash into router examples, a calibration part and a held-out part; the
//! figures asserted here are on the held-out part. Vectors are cached in the build folder, so
//! only the first run on a machine pays for embedding ~30k sentences.

use crate::common;

use frontline_understanding::eval::{banking77, clinc150, evaluate_intents};

fn progress(done: usize, total: usize) {
    if done == total || done % 4096 < 64 {
        eprintln!("embedded {done}/{total}");
    }
}

#[tokio::test]
async fn banking77_held_out_accuracy_is_at_least_090() {
    let split = banking77(&common::datasets().join("banking77/train.csv")).unwrap();
    assert!(split.test.len() > 800 && split.train.len() > 7000);
    let report = evaluate_intents(
        common::cached_minilm("banking77"),
        &split,
        &[1, 2, 3, 5],
        &progress,
    )
    .await
    .unwrap();
    println!("{report}");
    assert!(
        report.test.in_scope_accuracy >= 0.90,
        "Banking77 held-out accuracy {:.3}",
        report.test.in_scope_accuracy
    );
}

#[tokio::test]
async fn clinc150_in_scope_accuracy_and_out_of_scope_recall() {
    let split = clinc150(
        &common::datasets().join("clinc150/train_val.json"),
        Some(&common::repo().join("evals/understanding/clinc150_out_of_scope.yaml")),
    )
    .unwrap();
    assert_eq!(split.train.len(), 15_000);
    let report = evaluate_intents(
        common::cached_minilm("clinc150"),
        &split,
        &[1, 2, 3, 5],
        &progress,
    )
    .await
    .unwrap();
    println!("{report}");
    // The targets, held out: in-scope accuracy >= 0.93 with out-of-scope recall
    // >= 0.75. The k-NN router alone reached 0.850 / 0.927 (top-1 0.908); the trained intent
    // head, with similarity still gating the scope, is what the calibration picks.
    assert!(
        report.settings.head,
        "the calibration picks the intent head"
    );
    assert!(
        report.test.in_scope_accuracy >= 0.93,
        "CLINC150 held-out in-scope accuracy {:.3}",
        report.test.in_scope_accuracy
    );
    assert!(
        report.test.oos_recall >= 0.75,
        "CLINC150 held-out out-of-scope recall {:.3}",
        report.test.oos_recall
    );
    // The out-of-scope side is widened with frontline's own negatives (near misses of the 150
    // intents, evals/understanding/clinc150_out_of_scope.yaml): half calibrates, the other half
    // is held out and must be refused as often, and few out-of-scope messages start anything.
    let own = report.own_negatives.expect("own negatives held out");
    assert!(
        own.out_of_scope >= 60,
        "{} own negatives held out",
        own.out_of_scope
    );
    assert!(
        own.oos_recall >= 0.75,
        "own negatives refused {:.3}",
        own.oos_recall
    );
    assert!(
        report.false_start_rate <= 0.25,
        "false starts {:.3}",
        report.false_start_rate
    );
    assert!(
        report.test.top1_accuracy >= 0.95,
        "top-1 {:.3}",
        report.test.top1_accuracy
    );
}
