//! Reports: a terminal summary, `report.json`, `report.html`, and the comparison against a
//! baseline that makes `frontline eval` a CI gate.

use crate::metrics::Figures;
use crate::EvalError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The figures a baseline holds and the gate compares. Latency and cost are left out: they
/// depend on the machine and the endpoint, not on the change under review.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Gated figures by name (`pass_rate`, `suite.flows.pass_rate`, `escalation.policy.recall`, …).
    pub figures: BTreeMap<String, f64>,
    /// Every case: `suite/case` → passed.
    pub results: BTreeMap<String, bool>,
}

/// Whether more of a figure is better.
fn higher_is_better(name: &str) -> bool {
    !(name.starts_with("repeat_ask_rate") || name.ends_with("false_start_rate"))
}

impl Baseline {
    /// The gated figures of a run.
    pub fn of(f: &Figures) -> Baseline {
        let mut figures = BTreeMap::new();
        figures.insert("pass_rate".to_string(), f.pass_rate);
        for s in &f.suites {
            figures.insert(format!("suite.{}.pass_rate", s.name), s.pass_rate);
        }
        for (kind, prf) in &f.commands {
            figures.insert(format!("commands.{kind}.f1"), prf.f1);
        }
        for (trigger, prf) in &f.escalation {
            figures.insert(format!("escalation.{trigger}.precision"), prf.precision);
            figures.insert(format!("escalation.{trigger}.recall"), prf.recall);
        }
        figures.insert("coverage.steps".into(), f.coverage.steps);
        figures.insert("coverage.flows".into(), f.coverage.flows);
        if let Some(g) = f.groundedness {
            figures.insert("groundedness".into(), g);
        }
        figures.insert("automation_rate".into(), f.automation_rate);
        figures.insert("resolution_rate".into(), f.resolution_rate);
        figures.insert("repeat_ask_rate".into(), f.repeat_ask_rate);
        if let Some(c) = f.context_transfer {
            figures.insert("context_transfer".into(), c);
        }
        if let Some(sim) = &f.simulated {
            figures.insert("simulated.task_success".into(), sim.task_success);
        }
        for (dataset, values) in &f.datasets {
            for (name, value) in values {
                figures.insert(format!("dataset.{dataset}.{name}"), *value);
            }
        }
        Baseline {
            figures,
            results: f.results.clone(),
        }
    }

    /// Read a baseline: a file written by `--save-baseline`, or a whole `report.json`.
    pub fn load(path: &Path) -> Result<Baseline, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| EvalError::Setup(format!("{}: not JSON: {e}", path.display())))?;
        if value.get("figures").is_some() {
            serde_json::from_value(value)
                .map_err(|e| EvalError::Setup(format!("{}: not a baseline: {e}", path.display())))
        } else {
            let figures: Figures = serde_json::from_value(value)
                .map_err(|e| EvalError::Setup(format!("{}: not a report: {e}", path.display())))?;
            Ok(Baseline::of(&figures))
        }
    }
}

/// What got worse than the baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Figures worse by more than the tolerance, and cases that passed and now fail.
    pub regressions: Vec<String>,
    /// Figures better by more than the tolerance, and cases that failed and now pass.
    pub improvements: Vec<String>,
    /// Figures and cases in only one of the two (renamed or new).
    pub unmatched: Vec<String>,
}

impl Comparison {
    /// True when nothing regressed.
    pub fn ok(&self) -> bool {
        self.regressions.is_empty()
    }
}

/// Compare a run with a baseline; a figure may move `tolerance` (absolute, e.g. 0.02) the wrong
/// way before it is a regression.
pub fn compare(now: &Baseline, baseline: &Baseline, tolerance: f64) -> Comparison {
    let mut c = Comparison::default();
    for (name, before) in &baseline.figures {
        let Some(after) = now.figures.get(name) else {
            c.unmatched
                .push(format!("figure {name} is no longer measured"));
            continue;
        };
        let delta = if higher_is_better(name) {
            after - before
        } else {
            before - after
        };
        let line = format!("{name}: {before:.3} → {after:.3}");
        if delta < -tolerance {
            c.regressions.push(line);
        } else if delta > tolerance {
            c.improvements.push(line);
        }
    }
    for name in now.figures.keys() {
        if !baseline.figures.contains_key(name) {
            c.unmatched.push(format!("figure {name} is new"));
        }
    }
    for (case, passed) in &now.results {
        match baseline.results.get(case) {
            Some(true) if !passed => c.regressions.push(format!("case {case} passed, now fails")),
            Some(false) if *passed => c.improvements.push(format!("case {case} now passes")),
            None => c.unmatched.push(format!("case {case} is new")),
            _ => {}
        }
    }
    c
}

/// A run's report: the figures and, when a baseline was given, the comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Against the baseline, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

impl Report {
    /// Write `report.json` and `report.html` into a folder (created if needed).
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let io = |e| EvalError::Io {
            path: dir.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_string_pretty(self).expect("a report serialises");
        std::fs::write(dir.join("report.json"), json).map_err(io)?;
        std::fs::write(dir.join("report.html"), crate::html::render(self)).map_err(io)?;
        Ok(())
    }

    /// The terminal summary.
    pub fn summary(&self) -> String {
        let f = &self.figures;
        let mut out = String::new();
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let _ = writeln!(
            out,
            "eval ({}): {}/{} cases passed ({})",
            f.mode,
            f.passed,
            f.cases,
            pct(f.pass_rate)
        );
        for s in &f.suites {
            let _ = writeln!(
                out,
                "  {:<16} {:>3}/{:<3} {}",
                s.name,
                s.passed,
                s.cases,
                pct(s.pass_rate)
            );
        }
        if f.cases > 0 {
            let _ = writeln!(out, "commands (precision / recall / F1, n):");
            for (kind, p) in &f.commands {
                let _ = writeln!(
                    out,
                    "  {kind:<22} {:.3} / {:.3} / {:.3}  n={}",
                    p.precision, p.recall, p.f1, p.support
                );
            }
            let _ = writeln!(out, "escalation per trigger (precision / recall, n):");
            for (trigger, p) in &f.escalation {
                let _ = writeln!(
                    out,
                    "  {trigger:<22} {:.3} / {:.3}  n={}",
                    p.precision, p.recall, p.support
                );
            }
            let _ = writeln!(
                out,
                "coverage: flows {}, steps {} ({} steps never ran)",
                pct(f.coverage.flows),
                pct(f.coverage.steps),
                f.coverage.uncovered.len()
            );
            let optional = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "groundedness {} over {} answers · automation {} · resolution {} · repeat asks {} · context transfer {} over {} handoffs",
                optional(f.groundedness),
                f.grounded_answers,
                pct(f.automation_rate),
                pct(f.resolution_rate),
                pct(f.repeat_ask_rate),
                optional(f.context_transfer),
                f.handoffs
            );
            let _ = writeln!(
                out,
                "latency per turn: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms over {} turns",
                f.latency.p50, f.latency.p95, f.latency.p99, f.latency.turns
            );
            let _ = writeln!(
                out,
                "LLM: {} calls, {} tokens, ${:.4} ({:.2} calls, {:.0} tokens and ${:.5} per turn, ${:.5} per resolved conversation); {} calls on {} deterministic continuations",
                f.llm.calls,
                f.llm.tokens,
                f.llm.cost_usd,
                f.llm.calls_per_turn,
                f.llm.tokens_per_turn,
                f.llm.cost_per_turn,
                f.llm.cost_per_resolved,
                f.llm.continuation_calls,
                f.llm.continuation_turns
            );
        }
        if let Some(sim) = &f.simulated {
            let turns = |t: Option<f64>| t.map(|t| format!("{t:.1}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "simulated customers: task success (pass^1) {}/{} {} · median turns {} · needless handoffs {} · questions already answered {} · questions not understood {}",
                sim.succeeded,
                sim.tasks,
                pct(sim.task_success),
                turns(sim.median_turns),
                sim.needless_handoffs.len(),
                sim.repeated_questions.len(),
                sim.unanswerable.len()
            );
            for (goal, g) in &sim.goals {
                let _ = writeln!(
                    out,
                    "  {goal:<14} {:>3}/{:<3} median turns {}",
                    g.succeeded,
                    g.tasks,
                    turns(g.median_turns)
                );
            }
            for line in sim
                .needless_handoffs
                .iter()
                .map(|l| format!("needless handoff: {l}"))
                .chain(
                    sim.repeated_questions
                        .iter()
                        .map(|l| format!("asked what it was told: {l}")),
                )
                .chain(
                    sim.unanswerable
                        .iter()
                        .map(|l| format!("customer lost: {l}")),
                )
            {
                let _ = writeln!(out, "  {line}");
            }
        }
        for (dataset, values) in &f.datasets {
            let values: Vec<String> = values.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
            let _ = writeln!(out, "dataset {dataset}: {}", values.join(", "));
        }
        for ask in &f.repeat_asks {
            let _ = writeln!(out, "asked again: {ask}");
        }
        for known in &f.limitations {
            let _ = writeln!(
                out,
                "KNOWN LIMITATION {} ({}): {}",
                known.case,
                known.at,
                known.failures.join("; ")
            );
        }
        for failure in &f.failures {
            let _ = writeln!(out, "FAILED {} ({})", failure.case, failure.at);
            for why in &failure.failures {
                let _ = writeln!(out, "    {why}");
            }
            for line in &failure.transcript {
                let _ = writeln!(out, "      | {line}");
            }
        }
        if let Some(c) = &self.comparison {
            let _ = writeln!(
                out,
                "against the baseline: {} regressions, {} improvements",
                c.regressions.len(),
                c.improvements.len()
            );
            for r in &c.regressions {
                let _ = writeln!(out, "  REGRESSION {r}");
            }
            for i in &c.improvements {
                let _ = writeln!(out, "  better     {i}");
            }
        }
        out
    }

    /// What the gate says: with a baseline, no regression; without, every case passed.
    pub fn gate_passes(&self) -> bool {
        match &self.comparison {
            Some(c) => c.ok(),
            None => self.figures.failures.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(pass: f64, repeat: f64, case_passes: bool) -> Baseline {
        Baseline {
            figures: [
                ("pass_rate".to_string(), pass),
                ("repeat_ask_rate".to_string(), repeat),
            ]
            .into(),
            results: [("flows/cancel".to_string(), case_passes)].into(),
        }
    }

    #[test]
    fn a_drop_beyond_the_tolerance_or_a_newly_failing_case_is_a_regression() {
        let before = baseline(1.0, 0.0, true);
        assert!(compare(&baseline(0.99, 0.01, true), &before, 0.02).ok());
        let c = compare(&baseline(0.95, 0.0, true), &before, 0.02);
        assert_eq!(c.regressions, ["pass_rate: 1.000 → 0.950"]);
        // Lower is better for repeat asks.
        let c = compare(&baseline(1.0, 0.1, true), &before, 0.02);
        assert_eq!(c.regressions, ["repeat_ask_rate: 0.000 → 0.100"]);
        let c = compare(&baseline(1.0, 0.0, false), &before, 0.02);
        assert_eq!(c.regressions, ["case flows/cancel passed, now fails"]);
        let c = compare(&baseline(1.0, 0.0, true), &baseline(0.9, 0.0, false), 0.02);
        assert!(c.ok());
        assert_eq!(c.improvements.len(), 2);
    }
}
