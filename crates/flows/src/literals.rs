//! A check of an expression's literals before cel-parser sees them. cel-parser unwraps the
//! conversion of each literal its lexer matched, so some malformed ones panic instead of failing
//! to parse: an invalid escape in a string (`"\i"`), an integer out of range
//! (`99999999999999999999`), a negative unsigned hex (`-0x1u`). A flow file must never crash the
//! loader (nor, under the fuzzer's abort-on-panic, anything else), so the literals are found here
//! the way that lexer finds them and converted with cel-parser's own functions, and an
//! expression nested deeper than the evaluator should recurse is refused too.

/// How deep brackets may nest in one expression.
pub const MAX_NESTING: usize = 64;
/// The longest expression, in bytes.
pub const MAX_LENGTH: usize = 4096;

fn is_ident(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// `Err(why)` for a literal that cel-parser would panic on, or an expression too deep or long.
pub fn check(source: &str) -> Result<(), String> {
    if source.len() > MAX_LENGTH {
        return Err(format!(
            "is {} bytes long; an expression may have at most {MAX_LENGTH}",
            source.len()
        ));
    }
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let before = |k: usize| k.checked_sub(1).map(|p| chars[p].1);
    let mut depth = 0usize;
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "nests brackets more than {MAX_NESTING} deep (at byte {at})"
                    ));
                }
                k += 1;
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                k += 1;
            }
            '"' | '\'' => {
                // The lexer's string: quote, then (non-quote non-backslash | backslash any)*, quote.
                let mut end = k + 1;
                let mut closed = false;
                while end < chars.len() {
                    match chars[end].1 {
                        '\\' => end += 2,
                        q if q == c => {
                            closed = true;
                            break;
                        }
                        _ => end += 1,
                    }
                }
                if !closed {
                    return Ok(()); // unterminated: a parse error, not a panic
                }
                let token_end = chars.get(end + 1).map_or(source.len(), |&(i, _)| i);
                let quoted = &source[at..token_end];
                // A prefix letter belongs to the literal unless it ends an identifier.
                let prefix = before(k).filter(|p| {
                    matches!(p, 'r' | 'R' | 'b' | 'B') && !before(k - 1).is_some_and(is_ident)
                });
                let converted = match prefix {
                    Some('r' | 'R') => cel_parser::parse_string(&format!("r{quoted}")).map(drop),
                    Some(_) => cel_parser::parse_bytes(&quoted[1..quoted.len() - 1]).map(drop),
                    None => cel_parser::parse_string(quoted).map(drop),
                };
                converted
                    .map_err(|e| format!("has a malformed literal {quoted} at byte {at}: {e:?}"))?;
                k = end + 1;
            }
            '0'..='9' if !before(k).is_some_and(|p| is_ident(p) || p == '.') => {
                k = number(source, &chars, k)?;
            }
            _ => k += 1,
        }
    }
    Ok(())
}

/// Check the number starting at `chars[k]`; the index after it.
fn number(source: &str, chars: &[(usize, char)], k: usize) -> Result<usize, String> {
    let negative = k > 0 && chars[k - 1].1 == '-';
    let at = chars[if negative { k - 1 } else { k }].0;
    let peek = |i: usize| chars.get(i).map(|&(_, c)| c);
    let hex = peek(k) == Some('0')
        && matches!(peek(k + 1), Some('x' | 'X'))
        && peek(k + 2).is_some_and(|c| c.is_ascii_hexdigit());
    let (digits_from, radix) = if hex { (k + 2, 16) } else { (k, 10) };
    let mut end = digits_from;
    while peek(end).is_some_and(|c| c.is_digit(radix)) {
        end += 1;
    }
    let digits: String = chars[digits_from..end].iter().map(|&(_, c)| c).collect();
    if !hex {
        // A fraction or an exponent makes it a float, which always converts.
        let fraction = peek(end) == Some('.') && peek(end + 1).is_some_and(|c| c.is_ascii_digit());
        let exponent = matches!(peek(end), Some('e' | 'E'))
            && (peek(end + 1).is_some_and(|c| c.is_ascii_digit())
                || (matches!(peek(end + 1), Some('+' | '-'))
                    && peek(end + 2).is_some_and(|c| c.is_ascii_digit())));
        if fraction || exponent {
            return Ok(float_end(chars, end));
        }
    }
    let unsigned = matches!(peek(end), Some('u' | 'U'));
    let sign = if negative { "-" } else { "" };
    let fits = match (unsigned && (hex || !negative), hex) {
        // `-0x…u` is lexed as an unsigned literal that cannot convert.
        (true, true) => !negative && u64::from_str_radix(&digits, 16).is_ok(),
        (true, false) => digits.parse::<u64>().is_ok(),
        (false, true) => i64::from_str_radix(&format!("{sign}{digits}"), 16).is_ok(),
        (false, false) => format!("{sign}{digits}").parse::<i64>().is_ok(),
    };
    if !fits {
        let end_byte = chars
            .get(end + usize::from(unsigned))
            .map_or(source.len(), |&(i, _)| i);
        return Err(format!(
            "has an integer literal out of range: {} at byte {at}",
            &source[at..end_byte]
        ));
    }
    Ok(end)
}

/// The index after a float whose integer part ends at `end` (before its `.` or exponent).
fn float_end(chars: &[(usize, char)], mut end: usize) -> usize {
    let peek = |i: usize| chars.get(i).map(|&(_, c)| c);
    let digits = |mut i: usize| {
        while peek(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        i
    };
    if peek(end) == Some('.') {
        end = digits(end + 1);
    }
    if matches!(peek(end), Some('e' | 'E')) {
        let after_sign = if matches!(peek(end + 1), Some('+' | '-')) {
            end + 2
        } else {
            end + 1
        };
        if peek(after_sign).is_some_and(|c| c.is_ascii_digit()) {
            end = digits(after_sign);
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_literals_pass() {
        for ok in [
            r#"reason == "damaged\n" && code == '\x41\u00e9\101'"#,
            r#"matches(order_id, r"^#W\d{7}$")"#,
            r#"b"\xff\000" == b'\377'"#,
            "count > -9223372036854775808 && count < 9223372036854775807",
            "n < 18446744073709551615u && m == 0xffu && k == -0x7fffffffffffffff",
            "amount > 123456789012345678901234567890.5 && x < 1e400",
            "slot2 == 3 || order.items[0].price > 10 || x < 2.5e-99999999999999999999",
            "\"unterminated",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn literals_cel_parser_would_panic_on_are_refused() {
        for (bad, says) in [
            (r#"reason == "p\ing""#, "malformed literal"),
            (r#"reason == '\uD800'"#, "malformed literal"),
            (r#"b"\q" == x"#, "malformed literal"),
            ("n > 99999999999999999999", "out of range"),
            ("n > -9223372036854775809", "out of range"),
            ("n > 18446744073709551616u", "out of range"),
            ("n > 0x8000000000000000", "out of range"),
            ("n > -0x1u", "out of range"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn deep_or_huge_expressions_are_refused() {
        let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
        assert!(check(&deep).unwrap_err().contains("nests brackets"));
        let fine = format!("{}1{}", "(".repeat(64), ")".repeat(64));
        assert_eq!(check(&fine), Ok(()));
        let long = "a".repeat(MAX_LENGTH + 1);
        assert!(check(&long).unwrap_err().contains("at most"));
    }
}
