//! The text of an HTML email, for mail that comes without a plain part: what the customer wrote,
//! as lines a turn can read. Markup goes, blocks and line breaks become line breaks, list items
//! bullets, entities their characters; what mail clients put around a reply goes too (the
//! document head, styles and scripts, quoted messages in `<blockquote>`, and everything from
//! the quoted-history wrapper Gmail, Outlook and Yahoo insert on).

/// Elements whose content is never the customer's text.
const HIDDEN: [&str; 5] = ["head", "style", "script", "title", "blockquote"];

/// Elements that end the line before them and their own.
const BLOCKS: [&str; 16] = [
    "p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section",
    "article", "hr",
];

/// Markers of the wrapper a mail client puts the quoted history in: the new text ends there.
const QUOTED_HISTORY: [&str; 5] = [
    "gmail_quote",
    "divrplyfwdmsg",
    "appendonsend",
    "yahoo_quoted",
    "moz-cite-prefix",
];

/// The text of `html`.
pub fn to_text(html: &str) -> String {
    let mut out = String::new();
    let mut hidden = 0usize;
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        if hidden == 0 {
            push_text(&mut out, &rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue; // a comment, a doctype or a processing instruction
        }
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if !closing {
            let attributes = tag.to_ascii_lowercase();
            if QUOTED_HISTORY.iter().any(|m| attributes.contains(m)) {
                rest = "";
                break;
            }
        }
        if HIDDEN.contains(&name.as_str()) {
            if closing {
                hidden = hidden.saturating_sub(1);
            } else if !tag.ends_with('/') {
                hidden += 1;
            }
            continue;
        }
        if hidden > 0 {
            continue;
        }
        if name == "br" {
            line_break(&mut out);
        } else if name == "li" && !closing {
            end_line(&mut out);
            out.push_str("• ");
        } else if BLOCKS.contains(&name.as_str()) {
            end_line(&mut out);
        }
    }
    if hidden == 0 {
        push_text(&mut out, rest);
    }
    out.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Text between tags: HTML whitespace collapsed to one space, entities decoded.
fn push_text(out: &mut String, text: &str) {
    let decoded = decode_entities(text);
    for word in decoded.split(|c: char| c.is_ascii_whitespace()) {
        if word.is_empty() {
            if !out.is_empty() && !out.ends_with([' ', '\n']) {
                out.push(' ');
            }
            continue;
        }
        out.push_str(word);
        out.push(' ');
    }
    if !text.ends_with(|c: char| c.is_ascii_whitespace()) && out.ends_with(' ') {
        out.pop();
    }
}

/// End the current line, if anything is on it.
fn end_line(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// A `<br>`: a new line, an empty one after an empty one (at most one blank line in a row).
fn line_break(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&apos;`, `&nbsp;` and numeric references.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(end) = rest.find(';').filter(|&end| end <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gmail_reply_reads_as_what_the_customer_wrote() {
        let html = r#"<html><head><style>p{color:red}</style></head><body>
            <div dir="ltr">Hi,<div><br></div><div>The kettle   arrived
            cracked &amp; leaks.&nbsp;Can I return it?</div>
            <ul><li>Order #W2378156</li><li>Paid by card</li></ul>
            <p>Thanks,<br>Ada</p></div><br>
            <div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Dec 1, 2026 at 9:00 AM Shop wrote:<br></div>
            <blockquote class="gmail_quote">Your order shipped.</blockquote></div></body></html>"#;
        assert_eq!(
            to_text(html),
            "Hi,\n\nThe kettle arrived cracked & leaks. Can I return it?\n• Order #W2378156\n• Paid by card\nThanks,\nAda"
        );
    }

    #[test]
    fn quoted_messages_comments_and_entities() {
        assert_eq!(
            to_text("<!-- x --><p>Where is &lt;my&gt; order&#33; &#x263A;</p><blockquote><p>old</p></blockquote><p>Bye</p>"),
            "Where is <my> order! ☺\nBye"
        );
        assert_eq!(to_text("no markup at all"), "no markup at all");
        assert_eq!(to_text("a & b &unknown; c"), "a & b &unknown; c");
        assert_eq!(to_text("<p>cut off <b"), "cut off");
    }
}
