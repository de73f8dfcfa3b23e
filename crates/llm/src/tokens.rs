//! Token counting with tiktoken-rs (cl100k, the encoding most OpenAI-compatible chat models are
//! budgeted in; for other tokenizers it is a close, slightly conservative estimate).

/// Tokens in `text`.
pub fn count(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// The longest suffix of `items` (oldest first) whose token count, each item measured by
/// `text_of`, fits in `budget`: the most recent history that fits.
pub fn latest_within<T>(items: &[T], budget: usize, text_of: impl Fn(&T) -> &str) -> &[T] {
    let mut used = 0;
    let mut start = items.len();
    for (i, item) in items.iter().enumerate().rev() {
        // Four tokens of framing per message, as chat templates add.
        let cost = count(text_of(item)) + 4;
        if used + cost > budget {
            break;
        }
        used += cost;
        start = i;
    }
    &items[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_budgets() {
        assert_eq!(count(""), 0);
        assert!(count("Where is my order #W1234567?") >= 6);
        let items = ["one two three", "four five six", "seven eight nine"];
        let fit = latest_within(&items, 2 * (count("four five six") + 4), |s| s);
        assert_eq!(fit, &items[1..]);
        assert!(latest_within(&items, 0, |s| s).is_empty());
        assert_eq!(latest_within(&items, 10_000, |s| s), &items[..]);
    }
}
