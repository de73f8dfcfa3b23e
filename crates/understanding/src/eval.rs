//! Offline evaluation of understanding: the slot-extraction set (`evals/understanding/
//! slots.yaml`, precision and recall per slot type) and the public intent datasets, Banking77
//! and CLINC150 (vendored in `evals/datasets`), each split deterministically into
//! router examples, a calibration part and a held-out test part.

use crate::router::{
    calibrate, score, EmbeddingRouter, Intent, Labelled, RouterSettings, RoutingScore,
};
use crate::{ActiveFlow, DialogueContext, Understanding};
use chrono::NaiveDate;
use frontline_domain::{Channel, Command};
use frontline_flows::FlowSet;
use frontline_knowledge::{EmbedError, Embedder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A data file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A data file is not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The embedder failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Understanding failed.
    #[error("understanding failed on {message:?}: {reason}")]
    Understanding {
        /// The message.
        message: String,
        /// Why.
        reason: String,
    },
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn format_error(path: &Path, reason: impl std::fmt::Display) -> EvalError {
    EvalError::Format {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// One message of the slot set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotCase {
    /// What the customer wrote.
    pub message: String,
    /// The slot being asked, if any.
    #[serde(default)]
    pub asked: Option<String>,
    /// Slots filled before this message.
    #[serde(default)]
    pub filled: Map<String, Value>,
    /// Every slot the message should set, canonical values.
    pub expect: Map<String, Value>,
}

/// The slot set: the flow the messages are sent to, and the cases.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSet {
    /// The date relative dates are resolved against.
    pub today: NaiveDate,
    /// The cases.
    pub cases: Vec<SlotCase>,
}

/// Read a slot set.
pub fn load_slot_set(path: &Path) -> Result<SlotSet, EvalError> {
    serde_norway::from_str(&read(path)?).map_err(|e| format_error(path, e))
}

/// Counts for one slot type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Right values set.
    pub true_positives: usize,
    /// Values set that should not have been (or were wrong).
    pub false_positives: usize,
    /// Values that should have been set and were not (or were wrong).
    pub false_negatives: usize,
}

impl Counts {
    /// Share of the values set that were right (1 when nothing was set).
    pub fn precision(&self) -> f64 {
        let set = self.true_positives + self.false_positives;
        if set == 0 {
            1.0
        } else {
            self.true_positives as f64 / set as f64
        }
    }

    /// Share of the expected values that were set right (1 when nothing was expected).
    pub fn recall(&self) -> f64 {
        let expected = self.true_positives + self.false_negatives;
        if expected == 0 {
            1.0
        } else {
            self.true_positives as f64 / expected as f64
        }
    }
}

/// How an understanding did on the slot set.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SlotReport {
    /// The understanding's name.
    pub understanding: String,
    /// Messages.
    pub cases: usize,
    /// Counts per slot type (`date`, `money`, …).
    pub by_type: BTreeMap<String, Counts>,
    /// The cases that went wrong, readable.
    pub failures: Vec<String>,
}

impl std::fmt::Display for SlotReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "slot extraction ({}, {} messages)",
            self.understanding, self.cases
        )?;
        writeln!(
            f,
            "  {:<8} {:>9} {:>7} {:>5}",
            "type", "precision", "recall", "n"
        )?;
        for (kind, c) in &self.by_type {
            writeln!(
                f,
                "  {:<8} {:>9.3} {:>7.3} {:>5}",
                kind,
                c.precision(),
                c.recall(),
                c.true_positives + c.false_negatives
            )?;
        }
        Ok(())
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// Run every case through `understanding`, with `flow_id` active.
pub async fn evaluate_slots(
    understanding: &dyn Understanding,
    flows: &FlowSet,
    flow_id: &str,
    set: &SlotSet,
) -> Result<SlotReport, EvalError> {
    let flow = flows.get(flow_id).ok_or_else(|| EvalError::Format {
        path: flow_id.into(),
        reason: "the slot set's flow is not loaded".into(),
    })?;
    let kind_of = |slot: &str| {
        flow.slots
            .get(slot)
            .map(|s| {
                serde_json::to_value(s.spec.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let mut report = SlotReport {
        understanding: understanding.name(),
        cases: set.cases.len(),
        ..SlotReport::default()
    };
    for case in &set.cases {
        let context = DialogueContext {
            channel: Channel::Rest,
            active_flow: Some(ActiveFlow {
                flow_id: flow_id.into(),
                requested_slot: case.asked.clone(),
                slots: case.filled.clone(),
                ..Default::default()
            }),
            recent: vec![],
            today: set.today,
            offered_flows: vec![],
            language: None,
        };
        let commands = understanding
            .understand(&case.message, &context)
            .await
            .map_err(|e| EvalError::Understanding {
                message: case.message.clone(),
                reason: e.to_string(),
            })?;
        let got: BTreeMap<String, Value> = commands
            .into_iter()
            .filter_map(|c| match c.command {
                Command::SetSlot { name, value } => Some((name, value)),
                _ => None,
            })
            .collect();
        let mut wrong = false;
        let names: std::collections::BTreeSet<&String> =
            got.keys().chain(case.expect.keys()).collect();
        for name in names {
            let counts = report.by_type.entry(kind_of(name)).or_default();
            match (got.get(name), case.expect.get(name)) {
                (Some(g), Some(e)) if same(g, e) => counts.true_positives += 1,
                (Some(_), Some(_)) => {
                    counts.false_positives += 1;
                    counts.false_negatives += 1;
                    wrong = true;
                }
                (Some(_), None) => {
                    counts.false_positives += 1;
                    wrong = true;
                }
                (None, Some(_)) => {
                    counts.false_negatives += 1;
                    wrong = true;
                }
                (None, None) => {}
            }
        }
        if wrong {
            report.failures.push(format!(
                "{:?} (asked {:?}): expected {}, got {}",
                case.message,
                case.asked.as_deref().unwrap_or("-"),
                Value::Object(case.expect.clone()),
                serde_json::to_value(&got).unwrap_or_default()
            ));
        }
    }
    Ok(report)
}

/// A labelled message of an intent dataset; `label: None` is out of scope.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentExample {
    /// The message.
    pub text: String,
    /// Its intent, or none (out of scope).
    pub label: Option<String>,
}

/// An intent dataset split three ways.
#[derive(Clone, Debug, Default)]
pub struct IntentSplit {
    /// The dataset's name.
    pub name: String,
    /// The router's examples: (intent, text).
    pub train: Vec<(String, String)>,
    /// Thresholds are fitted on these.
    pub calibration: Vec<IntentExample>,
    /// Figures are reported on these, never seen before.
    pub test: Vec<IntentExample>,
    /// Out-of-scope messages written for frontline, held out: reported apart from `test`
    /// (their refusal rate), and counted in the false-start rate with `test`'s own.
    pub own_negatives: Vec<IntentExample>,
}

/// FNV-1a: a stable hash, so splits never change between runs or machines.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Banking77 (`banking77/train.csv`: `text,category`): by a stable hash of the text, 80% are
/// the router's examples, 10% calibrate, 10% are held out.
pub fn banking77(path: &Path) -> Result<IntentSplit, EvalError> {
    let text = read(path)?;
    let mut split = IntentSplit {
        name: "banking77".into(),
        ..IntentSplit::default()
    };
    for (line_no, row) in csv_rows(&text).into_iter().enumerate().skip(1) {
        let [message, label] = row.as_slice() else {
            return Err(format_error(
                path,
                format!("line {}: expected 2 fields", line_no + 1),
            ));
        };
        let example = IntentExample {
            text: message.clone(),
            label: Some(label.clone()),
        };
        match stable_hash(message) % 10 {
            0 => split.calibration.push(example),
            1 => split.test.push(example),
            _ => split.train.push((label.clone(), message.clone())),
        }
    }
    Ok(split)
}

/// Rows of a CSV with quoted fields ("" escapes a quote).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// CLINC150 (`clinc150/train_val.json`): `train` are the router's examples; `val` and
/// `oos_val` are halved by a stable hash into calibration and test, and `oos_train` joins the
/// calibration half.
pub fn clinc150(path: &Path, own_negatives: Option<&Path>) -> Result<IntentSplit, EvalError> {
    #[derive(Deserialize)]
    struct Clinc {
        train: Vec<(String, String)>,
        val: Vec<(String, String)>,
        oos_train: Vec<(String, String)>,
        oos_val: Vec<(String, String)>,
    }
    let data: Clinc = serde_json::from_str(&read(path)?).map_err(|e| format_error(path, e))?;
    let mut split = IntentSplit {
        name: "clinc150".into(),
        train: data.train.into_iter().map(|(t, l)| (l, t)).collect(),
        ..IntentSplit::default()
    };
    let in_scope = data.val.into_iter().map(|(text, label)| IntentExample {
        text,
        label: Some(label),
    });
    let oos = data
        .oos_val
        .into_iter()
        .map(|(text, _)| IntentExample { text, label: None });
    for example in in_scope.chain(oos) {
        if stable_hash(&example.text).is_multiple_of(2) {
            split.calibration.push(example);
        } else {
            split.test.push(example);
        }
    }
    split.calibration.extend(
        data.oos_train
            .into_iter()
            .map(|(text, _)| IntentExample { text, label: None }),
    );
    if let Some(path) = own_negatives {
        let negatives: Vec<String> =
            serde_norway::from_str(&read(path)?).map_err(|e| format_error(path, e))?;
        for text in negatives {
            let example = IntentExample { text, label: None };
            if stable_hash(&example.text).is_multiple_of(2) {
                split.calibration.push(example);
            } else {
                split.own_negatives.push(example);
            }
        }
    }
    Ok(split)
}

/// How the local router did on an intent dataset.
#[derive(Clone, Debug, Serialize)]
pub struct IntentReport {
    /// The dataset.
    pub dataset: String,
    /// Router examples, calibration and test sizes.
    pub sizes: (usize, usize, usize),
    /// Thresholds fitted on the calibration part.
    pub settings: RouterSettings,
    /// On the calibration part (in-sample for the thresholds).
    pub calibration: RoutingScore,
    /// On the held-out part.
    pub test: RoutingScore,
    /// On the held-out own negatives (all out of scope), when the split has them.
    pub own_negatives: Option<RoutingScore>,
    /// Held-out out-of-scope messages (the dataset's and the own negatives) the router sent to
    /// an intent: a flow started that nobody asked for.
    pub false_start_rate: f64,
    /// Seconds spent embedding.
    pub embed_seconds: f64,
}

impl std::fmt::Display for IntentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (train, cal, test) = self.sizes;
        writeln!(
            f,
            "{}: {train} router examples, {cal} calibration, {test} held out; {} k={} out_of_scope={:.2} margin={:.3}",
            self.dataset,
            if self.settings.head { "intent head," } else { "nearest examples," },
            self.settings.k,
            self.settings.out_of_scope,
            self.settings.margin
        )?;
        for (name, s) in [("calibration", &self.calibration), ("held out", &self.test)] {
            write!(
                f,
                "  {name:<11} accuracy {:.3} (top-1 {:.3}, clarify {:.3})",
                s.in_scope_accuracy, s.top1_accuracy, s.clarify_rate
            )?;
            if s.out_of_scope > 0 {
                write!(
                    f,
                    "  out-of-scope recall {:.3} precision {:.3} (n={})",
                    s.oos_recall, s.oos_precision, s.out_of_scope
                )?;
            }
            writeln!(f)?;
        }
        if let Some(own) = &self.own_negatives {
            writeln!(
                f,
                "  own negatives (held out, n={}): refused {:.3}",
                own.out_of_scope, own.oos_recall
            )?;
        }
        writeln!(
            f,
            "  false starts: {:.3} of the held-out out-of-scope messages went to an intent",
            self.false_start_rate
        )
    }
}

/// Build a router on `split.train`, fit its thresholds on `split.calibration` for each `k` in
/// `ks`, with and without the trained intent head, keep the best, and score it on
/// `split.test`. `progress(done, total)` follows the
/// embedding work.
pub async fn evaluate_intents(
    embedder: Arc<dyn Embedder>,
    split: &IntentSplit,
    ks: &[usize],
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<IntentReport, EvalError> {
    let started = Instant::now();
    let total =
        split.train.len() + split.calibration.len() + split.test.len() + split.own_negatives.len();
    let examples: Vec<(Intent, String)> = split
        .train
        .iter()
        .map(|(label, text)| (Intent::Flow(label.clone()), text.clone()))
        .collect();
    let mut router = EmbeddingRouter::build(
        embedder.clone(),
        examples,
        RouterSettings::default(),
        &|done, _| progress(done, total),
    )
    .await?;
    let embed_all = |items: &[IntentExample]| {
        let texts: Vec<String> = items.iter().map(|e| e.text.clone()).collect();
        let embedder = embedder.clone();
        async move {
            let mut out = Vec::with_capacity(texts.len());
            for batch in texts.chunks(64) {
                out.extend(embedder.embed(batch).await?);
            }
            Ok::<_, EmbedError>(out)
        }
    };
    let calibration_vectors = embed_all(&split.calibration).await?;
    progress(split.train.len() + split.calibration.len(), total);
    let test_vectors = embed_all(&split.test).await?;
    let own_vectors = embed_all(&split.own_negatives).await?;
    progress(total, total);
    let embed_seconds = started.elapsed().as_secs_f64();

    let labelled = |router: &EmbeddingRouter, items: &[IntentExample], vectors: &[Vec<f32>]| {
        items
            .iter()
            .zip(vectors)
            .map(|(item, v)| Labelled {
                ranked: router.rank(v),
                expected: item.label.clone().map(Intent::Flow),
            })
            .collect::<Vec<_>>()
    };
    let mut best: Option<((bool, f64), RouterSettings, RoutingScore)> = None;
    for (k, head) in ks.iter().flat_map(|k| [(*k, false), (*k, true)]) {
        router.set_settings(RouterSettings {
            k,
            head,
            ..router.settings()
        });
        let data = labelled(&router, &split.calibration, &calibration_vectors);
        let (settings, s) = calibrate(&data, k, head);
        let objective = crate::router::objective(&s, s.out_of_scope > 0);
        if best.as_ref().is_none_or(|(b, _, _)| objective > *b) {
            best = Some((objective, settings, s));
        }
    }
    let (_, settings, calibration) = best.expect("at least one k");
    router.set_settings(settings);
    let test = score(&labelled(&router, &split.test, &test_vectors), &settings);
    let own_negatives = (!split.own_negatives.is_empty()).then(|| {
        score(
            &labelled(&router, &split.own_negatives, &own_vectors),
            &settings,
        )
    });
    let (refused, out_of_scope) = std::iter::once(&test).chain(own_negatives.as_ref()).fold(
        (0.0, 0usize),
        |(refused, n), s| {
            (
                refused + s.oos_recall * s.out_of_scope as f64,
                n + s.out_of_scope,
            )
        },
    );
    let false_start_rate = if out_of_scope == 0 {
        0.0
    } else {
        1.0 - refused / out_of_scope as f64
    };
    Ok(IntentReport {
        dataset: split.name.clone(),
        sizes: (
            split.train.len(),
            split.calibration.len(),
            split.test.len() + split.own_negatives.len(),
        ),
        settings,
        calibration,
        test,
        own_negatives,
        false_start_rate,
        embed_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_commas() {
        let rows = csv_rows("text,category\n\"Hi, there \"\"you\"\"\",greeting\nplain,x\n");
        assert_eq!(
            rows,
            vec![
                vec!["text".to_string(), "category".into()],
                vec!["Hi, there \"you\"".into(), "greeting".into()],
                vec!["plain".into(), "x".into()],
            ]
        );
    }

    #[test]
    fn counts_give_precision_and_recall() {
        let c = Counts {
            true_positives: 8,
            false_positives: 2,
            false_negatives: 0,
        };
        assert_eq!(c.precision(), 0.8);
        assert_eq!(c.recall(), 1.0);
        assert_eq!(Counts::default().precision(), 1.0);
    }
}

/// One message of a routing set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingCase {
    /// The first message of a conversation.
    pub message: String,
    /// A flow id, `knowledge`, `human`, `greeting`, `thanks`, `goodbye`, `clarify` or `none`.
    pub expect: String,
    /// Other labels that are right too (a broken item may be returned or exchanged).
    #[serde(default)]
    pub also: Vec<String>,
}

impl RoutingCase {
    /// Whether `label` is a right answer.
    pub fn accepts(&self, label: &str) -> bool {
        self.expect == label || self.also.iter().any(|a| a == label)
    }
}

/// Whether an opening of `evals/understanding/openings.yaml` is held out (odd stable hash);
/// the others are the calibration half, which the demo flows carry as their examples.
pub fn is_held_out(message: &str) -> bool {
    stable_hash(message) % 2 == 1
}

/// Routing on realistic openings, held out: flows reached and negatives kept out of flows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OpeningsReport {
    /// Held-out openings that ask for a flow (or a choice between two): how many.
    pub flow_cases: usize,
    /// … and the share that started a right flow (or asked which of the right two).
    pub flow_accuracy: f64,
    /// Held-out negatives (questions about a policy, small talk, other business): how many.
    pub negatives: usize,
    /// … and the share that started a flow anyway.
    pub false_start_rate: f64,
    /// Every held-out opening, routed.
    pub routing: RoutingReport,
}

impl std::fmt::Display for OpeningsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "openings (held out): flow accuracy {:.3} on {} openings, false-start rate {:.3} on {} negatives",
            self.flow_accuracy, self.flow_cases, self.false_start_rate, self.negatives
        )
    }
}

/// Route the held-out half of an openings set; `flows` are the flow ids.
pub async fn evaluate_openings(
    understanding: &dyn Understanding,
    cases: &[RoutingCase],
    flows: &[String],
    today: NaiveDate,
) -> Result<OpeningsReport, EvalError> {
    let held: Vec<RoutingCase> = cases
        .iter()
        .filter(|c| is_held_out(&c.message))
        .cloned()
        .collect();
    let routing = evaluate_routing(understanding, &held, today).await?;
    let is_flow = |label: &str| flows.iter().any(|f| f == label);
    let (mut flow_cases, mut flow_right, mut negatives, mut false_starts) = (0, 0, 0, 0);
    for (case, got) in held.iter().zip(&routing.got) {
        if is_flow(&case.expect) || case.expect == "clarify" {
            flow_cases += 1;
            flow_right += usize::from(case.accepts(got));
        } else {
            negatives += 1;
            false_starts += usize::from(is_flow(got));
        }
    }
    Ok(OpeningsReport {
        flow_cases,
        flow_accuracy: flow_right as f64 / flow_cases.max(1) as f64,
        negatives,
        false_start_rate: false_starts as f64 / negatives.max(1) as f64,
        routing,
    })
}

/// Read a routing set.
pub fn load_routing_set(path: &Path) -> Result<Vec<RoutingCase>, EvalError> {
    serde_norway::from_str(&read(path)?).map_err(|e| format_error(path, e))
}

/// What a conversation's first commands amount to, in the routing set's labels.
pub fn label_of(commands: &[frontline_domain::ScoredCommand]) -> String {
    use frontline_domain::SmallTalk;
    match commands.first().map(|c| &c.command) {
        Some(Command::StartFlow { flow_id, .. }) => flow_id.clone(),
        Some(Command::AnswerFromKnowledge { .. }) => "knowledge".into(),
        Some(Command::HumanHandoff { .. }) => "human".into(),
        Some(Command::ChitChat { topic }) => match topic {
            SmallTalk::Greeting => "greeting",
            SmallTalk::Thanks => "thanks",
            SmallTalk::Goodbye => "goodbye",
        }
        .into(),
        Some(Command::Clarify { .. }) => "clarify".into(),
        Some(Command::SetSlot { .. }) | Some(Command::CancelFlow) => "slot".into(),
        Some(Command::CannotHandle { .. }) | None => "none".into(),
    }
}

/// The label a route gives (as [`label_of`] would for the commands it leads to).
pub fn label_of_route(route: &crate::pipeline::Route) -> String {
    use crate::pipeline::Route;
    match route {
        Route::Flow(id, _) => id.clone(),
        Route::Clarify(_) => "clarify".into(),
        Route::Builtin(b, _) => b.name().into(),
        Route::Knowledge(_) => "knowledge".into(),
        Route::Nothing => "none".into(),
    }
}

/// A routing case with what calibration needs: the ranking and the knowledge base's relevance.
#[derive(Clone, Debug)]
pub struct RoutedCase {
    /// The case.
    pub case: RoutingCase,
    /// The router's ranking.
    pub ranked: Vec<(Intent, f32)>,
    /// The knowledge base's relevance (always asked here).
    pub relevance: Option<f32>,
}

/// How the local understanding routes a routing set.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RoutingReport {
    /// Messages.
    pub cases: usize,
    /// Share routed to the expected label.
    pub accuracy: f64,
    /// Per expected label: (right, total).
    pub by_label: BTreeMap<String, (usize, usize)>,
    /// The misses, readable.
    pub failures: Vec<String>,
    /// What each message was routed to, in order.
    #[serde(skip)]
    pub got: Vec<String>,
}

impl std::fmt::Display for RoutingReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "routing: accuracy {:.3} on {} messages",
            self.accuracy, self.cases
        )?;
        for (label, (right, total)) in &self.by_label {
            writeln!(f, "  {label:<24} {right}/{total}")?;
        }
        Ok(())
    }
}

/// Run each case through `understanding` as a conversation's first message.
pub async fn evaluate_routing(
    understanding: &dyn Understanding,
    cases: &[RoutingCase],
    today: NaiveDate,
) -> Result<RoutingReport, EvalError> {
    let mut report = RoutingReport {
        cases: cases.len(),
        ..RoutingReport::default()
    };
    let context = DialogueContext {
        channel: Channel::Rest,
        active_flow: None,
        recent: vec![],
        today,
        offered_flows: vec![],
        language: None,
    };
    let mut right = 0;
    for case in cases {
        let commands = understanding
            .understand(&case.message, &context)
            .await
            .map_err(|e| EvalError::Understanding {
                message: case.message.clone(),
                reason: e.to_string(),
            })?;
        let got = label_of(&commands);
        report.got.push(got.clone());
        let entry = report.by_label.entry(case.expect.clone()).or_default();
        entry.1 += 1;
        if case.accepts(&got) {
            entry.0 += 1;
            right += 1;
        } else {
            report.failures.push(format!(
                "{:?}: expected {}, got {got}",
                case.message, case.expect
            ));
        }
    }
    report.accuracy = right as f64 / cases.len().max(1) as f64;
    Ok(report)
}

/// Rankings and relevances for calibration.
pub async fn routed_cases(
    local: &crate::LocalUnderstanding,
    probe: Option<&dyn crate::KnowledgeProbe>,
    cases: &[RoutingCase],
) -> Result<Vec<RoutedCase>, EvalError> {
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let embedding = local.router().embed_one(&case.message).await?;
        let relevance = match probe {
            Some(p) => p.relevance(&case.message, None).await,
            None => None,
        };
        out.push(RoutedCase {
            case: case.clone(),
            ranked: local.router().rank(&embedding),
            relevance,
        });
    }
    Ok(out)
}

/// Share of `data` the pure route decision gets right under `settings`.
pub fn route_accuracy(data: &[RoutedCase], settings: &crate::local::LocalSettings) -> f64 {
    let right = data
        .iter()
        .filter(|d| {
            let relevance = d
                .relevance
                .filter(|_| crate::local::needs_knowledge(&d.ranked, settings));
            label_of_route(&crate::local::decide_route(&d.ranked, relevance, settings))
                == d.case.expect
        })
        .count();
    right as f64 / data.len().max(1) as f64
}

/// The local settings (router thresholds, `sure`, knowledge margin; `k` and the enum threshold
/// kept from `base`) that route `data` best. Ties go to the middle of the best run of
/// out-of-scope thresholds, the most robust choice.
pub fn calibrate_local(
    data: &[RoutedCase],
    base: crate::local::LocalSettings,
) -> (crate::local::LocalSettings, f64) {
    let mut best: Option<(f64, crate::local::LocalSettings)> = None;
    for margin in [0.0, 0.01, 0.02, 0.03, 0.05] {
        for sure in [0.65, 0.7, 0.75, 0.8, 0.85, 0.9] {
            for knowledge_margin in [-0.1, -0.05, 0.0, 0.05, 0.1, 0.15] {
                let mut run: Vec<(f32, f64)> = Vec::new();
                for step in 0..=40 {
                    let out_of_scope = 0.30 + step as f32 * 0.01;
                    let settings = crate::local::LocalSettings {
                        router: RouterSettings {
                            out_of_scope,
                            margin,
                            ..base.router
                        },
                        sure,
                        knowledge_margin,
                        ..base
                    };
                    run.push((out_of_scope, route_accuracy(data, &settings)));
                }
                let top = run.iter().map(|(_, a)| *a).fold(0.0, f64::max);
                // The middle of the widest stretch of thresholds reaching `top`.
                let (mut widest, mut current) = ((0, 0), None::<usize>);
                for (i, (_, a)) in run.iter().enumerate() {
                    if (*a - top).abs() < 1e-12 {
                        let start = *current.get_or_insert(i);
                        if i - start >= widest.1 - widest.0 {
                            widest = (start, i);
                        }
                    } else {
                        current = None;
                    }
                }
                let out_of_scope = run[(widest.0 + widest.1) / 2].0;
                let settings = crate::local::LocalSettings {
                    router: RouterSettings {
                        out_of_scope,
                        margin,
                        ..base.router
                    },
                    sure,
                    knowledge_margin,
                    ..base
                };
                if best.as_ref().is_none_or(|(b, _)| top > *b) {
                    best = Some((top, settings));
                }
            }
        }
    }
    let (accuracy, settings) = best.expect("the grid is not empty");
    (settings, accuracy)
}
