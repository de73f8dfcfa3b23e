//! What reading a message's language costs a turn: the labelled set's 305 messages read many
//! times over (after a first pass that loads the models), with the time per message printed:
//! read by the models alone, and read as the agent does, expecting the conversation's language
//! (each message's own; English for those with none), where a message plainly in it is read by
//! its function words.
//! `cargo bench -p frontline-language`.

use frontline_language::{plainly_in, preference, Detector};
use std::time::Instant;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../evals/understanding/languages.tsv"
    );
    let text = std::fs::read_to_string(path).expect("the labelled set");
    let labelled: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(label, m)| (if label == "-" { "en" } else { label }, m))
        .collect();
    let messages: Vec<&str> = labelled.iter().map(|(_, m)| *m).collect();
    let started = Instant::now();
    let detector = Detector::new();
    for m in &messages {
        std::hint::black_box(detector.read(m));
    }
    println!(
        "first pass (loads the models): {:.1} ms for {} messages",
        started.elapsed().as_secs_f64() * 1e3,
        messages.len()
    );
    // `cargo test` runs this once as a check; `cargo bench` (`--bench`) measures.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        20
    } else {
        1
    };
    let mut alone = Vec::new();
    let mut expecting = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for m in &messages {
            std::hint::black_box(detector.read(m));
            std::hint::black_box(preference(m));
        }
        alone.push(started.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
        let started = Instant::now();
        for (language, m) in &labelled {
            std::hint::black_box(detector.read_expecting(m, language));
            std::hint::black_box(preference(m));
        }
        expecting.push(started.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
    }
    let spared = labelled
        .iter()
        .filter(|(language, m)| plainly_in(m, language))
        .count();
    for (label, mut per_message) in [
        ("read + preference", alone),
        (
            "read expecting the conversation's language + preference",
            expecting,
        ),
    ] {
        per_message.sort_by(f64::total_cmp);
        println!(
            "{label}, per message: p50 {:.1} µs, min {:.1} µs, max {:.1} µs ({rounds} rounds of {} messages)",
            per_message[rounds / 2],
            per_message[0],
            per_message[rounds - 1],
            messages.len()
        );
    }
    println!(
        "read by their function words, without the models: {spared} of {}",
        messages.len()
    );
}
