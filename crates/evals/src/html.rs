//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network) with the
//! run's figures and charts: pass rate per suite, turn latency, the flow confusion matrix and
//! step coverage per flow.

use crate::metrics::Prf;
use crate::report::Report;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// HTML-escape text.
fn esc(text: &str) -> String {
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

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eef;text-align:left}\
th{background:#f4f6fb}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{background:#f4f6fb;border-radius:8px;padding:10px 14px;min-width:120px}\
.tile b{display:block;font-size:20px}.bad{color:#b3261e}.good{color:#1b7a3a}\
.cm td{width:34px;height:26px;text-align:center;border:1px solid #fff}\
svg text{font:12px system-ui,sans-serif}";

/// Horizontal bars: (label, value 0–1, text shown after the bar).
fn bars(rows: &[(String, f64, String)]) -> String {
    let height = 22 * rows.len() + 10;
    let mut svg = format!(
        "<svg role=\"img\" width=\"760\" height=\"{height}\" viewBox=\"0 0 760 {height}\">"
    );
    for (i, (label, value, text)) in rows.iter().enumerate() {
        let y = 5 + i * 22;
        let width = (value.clamp(0.0, 1.0) * 440.0).round();
        let colour = if *value >= 0.999 {
            "#2e8b57"
        } else if *value >= 0.9 {
            "#d9a400"
        } else {
            "#c0392b"
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"200\" y=\"{y}\" width=\"440\" height=\"16\" fill=\"#eef1f7\"/><rect class=\"bar\" x=\"200\" y=\"{y}\" width=\"{width}\" height=\"16\" fill=\"{colour}\"/><text x=\"650\" y=\"{}\">{}</text>",
            y + 13,
            esc(label),
            y + 13,
            esc(text)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical bars of a histogram: (bucket label, count).
fn histogram(buckets: &[(String, usize)]) -> String {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, h) = (60usize, 160usize);
    let width = w * buckets.len() + 20;
    // 20 px above the tallest bar for its count, 30 below the bars for the bucket labels.
    let (top, bottom) = (20, 30);
    let mut svg = format!(
        "<svg role=\"img\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">",
        top + h + bottom,
        top + h + bottom
    );
    for (i, (label, count)) in buckets.iter().enumerate() {
        let bar = (*count as f64 / max as f64 * h as f64).round() as usize;
        let x = 10 + i * w;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{bar}\" fill=\"#3b6fd8\"/><text x=\"{}\" y=\"{}\">{count}</text><text x=\"{x}\" y=\"{}\">{}</text>",
            top + h - bar,
            w - 8,
            x + 4,
            top + h - bar - 5,
            top + h + 18,
            esc(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn prf_table(title: &str, rows: &BTreeMap<String, Prf>) -> String {
    let mut t = format!(
        "<table><tr><th>{}</th><th>precision</th><th>recall</th><th>F1</th><th>n</th></tr>",
        esc(title)
    );
    for (name, p) in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td class=n>{:.3}</td><td class=n>{:.3}</td><td class=n>{:.3}</td><td class=n>{}</td></tr>",
            esc(name),
            p.precision,
            p.recall,
            p.f1,
            p.support
        );
    }
    t.push_str("</table>");
    t
}

/// Render the page.
pub fn render(report: &Report) -> String {
    let f = &report.figures;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>frontline eval report</title><style>{STYLE}</style></head><body>"
    );
    let verdict = if report.gate_passes() {
        "<span class=good>gate passes</span>"
    } else {
        "<span class=bad>gate fails</span>"
    };
    let _ = write!(
        h,
        "<h1>frontline eval report</h1><p>Mode <b>{}</b> · {} of {} cases passed · {verdict}</p>",
        esc(&f.mode),
        f.passed,
        f.cases
    );
    let optional = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "–".into());
    let tiles = [
        ("pass rate", pct(f.pass_rate)),
        ("step coverage", pct(f.coverage.steps)),
        ("automation", pct(f.automation_rate)),
        ("resolution", pct(f.resolution_rate)),
        ("groundedness", optional(f.groundedness)),
        ("repeat asks", pct(f.repeat_ask_rate)),
        ("context transfer", optional(f.context_transfer)),
        ("p95 turn", format!("{:.1} ms", f.latency.p95)),
        ("LLM cost / turn", format!("${:.5}", f.llm.cost_per_turn)),
    ];
    h.push_str("<div class=tiles>");
    for (name, value) in tiles {
        let _ = write!(
            h,
            "<div class=tile>{}<b>{}</b></div>",
            esc(name),
            esc(&value)
        );
    }
    h.push_str("</div>");

    if let Some(c) = &report.comparison {
        let _ = write!(
            h,
            "<h2>Against the baseline</h2><p>{} regressions, {} improvements.</p><ul>",
            c.regressions.len(),
            c.improvements.len()
        );
        for r in &c.regressions {
            let _ = write!(h, "<li class=bad>{}</li>", esc(r));
        }
        for i in &c.improvements {
            let _ = write!(h, "<li class=good>{}</li>", esc(i));
        }
        h.push_str("</ul>");
    }

    h.push_str("<h2 id=suites>Pass rate per suite</h2>");
    let rows: Vec<(String, f64, String)> = f
        .suites
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.pass_rate,
                format!("{}/{} ({})", s.passed, s.cases, pct(s.pass_rate)),
            )
        })
        .collect();
    h.push_str(&bars(&rows));

    if !f.failures.is_empty() {
        h.push_str("<h2 id=failures>Failing cases</h2><table><tr><th>case</th><th>where</th><th>what did not hold</th></tr>");
        for failure in &f.failures {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&failure.case),
                esc(&failure.at),
                failure
                    .failures
                    .iter()
                    .map(|x| esc(x))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2 id=latency>Turn latency</h2>");
    let _ = write!(
        h,
        "<p>p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms over {} turns</p>",
        f.latency.p50, f.latency.p95, f.latency.p99, f.latency.turns
    );
    let buckets: Vec<(String, usize)> = f
        .latency
        .histogram
        .iter()
        .enumerate()
        .map(|(i, (bound, n))| {
            let label = if i + 1 == f.latency.histogram.len() {
                format!(">{}", bound / 2.0)
            } else {
                format!("≤{bound}")
            };
            (label, *n)
        })
        .collect();
    h.push_str(&histogram(&buckets));

    h.push_str("<h2 id=commands>Understanding</h2>");
    h.push_str(&prf_table("command", &f.commands));
    h.push_str("<h2 id=confusion>Flow confusion matrix</h2><p>Rows: the flow a step should start; columns: the flow it started.</p>");
    let cm = &f.confusion;
    let max = cm
        .counts
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    h.push_str("<table class=cm><tr><th></th>");
    for (i, _) in cm.labels.iter().enumerate() {
        let _ = write!(h, "<th>{}</th>", i + 1);
    }
    h.push_str("</tr>");
    for (i, row) in cm.counts.iter().enumerate() {
        let _ = write!(h, "<tr><th>{} {}</th>", i + 1, esc(&cm.labels[i]));
        for (j, n) in row.iter().enumerate() {
            let alpha = *n as f64 / max as f64;
            let hue = if i == j { "46,139,87" } else { "192,57,43" };
            let _ = write!(
                h,
                "<td style=\"background:rgba({hue},{alpha:.2})\">{}</td>",
                if *n > 0 { n.to_string() } else { String::new() }
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");

    h.push_str("<h2 id=escalation>Escalation</h2>");
    h.push_str(&prf_table("trigger", &f.escalation));

    h.push_str("<h2 id=coverage>Step coverage per flow</h2>");
    let rows: Vec<(String, f64, String)> = f
        .coverage
        .per_flow
        .iter()
        .map(|c| {
            let ratio = c.covered as f64 / c.steps.max(1) as f64;
            (
                c.flow.clone(),
                ratio,
                format!("{}/{} steps", c.covered, c.steps),
            )
        })
        .collect();
    h.push_str(&bars(&rows));
    if !f.coverage.uncovered.is_empty() {
        h.push_str("<table><tr><th>flow</th><th>step never run</th><th>where</th></tr>");
        for u in &f.coverage.uncovered {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&u.flow),
                esc(&u.step),
                esc(&u.at)
            );
        }
        h.push_str("</table>");
    }

    let _ = write!(
        h,
        "<h2 id=cost>LLM usage</h2><table><tr><th>calls</th><th>tokens</th><th>cost</th><th>calls / turn</th><th>cost / turn</th><th>cost / resolved conversation</th><th>calls on deterministic continuations</th></tr><tr><td class=n>{}</td><td class=n>{}</td><td class=n>${:.4}</td><td class=n>{:.2}</td><td class=n>${:.5}</td><td class=n>${:.5}</td><td class=n>{} of {} turns</td></tr></table>",
        f.llm.calls,
        f.llm.tokens,
        f.llm.cost_usd,
        f.llm.calls_per_turn,
        f.llm.cost_per_turn,
        f.llm.cost_per_resolved,
        f.llm.continuation_calls,
        f.llm.continuation_turns
    );

    if !f.datasets.is_empty() {
        h.push_str("<h2 id=datasets>Datasets</h2><table><tr><th>dataset</th><th>figure</th><th>value</th></tr>");
        for (dataset, values) in &f.datasets {
            for (name, value) in values {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=n>{value:.3}</td></tr>",
                    esc(dataset),
                    esc(name)
                );
            }
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
