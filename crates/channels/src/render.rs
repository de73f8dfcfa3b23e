//! Replies are written once, in light markdown (the web chat and Chatwoot show it as is); each
//! channel gets the form it can display: plain text for SMS and email, WhatsApp's own markup,
//! and SMS text kept within GSM-7 and split where it would exceed a concatenated message.

/// Markdown-light → plain text: `**bold**`/`__bold__` lose their markers, `# heading` its
/// hashes, `[text](url)` becomes `text (url)`, list bullets become `-`.
pub fn plain_text(markdown: &str) -> String {
    map_lines(markdown, |line| {
        let line = strip_heading(line);
        let line = links(&line, |text, url| {
            if text == url {
                url.to_string()
            } else {
                format!("{text} ({url})")
            }
        });
        let line = line.replace("**", "").replace("__", "");
        bullet(&line, "- ")
    })
}

/// Markdown-light → WhatsApp markup: bold is `*x*`, headings become bold lines, links
/// `text: url` (WhatsApp links bare URLs itself).
pub fn whatsapp(markdown: &str) -> String {
    map_lines(markdown, |line| {
        let heading = strip_heading(line);
        let line = if heading.len() != line.len() && !heading.trim().is_empty() {
            format!("*{}*", heading.trim())
        } else {
            line.to_string()
        };
        let line = links(&line, |text, url| {
            if text == url {
                url.to_string()
            } else {
                format!("{text}: {url}")
            }
        });
        let line = line.replace("**", "*").replace("__", "_");
        bullet(&line, "• ")
    })
}

/// Markdown-light → the small HTML part of an email reply: paragraphs (a line break within one
/// kept), bulleted and numbered lists, headings as bold lines, bold, and links (markdown links
/// and bare URLs). Styled inline, since mail clients drop style sheets; every piece of text is
/// escaped. One element a line, so the part stays within SMTP's line limits.
pub fn email_html(markdown: &str) -> String {
    const P: &str = "<p style=\"margin:0 0 12px\">";
    const LIST: &str = "style=\"margin:0 0 12px 20px;padding:0\"";
    let mut html = String::from(
        "<div style=\"font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
         font-size:15px;line-height:1.5;color:#1f2328\">\n",
    );
    // What is open: a paragraph, a list (its closing tag), or nothing.
    let mut open: Option<&str> = None;
    let close = |html: &mut String, open: &mut Option<&str>| {
        if let Some(tag) = open.take() {
            html.push_str(tag);
            html.push('\n');
        }
    };
    for line in markdown.lines() {
        let line = line.trim();
        if line.is_empty() {
            close(&mut html, &mut open);
            continue;
        }
        let item = ["- ", "* ", "+ ", "• "]
            .iter()
            .find_map(|b| line.strip_prefix(b))
            .map(|item| ("</ul>", item))
            .or_else(|| numbered_item(line).map(|item| ("</ol>", item)));
        match item {
            Some((list, item)) => {
                if open != Some(list) {
                    close(&mut html, &mut open);
                    html.push_str(&format!("<{} {LIST}>\n", &list[2..4]));
                    open = Some(list);
                }
                html.push_str(&format!("<li>{}</li>\n", inline_html(item)));
            }
            None => {
                let heading = strip_heading(line);
                let text = if heading.len() != line.len() {
                    format!("<strong>{}</strong>", inline_html(heading.trim()))
                } else {
                    inline_html(line)
                };
                if open == Some("</p>") {
                    html.push_str("<br>\n");
                } else {
                    close(&mut html, &mut open);
                    html.push_str(P);
                    open = Some("</p>");
                }
                html.push_str(&text);
            }
        }
    }
    close(&mut html, &mut open);
    html.push_str("</div>\n");
    html
}

/// The text of a numbered list item (`1. `, `2) `).
fn numbered_item(line: &str) -> Option<&str> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = &line[digits..];
    (digits > 0)
        .then(|| rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")))
        .flatten()
}

/// One line's text as HTML: escaped, `**bold**` strong, `[text](url)` and bare `http(s)` URLs
/// links.
fn inline_html(line: &str) -> String {
    // Markdown links first, marked out so their text is not searched for URLs again.
    let mut out = String::new();
    let linked = links(line, |text, url| format!("\u{1}{url}\u{2}{text}\u{3}"));
    let mut strong = false;
    let mut rest = linked.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**") {
            out.push_str(if strong { "</strong>" } else { "<strong>" });
            strong = !strong;
            rest = after;
        } else if c == '\u{1}' {
            let (url, after) = rest[1..].split_once('\u{2}').unwrap_or((&rest[1..], ""));
            let (text, after) = after.split_once('\u{3}').unwrap_or((after, ""));
            out.push_str(&anchor(url, &escape(text)));
            rest = after;
        } else if rest.starts_with("https://") || rest.starts_with("http://") {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
                .unwrap_or(rest.len());
            // A sentence's full stop or closing bracket is not part of the address.
            let url = rest[..end].trim_end_matches(['.', ',', ')', '!', '?', ';', ':']);
            out.push_str(&anchor(url, &escape(url)));
            rest = &rest[url.len()..];
        } else {
            out.push_str(&escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

fn anchor(url: &str, text: &str) -> String {
    format!(
        "<a href=\"{}\" style=\"color:#0969da\">{text}</a>",
        escape(url)
    )
}

/// Text escaped for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn map_lines(text: &str, f: impl Fn(&str) -> String) -> String {
    text.lines().map(f).collect::<Vec<_>>().join("\n")
}

fn strip_heading(line: &str) -> String {
    let trimmed = line.trim_start();
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        trimmed[hashes..].trim_start().to_string()
    } else {
        line.to_string()
    }
}

fn bullet(line: &str, marker: &str) -> String {
    let indent = line.len() - line.trim_start().len();
    let rest = &line[indent..];
    for b in ["* ", "- ", "+ "] {
        if let Some(item) = rest.strip_prefix(b) {
            return format!("{}{marker}{item}", &line[..indent]);
        }
    }
    line.to_string()
}

/// Rewrite every `[text](url)` with `f(text, url)`.
fn links(line: &str, f: impl Fn(&str, &str) -> String) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let parsed = after.find("](").and_then(|close| {
            let url_part = &after[close + 2..];
            url_part
                .find(')')
                .map(|end| (&after[..close], &url_part[..end], close + 2 + end + 1))
        });
        match parsed {
            Some((text, url, used)) if !text.contains('[') && !url.contains(' ') => {
                out.push_str(&rest[..open]);
                out.push_str(&f(text, url));
                rest = &after[used..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How an SMS body is encoded, which sets how many characters fit in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsEncoding {
    /// The GSM 03.38 alphabet: 160 characters alone, 153 per segment when concatenated.
    Gsm7,
    /// Anything else (emoji, most non-Latin scripts): 70 alone, 67 per segment.
    Ucs2,
}

/// The GSM 03.38 basic alphabet.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the GSM extension table: each takes two septets.
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// The septets a GSM-7 character takes, or `None` if it is not in the alphabet.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// How long an SMS body is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsLength {
    /// The encoding the body forces.
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Segments the carrier bills and sends.
    pub segments: usize,
}

/// Measure an SMS body.
pub fn sms_length(text: &str) -> SmsLength {
    let gsm: Option<usize> = text.chars().map(gsm_septets).sum();
    let (encoding, units, single, multi) = match gsm {
        Some(septets) => (SmsEncoding::Gsm7, septets, 160, 153),
        None => (SmsEncoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    SmsLength {
        encoding,
        units,
        segments,
    }
}

/// Typography that would force a whole SMS into UCS-2 (tripling its cost), replaced by its
/// GSM-7 look-alike.
fn gsm_friendly(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '‘' | '’' | '´' | '`' => "'".to_string(),
            '“' | '”' | '«' | '»' => "\"".to_string(),
            '–' | '—' | '−' => "-".to_string(),
            '…' => "...".to_string(),
            '\u{00A0}' => " ".to_string(),
            '•' => "-".to_string(),
            other => other.to_string(),
        })
        .collect()
}

/// The most segments one SMS may take before it is sent as several (Twilio's limit is 10,
/// i.e. 1,600 characters).
pub const MAX_SMS_SEGMENTS: usize = 10;

/// A reply as SMS bodies: plain text, GSM-7 where the content allows, and split at paragraph
/// (then sentence, then word) boundaries so no body exceeds `max_segments`.
pub fn sms(markdown: &str, max_segments: usize) -> Vec<String> {
    let text = gsm_friendly(&plain_text(markdown));
    split_where(&text, |s| sms_length(s).segments <= max_segments.max(1))
}

/// `text` as messages of at most `max_chars` characters each, split at paragraph (then
/// sentence, then word) boundaries.
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    split_where(text, |s| s.chars().count() <= max_chars.max(1))
}

/// `text` as pieces that each satisfy `fits`, split at paragraph, sentence and word
/// boundaries, and inside a word only when one word alone does not fit.
fn split_where(text: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if fits(text) {
        return vec![text.to_string()];
    }
    let mut bodies: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in split_keeping(text) {
        let candidate = format!("{current}{piece}");
        if fits(candidate.trim()) {
            current = candidate;
            continue;
        }
        if !current.trim().is_empty() {
            bodies.push(current.trim().to_string());
        }
        current = piece.to_string();
        // A single piece longer than the limit: cut it by characters.
        while !fits(current.trim()) {
            let mut cut = String::new();
            for c in current.chars() {
                if !fits(&format!("{cut}{c}")) {
                    break;
                }
                cut.push(c);
            }
            let taken = cut.len();
            bodies.push(cut.trim().to_string());
            current = current[taken..].to_string();
        }
    }
    if !current.trim().is_empty() {
        bodies.push(current.trim().to_string());
    }
    bodies
}

/// Split after paragraph breaks, sentence ends and spaces, keeping the separators.
fn split_keeping(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' || c == '\n' {
            pieces.push(&text[start..i + 1]);
            start = i + 1;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reflowed_answer_reads_whole_with_its_source_linked_on_each_channel() {
        let paragraph = "Refunds to a gift card are immediate. Refunds to a card take 5 to 7 \
                         business days after we process them.";
        let url = "https://help.shop.example/refund-timing";
        let answer = format!("{paragraph}\n\n(Source: [When will I get my refund?]({url}))");
        // Plain text (Telegram, the plain part of an email): the paragraph on one line, the
        // address written out.
        let plain = plain_text(&answer);
        assert_eq!(
            plain.lines().collect::<Vec<_>>(),
            [
                paragraph,
                "",
                &format!("(Source: When will I get my refund? ({url}))")
            ]
        );
        // WhatsApp links bare addresses itself.
        let wa = whatsapp(&answer);
        assert!(wa.starts_with(&format!("{paragraph}\n")), "{wa}");
        assert!(
            wa.contains(&format!("When will I get my refund?: {url}")),
            "{wa}"
        );
        // Email HTML: one paragraph, no line break inside it, the source a link.
        let html = email_html(&answer);
        assert!(html.contains(&format!(">{paragraph}</p>")), "{html}");
        assert!(!html.contains("<br"), "{html}");
        assert!(
            html.contains(&format!(
                "<a href=\"{url}\" style=\"color:#0969da\">When will I get my refund?</a>"
            )),
            "{html}"
        );
        // SMS (no link is added there): the paragraph whole, split only by segment.
        let segments = sms(paragraph, 3);
        assert_eq!(segments.concat().replace('\n', " ").trim(), paragraph);
    }

    #[test]
    fn email_html_has_paragraphs_lists_bold_and_links_and_escapes_the_rest() {
        let html = email_html(
            "Your order **#W0000002** has shipped.\nTrack it at https://track.example/W2?a=1&b=2.\n\n\
             You can:\n- return it within [30 days](https://shop.example/returns)\n\
             - ask <us> anything\n\n1. Pack it\n2. Drop it off\n\n## Questions?",
        );
        assert_eq!(
            html.lines().skip(1).collect::<Vec<_>>(),
            vec![
                "<p style=\"margin:0 0 12px\">Your order <strong>#W0000002</strong> has shipped.<br>",
                "Track it at <a href=\"https://track.example/W2?a=1&amp;b=2\" style=\"color:#0969da\">https://track.example/W2?a=1&amp;b=2</a>.</p>",
                "<p style=\"margin:0 0 12px\">You can:</p>",
                "<ul style=\"margin:0 0 12px 20px;padding:0\">",
                "<li>return it within <a href=\"https://shop.example/returns\" style=\"color:#0969da\">30 days</a></li>",
                "<li>ask &lt;us&gt; anything</li>",
                "</ul>",
                "<ol style=\"margin:0 0 12px 20px;padding:0\">",
                "<li>Pack it</li>",
                "<li>Drop it off</li>",
                "</ol>",
                "<p style=\"margin:0 0 12px\"><strong>Questions?</strong></p>",
                "</div>",
            ]
        );
        assert!(
            html.lines().all(|l| l.len() < 998),
            "within SMTP's line limit"
        );
    }

    #[test]
    fn plain_text_drops_markdown_but_keeps_links_readable() {
        let md = "## Returns\n**Within 30 days**, see [our policy](https://shop.example/returns).\n* one\n- two";
        assert_eq!(
            plain_text(md),
            "Returns\nWithin 30 days, see our policy (https://shop.example/returns).\n- one\n- two"
        );
    }

    #[test]
    fn whatsapp_uses_its_own_markup() {
        let md = "# Order\n**Shipped** via [tracking](https://t.example/1)\n- item";
        assert_eq!(
            whatsapp(md),
            "*Order*\n*Shipped* via tracking: https://t.example/1\n• item"
        );
    }

    #[test]
    fn not_a_link_is_left_alone() {
        assert_eq!(plain_text("[1] and [x](no close"), "[1] and [x](no close");
    }

    #[test]
    fn sms_length_counts_segments_per_encoding() {
        assert_eq!(
            sms_length(&"a".repeat(160)),
            SmsLength {
                encoding: SmsEncoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(sms_length(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(307)).segments, 3);
        // The extension table takes two septets.
        assert_eq!(sms_length("€").units, 2);
        // One emoji forces UCS-2 (two UTF-16 units).
        let emoji = format!("{}😀", "a".repeat(68));
        assert_eq!(sms_length(&emoji).encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_length(&emoji).units, 70);
        assert_eq!(sms_length(&emoji).segments, 1);
        assert_eq!(sms_length(&format!("{emoji}b")).segments, 2);
    }

    #[test]
    fn sms_keeps_gsm7_for_typographic_quotes_and_splits_long_replies() {
        let bodies = sms("It’s “done” – thanks…", 10);
        assert_eq!(bodies, vec!["It's \"done\" - thanks...".to_string()]);
        assert_eq!(sms_length(&bodies[0]).encoding, SmsEncoding::Gsm7);

        let long = "Sentence number one is here. ".repeat(20);
        let bodies = sms(&long, 1);
        assert!(bodies.len() > 1);
        for body in &bodies {
            assert!(sms_length(body).segments <= 1, "{body}");
        }
        assert_eq!(
            bodies.join(" ").split_whitespace().count(),
            long.split_whitespace().count(),
            "no word lost"
        );
    }

    #[test]
    fn a_word_longer_than_a_segment_is_cut() {
        let bodies = sms(&"x".repeat(400), 1);
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies.concat().len(), 400);
    }
}
