//! Pictures drawn on the server as inline SVG: a flow's graph with step coverage, a sentiment
//! curve, and small charts over time. No chart library; each is a few shapes.

use frontline_flows::graph::{EdgeKind, FlowGraph, NodeKind};
use maud::{html, Markup};
use std::collections::BTreeSet;

const NODE_W: f64 = 300.0;
const NODE_H: f64 = 40.0;
const ROW: f64 = 64.0;
const LEFT: f64 = 150.0;

/// Whether the last eval run ran a step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StepCoverage {
    /// Ran.
    Covered,
    /// Never ran.
    Uncovered,
    /// No eval report to tell.
    Unknown,
}

/// A flow drawn top to bottom in program order. Moves to the next step are straight lines;
/// jumps forward (branches, `on_error`, `on_no`) arc on the right, jumps back on the left,
/// each arc a little wider than the one before so they do not overlap. A step the last eval
/// run never reached is drawn dashed and marked; `uncovered` holds those step ids.
pub fn flow_svg(graph: &FlowGraph, uncovered: Option<&BTreeSet<String>>) -> Markup {
    let n = graph.nodes.len();
    let end_y = ROW * n as f64 + 20.0;
    let height = end_y + NODE_H + 20.0;
    let width = LEFT * 2.0 + NODE_W;
    let y = |i: usize| 20.0 + ROW * i as f64;
    let cx = LEFT + NODE_W / 2.0;
    let mut right_lane = 0.0;
    let mut left_lane = 0.0;
    html! {
        svg.flowgraph viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height)
            role="img" aria-label="flow graph" {
            defs {
                marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M0 0L10 5L0 10z" fill="currentColor" {}
                }
            }
            @for edge in &graph.edges {
                @let from_y = y(edge.from);
                @let (to_y, to_end) = match edge.to { Some(t) => (y(t), false), None => (end_y, true) };
                @let label = edge.kind.label();
                @let class = format!("edge {}", edge_class(edge.kind));
                @if edge.to == Some(edge.from + 1) || (to_end && edge.from + 1 == n && edge.kind == EdgeKind::Next) {
                    line class=(class) x1=(cx) y1=(from_y + NODE_H) x2=(cx) y2=(to_y) marker-end="url(#arrow)" {}
                    @if !label.is_empty() {
                        text.edge-label x=(cx + 6.0) y=(from_y + NODE_H + 14.0) { (label) }
                    }
                } @else if to_y > from_y {
                    @let bulge = { right_lane += 14.0; 30.0 + right_lane % 120.0 };
                    @let x = LEFT + NODE_W;
                    path class=(class) fill="none" marker-end="url(#arrow)"
                        d=(format!("M{x} {a} C{b} {a} {b} {c} {x} {c}", a = from_y + NODE_H / 2.0, b = x + bulge, c = to_y + NODE_H / 2.0)) {}
                    @if !label.is_empty() {
                        text.edge-label x=(x + bulge * 0.75 + 4.0) y=((from_y + to_y) / 2.0 + NODE_H / 2.0) { (label) }
                    }
                } @else {
                    @let bulge = { left_lane += 14.0; 30.0 + left_lane % 120.0 };
                    path class=(class) fill="none" marker-end="url(#arrow)"
                        d=(format!("M{x} {a} C{b} {a} {b} {c} {x} {c}", x = LEFT, a = from_y + NODE_H / 2.0, b = LEFT - bulge, c = to_y + NODE_H / 2.0)) {}
                    @if !label.is_empty() {
                        text.edge-label x=(LEFT - bulge * 0.75 - 30.0) y=((from_y + to_y) / 2.0 + NODE_H / 2.0) { (label) }
                    }
                }
            }
            @for (i, node) in graph.nodes.iter().enumerate() {
                @let coverage = match uncovered {
                    None => StepCoverage::Unknown,
                    Some(u) if u.contains(&node.id) => StepCoverage::Uncovered,
                    Some(_) => StepCoverage::Covered,
                };
                @let class = format!("node {} {}", node.kind.keyword().replace(' ', "-"), match coverage {
                    StepCoverage::Covered => "covered",
                    StepCoverage::Uncovered => "uncovered",
                    StepCoverage::Unknown => "",
                });
                g class=(class) data-step=(node.id) data-line=(node.line) {
                    title { (node.id) " · line " (node.line)
                        @match coverage { StepCoverage::Covered => " · ran in the last eval", StepCoverage::Uncovered => " · never ran in the last eval", StepCoverage::Unknown => "" } }
                    rect x=(LEFT) y=(y(i)) width=(NODE_W) height=(NODE_H) rx=(if is_terminal(node.kind) { 20 } else { 6 }) {}
                    text.kind x=(LEFT + 10.0) y=(y(i) + 25.0) { (node.kind.keyword()) }
                    text.detail x=(LEFT + 80.0) y=(y(i) + 25.0) { (shorten(&node.detail, 30)) }
                    text.line x=(LEFT + NODE_W - 8.0) y=(y(i) + 14.0) text-anchor="end" { "L" (node.line) }
                }
            }
            g.node.end {
                rect x=(cx - 45.0) y=(end_y) width="90" height=(NODE_H) rx="20" {}
                text x=(cx) y=(end_y + 25.0) text-anchor="middle" { "resolved" }
            }
        }
    }
}

fn is_terminal(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::End | NodeKind::Escalate | NodeKind::Link)
}

fn edge_class(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Next => "next",
        EdgeKind::Then => "then",
        EdgeKind::Else => "else",
        EdgeKind::No => "no",
        EdgeKind::Error => "error",
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A line over `values` in a `width` × `height` box, on a fixed `[lo, hi]` scale, with a dashed
/// line at `threshold` if given. Points are circles with their value as a tooltip.
pub fn line_chart(
    values: &[(String, Option<f64>)],
    lo: f64,
    hi: f64,
    threshold: Option<f64>,
    class: &str,
) -> Markup {
    let (width, height, pad) = (560.0, 140.0, 24.0);
    let n = values.len().max(2) as f64 - 1.0;
    let x = |i: usize| pad + (width - 2.0 * pad) * i as f64 / n;
    let y = |v: f64| height - pad - (height - 2.0 * pad) * ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    html! {
        svg class=(format!("chart {class}")) viewBox=(format!("0 0 {width} {height}")) role="img" {
            line.axis x1=(pad) y1=(height - pad) x2=(width - pad) y2=(height - pad) {}
            text.tick x="2" y=(y(hi) + 4.0) { (format_tick(hi)) }
            text.tick x="2" y=(y(lo) + 4.0) { (format_tick(lo)) }
            @if let Some(t) = threshold {
                line.threshold x1=(pad) y1=(y(t)) x2=(width - pad) y2=(y(t)) {}
            }
            polyline fill="none" points=(points.join(" ")) {}
            @for (i, (label, v)) in values.iter().enumerate() {
                @if let Some(v) = v {
                    circle cx=(x(i)) cy=(y(*v)) r="3" { title { (label) ": " (format_tick(*v)) } }
                }
            }
            @if let (Some(first), Some(last)) = (values.first(), values.last()) {
                text.tick x=(pad) y=(height - 4.0) { (first.0) }
                text.tick x=(width - pad) y=(height - 4.0) text-anchor="end" { (last.0) }
            }
        }
    }
}

fn format_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontline_flows::graph::{Edge, Node};

    fn node(id: &str, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            kind,
            detail: "x".into(),
            line: 3,
        }
    }

    #[test]
    fn every_step_is_drawn_with_its_coverage_and_every_move_as_an_edge() {
        let graph = FlowGraph {
            nodes: vec![
                node("a", NodeKind::Collect),
                node("b", NodeKind::Branch),
                node("c", NodeKind::End),
            ],
            edges: vec![
                Edge {
                    from: 0,
                    to: Some(1),
                    kind: EdgeKind::Next,
                },
                Edge {
                    from: 1,
                    to: Some(2),
                    kind: EdgeKind::Then,
                },
                Edge {
                    from: 1,
                    to: None,
                    kind: EdgeKind::Else,
                },
            ],
        };
        let uncovered: BTreeSet<String> = ["c".to_string()].into();
        let svg = flow_svg(&graph, Some(&uncovered)).into_string();
        assert_eq!(
            svg.matches("<g class=\"node ").count(),
            4,
            "three steps and the end: {svg}"
        );
        assert!(
            svg.contains(r#"class="node end uncovered" data-step="c""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="node collect covered" data-step="a""#),
            "{svg}"
        );
        assert_eq!(svg.matches("class=\"edge ").count(), 3, "{svg}");
        assert!(svg.contains(">else<"), "{svg}");
    }

    #[test]
    fn a_chart_skips_missing_values_and_keeps_its_scale() {
        let svg = line_chart(
            &[
                ("d1".into(), Some(0.5)),
                ("d2".into(), None),
                ("d3".into(), Some(1.0)),
            ],
            0.0,
            1.0,
            Some(0.8),
            "rate",
        )
        .into_string();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains("class=\"threshold\""), "{svg}");
    }
}
