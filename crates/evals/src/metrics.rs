//! The figures of a run: pass rates, command precision/recall/F1, flow and step coverage,
//! escalation precision/recall per trigger, groundedness, automation and resolution, repeat
//! asks, context transfer, latency and LLM cost. Every figure is computed from the cases' event
//! logs and timings, nothing else.

use crate::run::CaseRun;
use frontline_domain::EventKind;
use frontline_flows::testing::TestReport;
use frontline_flows::Engine;
use frontline_knowledge::{KnowledgeBase, SearchFilter};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Precision, recall and F1 of one label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Right among predicted.
    pub precision: f64,
    /// Found among expected.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
    /// How many were expected.
    pub support: usize,
}

impl Prf {
    fn from_counts(tp: usize, fp: usize, fn_: usize) -> Prf {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
            support: tp + fn_,
        }
    }
}

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

fn prf(counts: BTreeMap<String, Counts>) -> BTreeMap<String, Prf> {
    counts
        .into_iter()
        .map(|(k, c)| (k, Prf::from_counts(c.tp, c.fp, c.fn_)))
        .collect()
}

/// A suite's pass rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteFigures {
    /// The suite.
    pub name: String,
    /// Cases run.
    pub cases: usize,
    /// Cases whose every assertion held.
    pub passed: usize,
    /// passed / cases.
    pub pass_rate: f64,
}

/// A step no case ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Uncovered {
    /// Its flow.
    pub flow: String,
    /// Its id.
    pub step: String,
    /// The flow file and line, `flows/x.yaml:12`.
    pub at: String,
}

/// Steps of one flow that ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowCoverage {
    /// The flow.
    pub flow: String,
    /// Its coverable steps.
    pub steps: usize,
    /// How many of them ran.
    pub covered: usize,
}

/// Which flows and steps the run exercised.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Share of flows with at least one step run.
    pub flows: f64,
    /// Share of steps run.
    pub steps: f64,
    /// Per flow.
    pub per_flow: Vec<FlowCoverage>,
    /// The steps no case ran, by file:line.
    pub uncovered: Vec<Uncovered>,
}

/// Turn latency, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Turns measured.
    pub turns: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Histogram: (upper bound in ms, turns); the last bucket is everything slower.
    pub histogram: Vec<(f64, usize)>,
}

/// What the LLM cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmFigures {
    /// Calls made.
    pub calls: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Estimated US dollars.
    pub cost_usd: f64,
    /// Calls per turn.
    pub calls_per_turn: f64,
    /// Tokens per turn.
    pub tokens_per_turn: f64,
    /// Dollars per turn.
    pub cost_per_turn: f64,
    /// Dollars per conversation the agent resolved.
    pub cost_per_resolved: f64,
    /// Turns that were deterministic continuations (the asked slot answered, a yes or no at a
    /// confirmation, "never mind"), which LLM mode understands without a call.
    #[serde(default)]
    pub continuation_turns: u64,
    /// LLM calls made on those turns (0 is the design).
    #[serde(default)]
    pub continuation_calls: u64,
}

/// Expected flow (rows) against started flow (columns), over steps that say which flow should
/// start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Row and column labels (`none`: nothing started).
    pub labels: Vec<String>,
    /// counts[expected][started].
    pub counts: Vec<Vec<usize>>,
}

/// One failing case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseFailure {
    /// `suite/case`.
    pub case: String,
    /// `evals/suites/x.yaml:12`.
    pub at: String,
    /// What did not hold.
    pub failures: Vec<String>,
    /// The conversation as it went: `customer (channel): …` and `agent: …` lines.
    #[serde(default)]
    pub transcript: Vec<String>,
}

/// One goal's simulated customers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoalFigures {
    /// Customers who came for it.
    pub tasks: usize,
    /// Those whose task was judged done (pass^1).
    pub succeeded: usize,
    /// Median messages the customer sent until it was done, over the succeeded ones.
    pub median_turns: Option<f64>,
}

/// What the simulated customers made of the agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimulatedFigures {
    /// Simulated customers run.
    pub tasks: usize,
    /// Those whose task was judged done: the right writes, no other, the right handoff.
    pub succeeded: usize,
    /// succeeded / tasks: pass^1.
    pub task_success: f64,
    /// Median messages to a finished task, over all succeeded tasks.
    pub median_turns: Option<f64>,
    /// Per goal (`return`, `cancel`, …).
    pub goals: BTreeMap<String, GoalFigures>,
    /// Handoffs in cases that expected none: `suite/case: trigger`.
    pub needless_handoffs: Vec<String>,
    /// Questions whose answer the customer had already given: `suite/case: question`.
    pub repeated_questions: Vec<String>,
    /// Questions the customer could not place or answer: `suite/case: question`.
    pub unanswerable: Vec<String>,
}

/// Every figure of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// `local`, `llm:<model>` or `rules`.
    pub mode: String,
    /// Cases run.
    pub cases: usize,
    /// Cases passed.
    pub passed: usize,
    /// passed / cases.
    pub pass_rate: f64,
    /// Per suite.
    pub suites: Vec<SuiteFigures>,
    /// Per command type, over steps that say which commands they expect.
    pub commands: BTreeMap<String, Prf>,
    /// Flow and step coverage.
    pub coverage: Coverage,
    /// Per trigger (and `none`), over cases that say whether they should hand off.
    pub escalation: BTreeMap<String, Prf>,
    /// Share of knowledge-answer sentences supported by a cited passage.
    pub groundedness: Option<f64>,
    /// Knowledge answers measured for groundedness.
    pub grounded_answers: usize,
    /// Share of conversations the agent resolved without a person.
    pub automation_rate: f64,
    /// Share resolved by the agent or handed off with a complete context.
    pub resolution_rate: f64,
    /// Questions for a slot the conversation already had, over all questions.
    pub repeat_ask_rate: f64,
    /// Each such question: `suite/case: slot`.
    #[serde(default)]
    pub repeat_asks: Vec<String>,
    /// Mean context-transfer completeness of the handoff summaries.
    pub context_transfer: Option<f64>,
    /// Handoffs.
    pub handoffs: usize,
    /// Per-turn latency.
    pub latency: Latency,
    /// LLM usage and cost.
    pub llm: LlmFigures,
    /// Flow confusion matrix.
    pub confusion: Confusion,
    /// Every case: `suite/case` → passed.
    pub results: BTreeMap<String, bool>,
    /// The failing cases and why (a case that names a known limitation is not one of them).
    pub failures: Vec<CaseFailure>,
    /// The cases that fail for a limitation they name, and why they fail.
    #[serde(default)]
    pub limitations: Vec<CaseFailure>,
    /// The simulated customers' figures, when any ran.
    #[serde(default)]
    pub simulated: Option<SimulatedFigures>,
    /// Figures of the dataset evals run alongside (Banking77, CLINC150, τ2, …), by dataset.
    #[serde(default)]
    pub datasets: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Compute the figures of a run. `knowledge` (when given) supplies the cited passages for
/// groundedness.
pub async fn figures(
    mode: &str,
    runs: &[CaseRun],
    engine: &Engine,
    knowledge: Option<&KnowledgeBase>,
) -> Figures {
    let passed = runs.iter().filter(|r| r.passed()).count();
    let mut suites: Vec<SuiteFigures> = Vec::new();
    for run in runs {
        let suite = match suites.iter_mut().find(|s| s.name == run.suite) {
            Some(s) => s,
            None => {
                suites.push(SuiteFigures {
                    name: run.suite.clone(),
                    cases: 0,
                    passed: 0,
                    pass_rate: 0.0,
                });
                suites.last_mut().unwrap()
            }
        };
        suite.cases += 1;
        suite.passed += run.passed() as usize;
    }
    for suite in &mut suites {
        suite.pass_rate = suite.passed as f64 / suite.cases.max(1) as f64;
    }
    let resolved_by_agent = runs.iter().filter(|r| resolved_by_agent(r)).count();
    let (context_transfer, handoffs) = context_transfer(runs);
    let complete_handoffs = runs
        .iter()
        .filter(|r| handoff_completeness(r) == Some(1.0))
        .count();
    let (groundedness, grounded_answers) = match knowledge {
        Some(kb) => groundedness(runs, kb).await,
        None => (None, 0),
    };
    let llm = llm_figures(runs, resolved_by_agent);
    let (repeat_ask_rate, repeat_asks) = repeat_asks(runs);
    Figures {
        mode: mode.to_string(),
        cases: runs.len(),
        passed,
        pass_rate: passed as f64 / runs.len().max(1) as f64,
        suites,
        commands: prf(command_figures(runs)),
        coverage: coverage(runs, engine),
        escalation: escalation_figures(runs),
        groundedness,
        grounded_answers,
        automation_rate: resolved_by_agent as f64 / runs.len().max(1) as f64,
        resolution_rate: (resolved_by_agent + complete_handoffs) as f64 / runs.len().max(1) as f64,
        repeat_ask_rate,
        repeat_asks,
        context_transfer,
        handoffs,
        latency: latency(runs),
        llm,
        confusion: confusion(runs),
        results: runs
            .iter()
            .map(|r| (format!("{}/{}", r.suite, r.name), r.passed()))
            .collect(),
        failures: failed(runs.iter().filter(|r| r.limitation.is_none())),
        limitations: failed(runs.iter().filter(|r| r.limitation.is_some())),
        simulated: simulated_figures(runs),
        datasets: BTreeMap::new(),
    }
}

/// The failing cases among `runs`, with why and how the conversation went.
fn failed<'a>(runs: impl Iterator<Item = &'a CaseRun>) -> Vec<CaseFailure> {
    runs.filter(|r| !r.passed())
        .map(|r| CaseFailure {
            case: format!("{}/{}", r.suite, r.name),
            at: format!("{}:{}", r.file.display(), r.line),
            failures: r.failures.clone(),
            transcript: r
                .steps
                .iter()
                .flat_map(|s| {
                    std::iter::once(format!("customer ({}): {}", s.channel, s.text)).chain(
                        s.replies
                            .iter()
                            .map(|reply| format!("agent: {}", reply.replace('\n', " / "))),
                    )
                })
                .collect(),
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(match values.len() % 2 {
        1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    })
}

fn simulated_figures(runs: &[CaseRun]) -> Option<SimulatedFigures> {
    let simulated: Vec<(&CaseRun, &crate::run::SimulatedRun)> = runs
        .iter()
        .filter_map(|r| r.simulated.as_ref().map(|s| (r, s)))
        .collect();
    if simulated.is_empty() {
        return None;
    }
    let name = |r: &CaseRun| format!("{}/{}", r.suite, r.name);
    let mut f = SimulatedFigures {
        tasks: simulated.len(),
        ..Default::default()
    };
    let mut turns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (run, sim) in &simulated {
        let goal = f.goals.entry(sim.goal.clone()).or_default();
        goal.tasks += 1;
        if run.passed() {
            goal.succeeded += 1;
            f.succeeded += 1;
            if let Some(n) = sim.turns_to_goal {
                turns.entry(sim.goal.clone()).or_default().push(n as f64);
            }
        }
        let expects_handoff = run.expected_trigger.as_ref().is_some_and(|t| t != "none");
        if let (Some(summary), false) = (run.escalation(), expects_handoff) {
            f.needless_handoffs
                .push(format!("{}: {}", name(run), summary.trigger.code()));
        }
        f.repeated_questions
            .extend(sim.repeated.iter().map(|q| format!("{}: {q}", name(run))));
        f.unanswerable.extend(
            sim.unanswerable
                .iter()
                .map(|q| format!("{}: {q}", name(run))),
        );
    }
    f.task_success = f.succeeded as f64 / f.tasks as f64;
    f.median_turns = median(turns.values().flatten().copied().collect());
    for (goal, figures) in f.goals.iter_mut() {
        figures.median_turns = median(turns.get(goal).cloned().unwrap_or_default());
    }
    Some(f)
}

/// Resolved by the agent alone (the KPI's definition, `frontline_analytics`).
pub fn resolved_by_agent(run: &CaseRun) -> bool {
    frontline_analytics::resolved_by_agent(&run.events)
}

/// The completeness of a run's handoff summary against the log of the conversation it handed
/// off, up to the handoff.
fn handoff_completeness(run: &CaseRun) -> Option<f64> {
    frontline_analytics::handoff(&run.events).map(|(_, complete)| complete)
}

fn context_transfer(runs: &[CaseRun]) -> (Option<f64>, usize) {
    let ratios: Vec<f64> = runs.iter().filter_map(handoff_completeness).collect();
    let mean = (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64);
    (mean, ratios.len())
}

fn command_figures(runs: &[CaseRun]) -> BTreeMap<String, Counts> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for step in runs.iter().flat_map(|r| &r.steps) {
        let Some(expected) = &step.expected else {
            continue;
        };
        let expected: BTreeSet<&String> = expected.iter().collect();
        let predicted: BTreeSet<&String> = step.understood.iter().collect();
        for kind in &expected {
            let c = counts.entry((*kind).clone()).or_default();
            if predicted.contains(kind) {
                c.tp += 1;
            } else {
                c.fn_ += 1;
            }
        }
        // Only a step that lists its commands in full can say a command was not wanted.
        if step.expected_exact {
            for kind in predicted.difference(&expected) {
                counts.entry((*kind).clone()).or_default().fp += 1;
            }
        }
    }
    counts
}

fn escalation_figures(runs: &[CaseRun]) -> BTreeMap<String, Prf> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for run in runs {
        let Some(expected) = &run.expected_trigger else {
            continue;
        };
        let got = run
            .escalation()
            .map(|s| s.trigger.code().to_string())
            .unwrap_or_else(|| "none".into());
        if &got == expected {
            counts.entry(got).or_default().tp += 1;
        } else {
            counts.entry(got).or_default().fp += 1;
            counts.entry(expected.clone()).or_default().fn_ += 1;
        }
    }
    prf(counts)
}

fn coverage(runs: &[CaseRun], engine: &Engine) -> Coverage {
    let mut report = TestReport::default();
    for event in runs.iter().flat_map(|r| &r.events) {
        if let EventKind::FlowUpdated { ran, .. } = &event.kind {
            report
                .covered
                .extend(ran.iter().map(|s| (s.flow.clone(), s.step.clone())));
        }
    }
    let uncovered = report.uncovered(engine);
    let per_flow: Vec<FlowCoverage> = engine
        .flows()
        .iter()
        .filter(|f| !f.spec.id.starts_with("pattern_"))
        .map(|f| {
            let steps = f.coverable_steps().count();
            let missing = uncovered.iter().filter(|u| u.0 == f.spec.id).count();
            FlowCoverage {
                flow: f.spec.id.clone(),
                steps,
                covered: steps - missing,
            }
        })
        .collect();
    let touched = per_flow.iter().filter(|f| f.covered > 0).count();
    Coverage {
        flows: touched as f64 / per_flow.len().max(1) as f64,
        steps: report.step_coverage(engine),
        per_flow,
        uncovered: uncovered
            .into_iter()
            .map(|(flow, step, file, position)| Uncovered {
                flow,
                step,
                at: format!("{}:{}", file.display(), position.line),
            })
            .collect(),
    }
}

fn repeat_asks(runs: &[CaseRun]) -> (f64, Vec<String>) {
    let (mut asks, mut repeats) = (0usize, Vec::new());
    for run in runs {
        let (n, slots) = frontline_analytics::repeat_asks(&run.events);
        asks += n;
        repeats.extend(
            slots
                .into_iter()
                .map(|slot| format!("{}/{}: {slot}", run.suite, run.name)),
        );
    }
    let rate = if asks == 0 {
        0.0
    } else {
        repeats.len() as f64 / asks as f64
    };
    (rate, repeats)
}

/// The `q`-quantile (0–1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const LATENCY_BUCKETS_MS: [f64; 10] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

fn latency(runs: &[CaseRun]) -> Latency {
    let mut all: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.steps.iter().map(|s| s.latency_ms))
        .collect();
    all.sort_by(f64::total_cmp);
    let mut histogram: Vec<(f64, usize)> = LATENCY_BUCKETS_MS.iter().map(|b| (*b, 0)).collect();
    histogram.push((f64::INFINITY, 0));
    for ms in &all {
        let bucket = histogram
            .iter_mut()
            .find(|(bound, _)| ms <= bound)
            .expect("the last bucket takes everything");
        bucket.1 += 1;
    }
    // JSON has no infinity: the open bucket is written as its lower bound's double.
    if let Some(last) = histogram.last_mut() {
        last.0 = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.len() - 1] * 2.0;
    }
    Latency {
        turns: all.len(),
        p50: quantile(&all, 0.50),
        p95: quantile(&all, 0.95),
        p99: quantile(&all, 0.99),
        histogram,
    }
}

fn llm_figures(runs: &[CaseRun], resolved: usize) -> LlmFigures {
    let mut f = LlmFigures::default();
    let mut turns = 0usize;
    for run in runs {
        turns += run.steps.len();
        // A turn's events run from its MessageReceived to the next one.
        let mut continuation = false;
        for event in &run.events {
            let usage = match &event.kind {
                EventKind::MessageReceived { .. } => {
                    continuation = false;
                    None
                }
                EventKind::CommandsUnderstood { llm, source, .. } => {
                    continuation = source.contains("(deterministic continuation)");
                    f.continuation_turns += u64::from(continuation);
                    llm.as_ref()
                }
                EventKind::KnowledgeConsulted { llm, .. } => llm.as_ref(),
                _ => None,
            };
            if let Some(u) = usage {
                f.calls += u.calls as u64;
                f.tokens += (u.prompt_tokens + u.completion_tokens) as u64;
                f.cost_usd += u.cost_usd;
                if continuation {
                    f.continuation_calls += u.calls as u64;
                }
            }
        }
    }
    let per = |x: f64, n: usize| if n == 0 { 0.0 } else { x / n as f64 };
    f.calls_per_turn = per(f.calls as f64, turns);
    f.tokens_per_turn = per(f.tokens as f64, turns);
    f.cost_per_turn = per(f.cost_usd, turns);
    f.cost_per_resolved = per(f.cost_usd, resolved);
    f
}

fn confusion(runs: &[CaseRun]) -> Confusion {
    let pairs: Vec<(String, String)> = runs
        .iter()
        .flat_map(|r| &r.steps)
        .filter_map(|s| {
            s.expected_flow.as_ref().map(|e| {
                (
                    e.clone(),
                    s.started.first().cloned().unwrap_or_else(|| "none".into()),
                )
            })
        })
        .collect();
    let mut labels: Vec<String> = pairs
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // `none` last.
    if let Some(i) = labels.iter().position(|l| l == "none") {
        let none = labels.remove(i);
        labels.push(none);
    }
    let index = |l: &String| labels.iter().position(|x| x == l).unwrap();
    let mut counts = vec![vec![0; labels.len()]; labels.len()];
    for (expected, started) in &pairs {
        counts[index(expected)][index(started)] += 1;
    }
    Confusion { labels, counts }
}

/// Content words of a text: lower case, letters and digits, longer than three characters.
fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .map(str::to_lowercase)
        .collect()
}

/// A sentence is supported when at least this share of its content words appear in the cited
/// passages.
const SUPPORT: f64 = 0.6;

async fn groundedness(runs: &[CaseRun], kb: &KnowledgeBase) -> (Option<f64>, usize) {
    let (mut sentences, mut supported, mut answers) = (0usize, 0usize, 0usize);
    for run in runs {
        // Answers in the conversation's language come from that locale's articles.
        let language =
            frontline_language::settle(run.steps.iter().flat_map(|s| &s.events).filter_map(|e| {
                match &e.kind {
                    EventKind::MessageReceived {
                        language, prefers, ..
                    } => Some(frontline_language::Said {
                        language: language.as_deref(),
                        preference: prefers.as_deref(),
                    }),
                    _ => None,
                }
            }))
            .map(str::to_string);
        let mut filters = vec![SearchFilter::default()];
        if let Some(l) = language {
            filters.push(SearchFilter {
                locale: Some(l),
                ..SearchFilter::default()
            });
        }
        for step in &run.steps {
            let mut consulted = None;
            for event in &step.events {
                match &event.kind {
                    EventKind::KnowledgeConsulted {
                        query,
                        answered: true,
                        sources,
                        ..
                    } => consulted = Some((query, sources)),
                    EventKind::ReplySent { text, .. } => {
                        let Some((query, sources)) = consulted.take() else {
                            continue;
                        };
                        let mut passages = vec![];
                        for filter in &filters {
                            if let Ok(found) = kb.search(query, 10, filter).await {
                                passages.extend(found.passages);
                            }
                        }
                        let evidence: HashSet<String> = passages
                            .iter()
                            .filter(|p| {
                                let cited = format!("{}{}", p.citation.document, p.citation.anchor);
                                sources.iter().any(|s| s.document == cited)
                            })
                            .flat_map(|p| content_words(&p.text))
                            .collect();
                        answers += 1;
                        for sentence in answer_sentences(text) {
                            let words = content_words(&sentence);
                            if words.len() < 3 {
                                continue;
                            }
                            sentences += 1;
                            let hits = words.iter().filter(|w| evidence.contains(*w)).count();
                            supported += (hits as f64 / words.len() as f64 >= SUPPORT) as usize;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let ratio = (sentences > 0).then(|| supported as f64 / sentences as f64);
    (ratio, answers)
}

/// The sentences of an answer, without its list of sources and citation marks.
fn answer_sentences(text: &str) -> Vec<String> {
    let body: String = text
        .lines()
        .take_while(|l| {
            let l = l.trim_start().to_lowercase();
            !["source", "(source", "(fuente", "(quelle"]
                .iter()
                .any(|label| l.starts_with(label))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let without_marks = regex::Regex::new(r"\[\d+\]")
        .expect("a valid pattern")
        .replace_all(&body, "");
    without_marks
        .split_inclusive(['.', '!', '?'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_recall_and_f1_from_counts() {
        let p = Prf::from_counts(8, 2, 0);
        assert_eq!((p.precision, p.recall, p.support), (0.8, 1.0, 8));
        assert!((p.f1 - 0.888_888).abs() < 1e-5);
        assert_eq!(Prf::from_counts(0, 0, 0).f1, 1.0);
        assert_eq!(Prf::from_counts(0, 3, 2).f1, 0.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn answers_are_split_into_sentences_without_sources() {
        let s = answer_sentences(
            "Refunds take 5 to 10 days [1]. Gift cards are instant!\nSources:\n[1] Refund timing",
        );
        assert_eq!(
            s,
            ["Refunds take 5 to 10 days .", "Gift cards are instant!"]
        );
        let s = answer_sentences("Allow 5 days.\n\n(Source: Refund timing)\n\nMay I ask why?");
        assert_eq!(s, ["Allow 5 days."]);
    }
}
