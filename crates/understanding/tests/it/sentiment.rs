//! The lexicon sentiment scorer on the labelled set `evals/understanding/sentiment.yaml`.

use crate::common;

use frontline_understanding::sentiment::score;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    message: String,
    label: String,
}

#[test]
fn labels_at_least_nine_in_ten_support_messages_right() {
    let text =
        std::fs::read_to_string(common::repo().join("evals/understanding/sentiment.yaml")).unwrap();
    let cases: Vec<Case> = serde_norway::from_str(&text).unwrap();
    assert!(cases.len() >= 50);
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let got = score(&c.message);
            (got.label() != c.label).then(|| {
                format!(
                    "{:?}: expected {}, got {} ({:.2})",
                    c.message,
                    c.label,
                    got.label(),
                    got.compound
                )
            })
        })
        .collect();
    let accuracy = 1.0 - wrong.len() as f64 / cases.len() as f64;
    println!(
        "sentiment accuracy {accuracy:.3} on {} messages",
        cases.len()
    );
    assert!(
        accuracy >= 0.90,
        "accuracy {accuracy:.3}:\n{}",
        wrong.join("\n")
    );
    // No negative message reads as positive, or the reverse.
    let flipped: Vec<&String> = cases
        .iter()
        .filter(|c| {
            let got = score(&c.message).label();
            (c.label == "negative" && got == "positive")
                || (c.label == "positive" && got == "negative")
        })
        .map(|c| &c.message)
        .collect();
    assert!(flipped.is_empty(), "{flipped:?}");
}
