//! The slot-extraction set (`evals/understanding/slots.yaml`): precision and recall of every
//! slot type must be at least 0.95 with the local understanding, and with the rule-based one for
//! every type but enums (whose paraphrases need the embedding match).

use crate::common;

use frontline_understanding::eval::{evaluate_slots, load_slot_set};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{LocalUnderstanding, RuleUnderstanding};

const FLOOR: f64 = 0.95;

#[tokio::test]
async fn every_slot_type_is_read_with_precision_and_recall_of_at_least_095() {
    let flows = common::flows("evals/understanding/flows");
    let set = load_slot_set(&common::repo().join("evals/understanding/slots.yaml")).unwrap();
    assert!(
        set.cases.len() >= 150,
        "the set has {} messages",
        set.cases.len()
    );

    let local =
        LocalUnderstanding::build(flows.clone(), common::minilm(), LocalSettings::default())
            .await
            .unwrap();
    let report = evaluate_slots(&local, &flows, "report_problem", &set)
        .await
        .unwrap();
    println!("{report}");
    for failure in &report.failures {
        println!("  {failure}");
    }
    assert!(report.by_type.len() >= 10, "{:?}", report.by_type.keys());
    for (kind, counts) in &report.by_type {
        assert!(
            counts.precision() >= FLOOR && counts.recall() >= FLOOR,
            "local {kind}: precision {:.3} recall {:.3}\n{}",
            counts.precision(),
            counts.recall(),
            report.failures.join("\n")
        );
    }

    let rules = RuleUnderstanding::new(flows.clone());
    let report = evaluate_slots(&rules, &flows, "report_problem", &set)
        .await
        .unwrap();
    println!("{report}");
    for (kind, counts) in &report.by_type {
        assert!(
            counts.precision() >= FLOOR,
            "rules {kind}: precision {:.3}",
            counts.precision()
        );
        if kind != "enum" {
            assert!(
                counts.recall() >= FLOOR,
                "rules {kind}: recall {:.3}",
                counts.recall()
            );
        }
    }
}
