//! Personal data never reaches the logs: every line the log writer is handed has its email
//! addresses, phone numbers and payment card numbers replaced before it is written, whatever
//! the code that logged it put in its fields or message. Conversations keep the real values in
//! the store; logs are for operators.

use regex::Regex;
use std::io::Write;
use std::sync::LazyLock;
use tracing_subscriber::fmt::MakeWriter;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("email pattern")
});
/// Runs of 15 to 19 digits, optionally grouped by single spaces or dashes (card numbers; 13-digit
/// epoch milliseconds are left alone).
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ \-]?\d){14,18}\b").expect("card pattern"));
/// E.164 numbers (how frontline writes every phone) and the common written forms of North
/// American numbers.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+\d{7,15}\b|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}\b|\b\d{3}[\s.\-]\d{3}[\s.\-]\d{4}\b")
        .expect("phone pattern")
});

/// True when the digits of `s` pass the Luhn check (every payment card number does).
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// `text` with emails, card numbers and phone numbers replaced by `[email]`, `[card]`, `[phone]`.
pub fn redact(text: &str) -> String {
    let out = EMAIL.replace_all(text, "[email]");
    let out = CARD.replace_all(&out, |c: &regex::Captures<'_>| {
        if luhn(&c[0]) {
            "[card]".to_string()
        } else {
            c[0].to_string()
        }
    });
    PHONE.replace_all(&out, "[phone]").into_owned()
}

/// A log writer factory whose writers redact each line.
pub struct Redacting<M>(pub M);

/// A writer that redacts what it is given (tracing hands it one whole event at a time).
pub struct RedactingWriter<W>(W);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_phones_and_cards_are_replaced() {
        let line = "turn customer=ada.lovelace1000@example.com phone=+14155550123 \
                    text=\"call me on (415) 555-0123 or 415.555.0124, card 4111 1111 1111 1111 \
                    or 5500-0000-0000-0004\"";
        let clean = redact(line);
        for pii in [
            "ada.lovelace1000@example.com",
            "+14155550123",
            "(415) 555-0123",
            "415.555.0124",
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
        ] {
            assert!(!clean.contains(pii), "{pii} left in {clean}");
        }
        assert_eq!(clean.matches("[email]").count(), 1, "{clean}");
        assert_eq!(clean.matches("[phone]").count(), 3, "{clean}");
        assert_eq!(clean.matches("[card]").count(), 2, "{clean}");
    }

    #[test]
    fn ids_times_and_order_numbers_are_left_alone() {
        let line = "2026-11-30T17:45:58.123Z INFO turn{conversation_id=0192d1f0-7c3a-7b1e-9a55-1c2d3e4f5a6b \
                    at=1764524758123}: order #W0000002 total 1234.56 seq=42 \
                    not a card: 1234567890123456";
        assert_eq!(redact(line), line);
        assert!(!luhn("1234567890123456"));
        assert!(luhn("4111111111111111"));
    }

    #[test]
    fn the_writer_redacts_what_it_writes() {
        let mut out = vec![];
        {
            let mut w = RedactingWriter(&mut out);
            w.write_all(b"message from grace@example.com\n").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "message from [email]\n");
    }
}
