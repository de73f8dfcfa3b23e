//! Detection measured on `evals/understanding/languages.tsv`: 305 short customer messages in
//! English, Spanish and German, and 50 that carry no language (ids, digits, emails, one-word
//! replies). Prints the figures; asserts that no message without a language is given one, that
//! a wrong reading stays rare, and that none of the set flips a conversation's language.

use frontline_language::{plainly_in, settle, Detector, Said};
use std::collections::BTreeMap;

fn labelled() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../evals/understanding/languages.tsv"
    );
    let text = std::fs::read_to_string(path).expect("the labelled set is in the repo");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (label, message) = l.split_once('\t').expect("label<TAB>message");
            (label.to_string(), message.to_string())
        })
        .collect()
}

#[test]
fn detection_on_the_labelled_short_messages() {
    let set = labelled();
    assert!(
        set.len() >= 300,
        "at least 300 labelled messages, got {}",
        set.len()
    );
    let detector = Detector::new();
    let (mut right, mut wrong, mut none) = (0usize, 0usize, 0usize);
    let mut by_label: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut mistakes = Vec::new();
    let mut given_to_none = Vec::new();
    let mut unread = Vec::new();
    for (label, message) in &set {
        let read = detector.read(message).map(|r| r.language);
        let entry = by_label.entry(label.as_str()).or_default();
        match (label.as_str(), read) {
            ("-", None) => {
                right += 1;
                entry.0 += 1;
            }
            ("-", Some(l)) => given_to_none.push(format!("{message:?} → {l}")),
            (_, None) => {
                none += 1;
                unread.push(message.clone());
                entry.2 += 1;
            }
            (expected, Some(l)) if l == expected => {
                right += 1;
                entry.0 += 1;
            }
            (_, Some(l)) => {
                wrong += 1;
                entry.1 += 1;
                mistakes.push(format!("{message:?} ({label}) → {l}"));
            }
        }
    }
    let n = set.len() as f64;
    println!(
        "{} messages: {:.1}% right, {:.1}% wrong, {:.1}% no language read",
        set.len(),
        100.0 * right as f64 / n,
        100.0 * (wrong + given_to_none.len()) as f64 / n,
        100.0 * none as f64 / n
    );
    for (label, (r, w, no)) in &by_label {
        println!("  {label}: {r} right, {w} wrong, {no} none");
    }
    for m in mistakes.iter().chain(&given_to_none) {
        println!("  wrong: {m}");
    }
    println!("  no language read: {unread:?}");
    // A reading on one of these is harmless while it cannot flip a conversation (the test
    // below), but it should stay rare.
    assert!(
        given_to_none.len() * 10 <= by_label.get("-").map_or(0, |e| e.0 + given_to_none.len()),
        "messages without a language were given one: {given_to_none:?}"
    );
    assert!(
        (wrong as f64) / n <= 0.03,
        "a wrong language is worse than none: {wrong} wrong readings"
    );
}

/// The shortcut that spares the models (a message plainly in the conversation's language, by
/// its function words) never takes a message for a language it is not in, whichever of the
/// shipped languages the conversation speaks; prints how many messages it reads.
#[test]
fn messages_plainly_in_a_language_are_in_it() {
    let set = labelled();
    let mut wrong = Vec::new();
    let mut spared = 0;
    let spoken = set.iter().filter(|(l, _)| l != "-").count();
    for (label, message) in &set {
        for language in ["en", "es", "de"] {
            if plainly_in(message, language) {
                if label == language {
                    spared += 1;
                } else {
                    wrong.push(format!("{message:?} ({label}) taken for {language}"));
                }
            }
        }
    }
    println!(
        "{spared} of {spoken} messages with a language read by their function words, {} wrongly",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The shortcut is worth having: most whole sentences show their language plainly.
    assert!(spared * 2 >= spoken, "only {spared} of {spoken}");
}

/// No message of the set, alone, changes the language of a conversation that has one: two
/// readings in each shipped language, then the message.
#[test]
fn no_message_of_the_set_flips_a_conversation() {
    let detector = Detector::new();
    let set = labelled();
    for language in ["en", "es", "de"] {
        for (label, message) in &set {
            // As the agent reads it: expecting the conversation's language.
            let reading = detector
                .read_expecting(message, language)
                .map(|r| r.language);
            let said = [
                Said {
                    language: Some(language),
                    preference: None,
                },
                Said {
                    language: Some(language),
                    preference: None,
                },
                Said {
                    language: reading.as_deref(),
                    preference: None,
                },
            ];
            assert_eq!(
                settle(said),
                Some(language),
                "{message:?} ({label}) flipped a conversation in {language}"
            );
        }
    }
}
