//! Flows → programs. Each flow's steps become a flat list of instructions with forward jumps
//! only, which makes the engine a simple program counter and the checks simple passes: unknown
//! names, unreachable steps, and "no write action without a confirmation on every path to it".

use crate::expr::{Expr, EXTRA_FUNCTIONS};
use crate::load::{Diagnostic, SourceFlow};
use crate::spec::{FlowSpec, Outcome, SlotSpec, SlotType, StepSpec};
use crate::template::Template;
use frontline_domain::{ActionKind, ActionSpec};
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// Names every flow may read: the date, the channel, and what is known of the customer.
pub const BUILTIN_NAMES: [&str; 3] = ["today", "channel", "customer"];
/// The reserved slot a `confirm` step fills with true or false.
pub const CONFIRMATION: &str = "confirmation";
/// The reserved slot a `verify` step fills with the one-time code the customer types.
pub const VERIFICATION_CODE: &str = frontline_domain::assurance::VERIFICATION_CODE_SLOT;
/// The built-in action a `verify` step asks the agent for to send a one-time code to the
/// account's own email or phone (`{"account": id or null}`).
pub const SEND_CODE: &str = "verification.send";
/// The built-in action a `verify` step asks the agent for to check the code typed
/// (`{"account": …, "code": …}`).
pub const CHECK_CODE: &str = "verification.check";

/// One instruction.
#[derive(Debug)]
pub struct Instr {
    /// The step id it came from (stable across edits that do not touch the step).
    pub id: String,
    /// The step's JSON pointer, for diagnostics.
    pub pointer: String,
    /// Where the step is written.
    pub position: crate::yaml::Position,
    /// What it does.
    pub op: Op,
}

/// What an instruction does.
#[derive(Debug)]
pub enum Op {
    /// Ask for a slot unless it is filled.
    Collect {
        /// The slot.
        slot: String,
    },
    /// Call a backend action; on failure jump to `on_error` (if any).
    Action {
        /// Action name.
        name: String,
        /// Arguments; strings are templates.
        args: serde_json::Map<String, Value>,
        /// Where to keep the result.
        result: Option<String>,
        /// Retries on backend failures.
        retry: u8,
        /// First instruction of the error block.
        on_error: Option<usize>,
        /// Whether it changes state.
        write: bool,
        /// Whether it acts on or discloses a customer's account (a verified owner first).
        owner_only: bool,
    },
    /// Prove the account is the customer's own (by the channel, or a one-time code).
    Verify {
        /// The account's id (null when no account was found: a code is "sent" nowhere, so the
        /// customer learns nothing about which addresses have accounts).
        account: Expr,
    },
    /// Compute slots.
    Set {
        /// Slot ← expression.
        assignments: Vec<(String, Expr)>,
    },
    /// If the condition is false, jump.
    Branch {
        /// The condition.
        condition: Expr,
        /// Where the `else` (or the end of the `if`) starts.
        otherwise: usize,
    },
    /// Jump.
    Jump {
        /// Target.
        target: usize,
    },
    /// Say a response.
    Respond {
        /// Response id.
        response: String,
    },
    /// Ask yes/no; on no, jump to `on_no` (or the default: acknowledge and end abandoned).
    Confirm {
        /// Response id of the question.
        response: String,
        /// First instruction of the `on_no` block.
        on_no: Option<usize>,
    },
    /// Run another flow, then continue.
    Call {
        /// Its id.
        flow: String,
    },
    /// Hand over to another flow for good.
    Link {
        /// Its id.
        flow: String,
    },
    /// Hand the conversation to a human.
    Escalate {
        /// Why.
        reason: Template,
        /// Queue.
        queue: Option<String>,
    },
    /// Finish.
    End {
        /// How.
        outcome: Outcome,
    },
}

impl Op {
    fn falls_through(&self) -> bool {
        !matches!(
            self,
            Op::Jump { .. } | Op::End { .. } | Op::Link { .. } | Op::Escalate { .. }
        )
    }
}

/// A slot ready to validate values.
#[derive(Debug)]
pub struct CompiledSlot {
    /// As written.
    pub spec: SlotSpec,
    /// The question.
    pub prompt: Template,
    /// The question in other words, when the flow gives one.
    pub reprompt: Option<Template>,
    /// Pattern slots: the whole-value regex.
    pub pattern: Option<Regex>,
    /// List slots: the expression giving the choices.
    pub choices: Option<Expr>,
    /// The expression giving the candidates offered, with the proposal and list templates.
    pub candidates: Option<CompiledCandidates>,
    /// Refusals.
    pub rejections: Vec<(Expr, Template)>,
}

impl CompiledSlot {
    /// A pattern slot's canonical form of `raw` (whitespace removed, case folded, prefix added),
    /// if it then matches the pattern: how both the engine and understanding read such values.
    pub fn pattern_value(&self, raw: &str) -> Option<String> {
        let mut value: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        value = match self.spec.normalize {
            crate::spec::Normalize::Uppercase => value.to_uppercase(),
            crate::spec::Normalize::Lowercase => value.to_lowercase(),
            crate::spec::Normalize::None => value,
        };
        if let Some(prefix) = &self.spec.prefix {
            if !value.starts_with(prefix.as_str()) {
                value = format!("{prefix}{value}");
            }
        }
        self.pattern.as_ref()?.is_match(&value).then_some(value)
    }
}

/// A slot's candidates, compiled (see [`crate::spec::CandidatesSpec`]).
#[derive(Debug)]
pub struct CompiledCandidates {
    /// Gives `[{value, label, date?, size?}]`.
    pub from: Expr,
    /// The proposal of a single candidate.
    pub one: Template,
    /// The question above a list.
    pub many: Template,
    /// The response id said when none fits.
    pub none: Option<String>,
    /// The records that cannot be offered, and the response id said when the opening names one.
    pub unfit: Option<(Expr, String)>,
}

/// A checked, compiled flow.
#[derive(Debug)]
pub struct CompiledFlow {
    /// As written.
    pub spec: FlowSpec,
    /// Its file.
    pub file: PathBuf,
    /// Its program; running off the end means `end: resolved`.
    pub program: Vec<Instr>,
    /// Slots by name.
    pub slots: BTreeMap<String, CompiledSlot>,
    /// Responses by id.
    pub responses: BTreeMap<String, Template>,
    /// Names of action results and called flows (null until set).
    pub result_names: BTreeSet<String>,
}

impl CompiledFlow {
    /// The instruction index of a step id.
    pub fn position_of(&self, step_id: &str) -> Option<usize> {
        self.program.iter().position(|i| i.id == step_id)
    }

    /// The steps a test can cover: every instruction except the jumps the compiler adds.
    pub fn coverable_steps(&self) -> impl Iterator<Item = &Instr> {
        self.program
            .iter()
            .filter(|i| !matches!(i.op, Op::Jump { .. }))
    }

    /// The first `collect` of a slot.
    pub fn collect_of(&self, slot: &str) -> Option<usize> {
        self.program
            .iter()
            .position(|i| matches!(&i.op, Op::Collect { slot: s } if s == slot))
    }
}

/// Every loaded flow, checked and compiled.
#[derive(Debug, Default)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<CompiledFlow>>,
    wording: crate::wording::Wording,
    /// The same flows in each other locale (`locales/<locale>/`, `locales/<locale>.yaml`).
    translations: BTreeMap<String, Arc<FlowSet>>,
    /// The texts the translations leave out (said in the default locale).
    missing: Vec<Diagnostic>,
    /// The locales with translated flows (a wording file alone words a handoff notice, but
    /// serves nobody).
    served: Vec<String>,
}

impl FlowSet {
    /// Compile and check `sources` against a backend's action `catalog`; every problem in every
    /// flow is reported.
    pub fn build(
        sources: Vec<SourceFlow>,
        catalog: &[ActionSpec],
    ) -> Result<FlowSet, Vec<Diagnostic>> {
        let mut diagnostics = Vec::new();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for s in &sources {
            if let Some(first) = seen.insert(s.spec.id.clone(), s.file.clone()) {
                diagnostics.push(s.diagnostic(
                    "/id",
                    format!(
                        "flow id `{}` is also used by {}",
                        s.spec.id,
                        first.display()
                    ),
                ));
            }
        }
        let flow_ids: BTreeSet<String> = sources.iter().map(|s| s.spec.id.clone()).collect();
        let mut flows = BTreeMap::new();
        for source in &sources {
            let names = Compiler::collect_names(&source.spec);
            let mut c = Compiler {
                source,
                catalog,
                flow_ids: &flow_ids,
                program: vec![],
                diagnostics: vec![],
                ids: BTreeSet::new(),
                names,
            };
            let compiled = c.flow();
            diagnostics.append(&mut c.diagnostics);
            if let Some(flow) = compiled {
                flows.insert(flow.spec.id.clone(), flow);
            }
        }
        let set = FlowSet {
            flows: flows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            wording: crate::wording::Wording::builtin(),
            translations: BTreeMap::new(),
            missing: Vec::new(),
            served: Vec::new(),
        };
        diagnostics.extend(set.loops_without_questions(&sources));
        diagnostics.extend(set.unverified_owner_actions(&sources));
        if diagnostics.is_empty() {
            Ok(set)
        } else {
            diagnostics.sort();
            diagnostics.dedup();
            Err(diagnostics)
        }
    }

    /// Load a folder of flows, its wording (`locales/en.yaml`, when there is one) and its
    /// translations (`locales/<locale>/` and `locales/<locale>.yaml`, see [`crate::locale`]),
    /// and build them; every problem of every file is reported together. The examples,
    /// keywords and synonyms of every locale route in all of them.
    pub fn load(dir: &std::path::Path, catalog: &[ActionSpec]) -> Result<FlowSet, Vec<Diagnostic>> {
        use crate::locale;
        use crate::wording::{Wording, DEFAULT_LOCALE};
        let mut diagnostics = Vec::new();
        let wording = Wording::load(dir, DEFAULT_LOCALE)
            .map_err(|d| diagnostics.extend(d))
            .ok();
        let mut sources = match crate::load::load_dir(dir) {
            Ok(sources) => sources,
            Err(d) => {
                diagnostics.extend(d);
                return Err(diagnostics);
            }
        };
        // Each locale's translations, checked against the flows they translate.
        let mut read: Vec<(String, Vec<locale::Translation>)> = Vec::new();
        for code in locale::locales(dir, DEFAULT_LOCALE) {
            match locale::read(dir, &code) {
                Ok(translations) => {
                    for t in &translations {
                        if !sources.iter().any(|s| s.spec.id == t.flow) {
                            diagnostics.push(Diagnostic {
                                file: t.file.clone(),
                                position: crate::yaml::Position { line: 1, col: 1 },
                                message: format!("there is no flow `{}` to translate", t.flow),
                                pointer: String::new(),
                            });
                        }
                    }
                    read.push((code, translations));
                }
                Err(d) => diagnostics.extend(d),
            }
        }
        // Routing words of every locale go to the flow in all of them.
        let mut routing = Vec::new();
        for (_, translations) in &read {
            for t in translations {
                if let Some(source) = sources.iter().find(|s| s.spec.id == t.flow) {
                    match locale::apply(source, t) {
                        Ok((_, words)) => routing.push((t.flow.clone(), words)),
                        Err(d) => diagnostics.extend(d),
                    }
                }
            }
        }
        for (flow, words) in &routing {
            if let Some(source) = sources.iter_mut().find(|s| &s.spec.id == flow) {
                words.extend(&mut source.spec);
            }
        }
        let mut translations = BTreeMap::new();
        let mut missing = Vec::new();
        for (code, ts) in &read {
            let mut localized = Vec::new();
            for source in &sources {
                let t = ts.iter().find(|t| t.flow == source.spec.id);
                // A locale with only a wording file words notices; its flows are not missing.
                if dir.join("locales").join(code).is_dir() {
                    missing.extend(locale::missing(source, t, code, dir));
                }
                match t.map(|t| locale::apply(source, t)) {
                    Some(Ok((spec, _))) => localized.push(source.with_spec(spec)),
                    Some(Err(_)) => {} // reported above
                    None => localized.push(source.with_spec(source.spec.clone())),
                }
            }
            let words = Wording::load_translation(dir, code);
            let set = FlowSet::build(localized, catalog).map_err(|d| {
                diagnostics.extend(d.into_iter().map(|mut d| {
                    d.message = format!("{code}: {}", d.message);
                    d
                }))
            });
            match (set, words) {
                (Ok(set), Ok((words, gaps))) => {
                    missing.extend(gaps);
                    translations.insert(code.clone(), Arc::new(set.with_wording(words)));
                }
                (_, Err(d)) => diagnostics.extend(d),
                _ => {}
            }
        }
        let set = FlowSet::build(sources, catalog).map_err(|d| diagnostics.extend(d));
        match (set, wording) {
            (Ok(mut set), Some(wording)) if diagnostics.is_empty() => {
                set.served = read
                    .iter()
                    .filter(|(code, _)| dir.join("locales").join(code).is_dir())
                    .map(|(code, _)| code.clone())
                    .collect();
                set.translations = translations;
                set.missing = missing;
                Ok(set.with_wording(wording))
            }
            _ => {
                diagnostics.sort();
                diagnostics.dedup();
                Err(diagnostics)
            }
        }
    }

    /// These flows in `locale`: the translation loaded for it, or these (the default locale's)
    /// when there is none.
    pub fn in_locale(&self, locale: &str) -> Option<&Arc<FlowSet>> {
        self.translations
            .get(locale)
            .or_else(|| self.translations.get(locale.split(['-', '_']).next()?))
    }

    /// The locales these flows serve customers in: the default first, then each one whose
    /// flows are translated (`locales/<locale>/`).
    pub fn locales(&self) -> Vec<&str> {
        std::iter::once(crate::wording::DEFAULT_LOCALE)
            .chain(self.served.iter().map(String::as_str))
            .collect()
    }

    /// The texts the translations leave out (each said in the default locale instead), at the
    /// line of the default text, naming the locale and the file they belong in.
    pub fn missing_translations(&self) -> &[Diagnostic] {
        &self.missing
    }

    /// The same flows speaking with `wording`.
    pub fn with_wording(mut self, wording: crate::wording::Wording) -> Self {
        self.wording = wording;
        self
    }

    /// What the agent says outside the flows' own prompts and responses.
    pub fn wording(&self) -> &crate::wording::Wording {
        &self.wording
    }

    /// What the customer can ask of these flows, from their descriptions ("check where an
    /// order is, cancel a subscription or …"): the flows a customer can start, in id order.
    pub fn capabilities(&self) -> String {
        let described: Vec<String> = self
            .flows
            .values()
            .filter(|f| {
                f.spec.starts == crate::spec::Starts::Customer && !f.spec.id.starts_with("pattern_")
            })
            .map(|f| crate::engine::lower_first(&f.spec.description))
            .collect();
        self.wording.list(&described)
    }

    /// A flow by id.
    pub fn get(&self, id: &str) -> Option<&Arc<CompiledFlow>> {
        self.flows.get(id)
    }

    /// Whether another flow runs `id` as a step of its own (`call:`), as every demo flow runs
    /// `authenticate`: such a flow is part of its caller's request, not one of its own.
    pub fn is_called(&self, id: &str) -> bool {
        self.flows.values().any(|f| {
            f.program
                .iter()
                .any(|i| matches!(&i.op, Op::Call { flow } if flow == id))
        })
    }

    /// Every flow, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<CompiledFlow>> {
        self.flows.values()
    }

    /// How many flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// `call`/`link` cycles in which no flow asks the customer anything would spin forever.
    fn loops_without_questions(&self, sources: &[SourceFlow]) -> Vec<Diagnostic> {
        let asks = |f: &CompiledFlow| {
            f.program
                .iter()
                .any(|i| matches!(i.op, Op::Collect { .. } | Op::Confirm { .. }))
        };
        let edges = |f: &CompiledFlow| -> Vec<(String, String)> {
            f.program
                .iter()
                .filter_map(|i| match &i.op {
                    Op::Call { flow } | Op::Link { flow } => {
                        Some((flow.clone(), i.pointer.clone()))
                    }
                    _ => None,
                })
                .collect()
        };
        let mut out = Vec::new();
        for start in self.flows.values() {
            // Depth-first search for a path back to `start` through flows that ask nothing.
            let mut stack: Vec<(String, Vec<String>)> =
                vec![(start.spec.id.clone(), vec![start.spec.id.clone()])];
            let mut visited = BTreeSet::new();
            while let Some((id, path)) = stack.pop() {
                let Some(flow) = self.flows.get(&id) else {
                    continue;
                };
                if asks(flow) || !visited.insert(id.clone()) {
                    continue;
                }
                for (next, pointer) in edges(flow) {
                    if next == start.spec.id {
                        if let Some(src) = sources.iter().find(|s| s.spec.id == id) {
                            let cycle = [path.clone(), vec![next.clone()]].concat().join(" → ");
                            out.push(src.diagnostic(&pointer, format!("flows {cycle} form a loop in which nothing is asked of the customer")));
                        }
                    } else {
                        stack.push((next.clone(), [path.clone(), vec![next]].concat()));
                    }
                }
            }
        }
        out
    }
}

struct Compiler<'a> {
    source: &'a SourceFlow,
    catalog: &'a [ActionSpec],
    flow_ids: &'a BTreeSet<String>,
    program: Vec<Instr>,
    diagnostics: Vec<Diagnostic>,
    ids: BTreeSet<String>,
    /// [`Compiler::known_names`] outside error blocks, computed once per flow.
    names: BTreeSet<String>,
}

impl Compiler<'_> {
    fn error(&mut self, pointer: &str, message: impl Into<String>) {
        self.diagnostics
            .push(self.source.diagnostic(pointer, message));
    }

    fn spec(&self) -> &FlowSpec {
        &self.source.spec
    }

    /// Slots, results, called flows and built-ins: every name a template or condition may use
    /// outside an `on_error` block.
    fn collect_names(spec: &FlowSpec) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
        names.extend(spec.slots.keys().cloned());
        fn walk(steps: &[StepSpec], names: &mut BTreeSet<String>) {
            for s in steps {
                names.extend(s.result.clone());
                names.extend(s.call.clone());
                for block in [&s.then, &s.otherwise, &s.on_error, &s.on_no]
                    .into_iter()
                    .flatten()
                {
                    walk(block, names);
                }
            }
        }
        walk(&spec.steps, &mut names);
        names
    }

    fn is_known(&self, name: &str, in_error_block: bool) -> bool {
        self.names.contains(name) || (in_error_block && name == "error")
    }

    fn check_names(&mut self, pointer: &str, names: Vec<String>, in_error_block: bool, what: &str) {
        for name in names {
            if !self.is_known(&name, in_error_block) && !EXTRA_FUNCTIONS.contains(&name.as_str()) {
                let hint = if name == "error" {
                    " (`error` exists only inside `on_error`)"
                } else {
                    ""
                };
                self.error(pointer, format!("{what} uses `{name}`, which is not a slot, an action result or a built-in ({}){hint}", BUILTIN_NAMES.join(", ")));
            }
        }
    }

    fn template(&mut self, pointer: &str, source: &str, in_error_block: bool) -> Option<Template> {
        self.template_with(pointer, source, in_error_block, &[])
    }

    /// A template that may also use the names in `extra` (given when it is rendered).
    fn template_with(
        &mut self,
        pointer: &str,
        source: &str,
        in_error_block: bool,
        extra: &[&str],
    ) -> Option<Template> {
        match Template::parse(source) {
            Ok(t) => {
                let names = t
                    .names()
                    .into_iter()
                    .filter(|n| !extra.contains(n))
                    .map(str::to_string)
                    .collect();
                self.check_names(pointer, names, in_error_block, "the template");
                Some(t)
            }
            Err(e) => {
                self.error(pointer, e);
                None
            }
        }
    }

    fn expr(&mut self, pointer: &str, source: &str, in_error_block: bool) -> Option<Expr> {
        match Expr::compile(source) {
            Ok(e) => {
                self.check_names(pointer, e.variables(), in_error_block, "the condition");
                Some(e)
            }
            Err(e) => {
                self.error(pointer, e);
                None
            }
        }
    }

    fn flow(&mut self) -> Option<CompiledFlow> {
        let spec = self.spec().clone();
        let mut slots = BTreeMap::new();
        for (name, slot) in &spec.slots {
            let pointer = format!("/slots/{name}");
            if name == CONFIRMATION || name == VERIFICATION_CODE {
                self.error(
                    &pointer,
                    format!(
                        "`{name}` is reserved for {} steps; pick another slot name",
                        if name == CONFIRMATION {
                            "confirm"
                        } else {
                            "verify"
                        }
                    ),
                );
            }
            let prompt = self.template(&format!("{pointer}/prompt"), &slot.prompt, false);
            let reprompt = slot
                .reprompt
                .as_ref()
                .and_then(|text| self.template(&format!("{pointer}/reprompt"), text, false));
            let pattern = match (&slot.kind, &slot.pattern) {
                (SlotType::Pattern, Some(p)) => match Regex::new(&format!("^(?:{p})$")) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.error(
                            &format!("{pointer}/pattern"),
                            format!("invalid regular expression: {e}"),
                        );
                        None
                    }
                },
                _ => None,
            };
            if slot.kind == SlotType::Enum && slot.values.is_empty() {
                self.error(
                    &format!("{pointer}/values"),
                    "an enum slot needs at least one value",
                );
            }
            let mut rejections = Vec::new();
            for (i, r) in slot.rejections.iter().enumerate() {
                let rp = format!("{pointer}/rejections/{i}");
                let condition = self.expr(&format!("{rp}/if"), &r.condition, false);
                let message = self.template(&format!("{rp}/message"), &r.message, false);
                if let (Some(c), Some(m)) = (condition, message) {
                    rejections.push((c, m));
                }
            }
            let choices = match &slot.choices {
                Some(source) => self.expr(&format!("{pointer}/choices"), source, false),
                None => None,
            };
            let candidates = slot.candidates.as_ref().and_then(|c| {
                let cp = format!("{pointer}/candidates");
                if let Some(none) = &c.none {
                    if !spec.responses.contains_key(none) {
                        self.error(
                            &format!("{cp}/none"),
                            format!("no response `{none}` in this flow's responses"),
                        );
                    }
                }
                let unfit = match (&c.others, &c.unfit) {
                    (Some(others), Some(unfit)) => {
                        if !spec.responses.contains_key(unfit) {
                            self.error(
                                &format!("{cp}/unfit"),
                                format!("no response `{unfit}` in this flow's responses"),
                            );
                        }
                        self.expr(&format!("{cp}/others"), others, false)
                            .map(|e| (e, unfit.clone()))
                    }
                    (None, None) => None,
                    (Some(_), None) => {
                        self.error(
                            &format!("{cp}/others"),
                            "`others` needs `unfit`, the response said when the opening names one",
                        );
                        None
                    }
                    (None, Some(_)) => {
                        self.error(
                            &format!("{cp}/unfit"),
                            "`unfit` needs `others`, the records it is said about",
                        );
                        None
                    }
                };
                Some(CompiledCandidates {
                    unfit,
                    from: self.expr(&format!("{cp}/from"), &c.from, false)?,
                    one: self.template_with(&format!("{cp}/one"), &c.one, false, &["candidate"])?,
                    many: self.template(&format!("{cp}/many"), &c.many, false)?,
                    none: c.none.clone(),
                })
            });
            if let Some(prompt) = prompt {
                slots.insert(
                    name.clone(),
                    CompiledSlot {
                        spec: slot.clone(),
                        prompt,
                        reprompt,
                        pattern,
                        choices,
                        candidates,
                        rejections,
                    },
                );
            }
        }
        // A response said about a record the opening named (`unfit`) may use `{named}`.
        let about_named: Vec<&str> = spec
            .slots
            .values()
            .filter_map(|s| s.candidates.as_ref()?.unfit.as_deref())
            .collect();
        let mut responses = BTreeMap::new();
        for (id, text) in &spec.responses {
            let extra: &[&str] = match about_named.contains(&id.as_str()) {
                true => &["named"],
                false => &[],
            };
            if let Some(t) = self.template_with(&format!("/responses/{id}"), text, true, extra) {
                responses.insert(id.clone(), t);
            }
        }
        self.block(&spec.steps, "/steps", "s", false);
        self.check_confirmations();
        let program = std::mem::take(&mut self.program);
        let mut result_names = self.names.clone();
        for name in BUILTIN_NAMES
            .iter()
            .map(|s| s.to_string())
            .chain(spec.slots.keys().cloned())
        {
            result_names.remove(&name);
        }
        let ok = self.diagnostics.is_empty();
        ok.then(|| CompiledFlow {
            spec,
            file: self.source.file.clone(),
            program,
            slots,
            responses,
            result_names,
        })
    }

    fn push(&mut self, id: String, pointer: String, op: Op) -> usize {
        let position = self.source.diagnostic(&pointer, "").position;
        self.program.push(Instr {
            id,
            pointer,
            position,
            op,
        });
        self.program.len() - 1
    }

    fn block(&mut self, steps: &[StepSpec], pointer: &str, prefix: &str, in_error_block: bool) {
        let mut terminated = false;
        for (i, step) in steps.iter().enumerate() {
            let p = format!("{pointer}/{i}");
            if terminated {
                self.error(
                    &p,
                    "this step can never run: the step before it always ends, links or escalates",
                );
            }
            let id = match &step.id {
                Some(id) => id.clone(),
                None => format!("{prefix}{}", i + 1),
            };
            if !self.ids.insert(id.clone()) {
                self.error(
                    &format!("{p}/id"),
                    format!("step id `{id}` is used twice in this flow"),
                );
            }
            self.step(step, &p, &id, in_error_block);
            terminated = self
                .program
                .last()
                .is_some_and(|last| !last.op.falls_through() && last.pointer == p);
        }
    }

    fn response_ref(&mut self, pointer: &str, id: &str) {
        if !self.spec().responses.contains_key(id) {
            let known: Vec<&String> = self.spec().responses.keys().collect();
            let known = known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                pointer,
                format!("unknown response `{id}` (responses: {known})"),
            );
        }
    }

    fn flow_ref(&mut self, pointer: &str, id: &str) {
        if id == self.spec().id {
            self.error(pointer, "a flow cannot call or link itself");
        } else if !self.flow_ids.contains(id) {
            self.error(pointer, format!("unknown flow `{id}`"));
        }
    }

    fn step(&mut self, step: &StepSpec, p: &str, id: &str, in_error_block: bool) {
        if let Some(slot) = &step.collect {
            if !self.spec().slots.contains_key(slot) {
                let known = self
                    .spec()
                    .slots
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(
                    &format!("{p}/collect"),
                    format!("unknown slot `{slot}` (slots: {known})"),
                );
            }
            self.push(id.into(), p.into(), Op::Collect { slot: slot.clone() });
        } else if let Some(name) = &step.action {
            let args = step.args.clone().unwrap_or_default();
            let (write, owner_only) = self.action_ref(p, name, &args, in_error_block);
            let at = self.push(
                id.into(),
                p.into(),
                Op::Action {
                    name: name.clone(),
                    args,
                    result: step.result.clone(),
                    retry: step.retry.unwrap_or(0),
                    on_error: None,
                    write,
                    owner_only,
                },
            );
            if let Some(block) = &step.on_error {
                let jump = self.push(format!("{id}_ok"), p.into(), Op::Jump { target: 0 });
                let start = self.program.len();
                self.block(
                    block,
                    &format!("{p}/on_error"),
                    &format!("{id}_error_"),
                    true,
                );
                let end = self.program.len();
                if let Op::Action { on_error, .. } = &mut self.program[at].op {
                    *on_error = Some(start);
                }
                self.program[jump].op = Op::Jump { target: end };
            }
        } else if let Some(assignments) = &step.set {
            let mut compiled = Vec::new();
            for (slot, source) in assignments {
                if !self.spec().slots.contains_key(slot) {
                    self.error(
                        &format!("{p}/set/{slot}"),
                        format!("`set` can only fill slots; `{slot}` is not a slot of this flow"),
                    );
                }
                if let Some(e) = self.expr(&format!("{p}/set/{slot}"), source, in_error_block) {
                    compiled.push((slot.clone(), e));
                }
            }
            self.push(
                id.into(),
                p.into(),
                Op::Set {
                    assignments: compiled,
                },
            );
        } else if let Some(condition) = &step.condition {
            let condition = self
                .expr(&format!("{p}/if"), condition, in_error_block)
                .unwrap_or_else(|| Expr::compile("false").expect("literal"));
            let branch = self.push(
                id.into(),
                p.into(),
                Op::Branch {
                    condition,
                    otherwise: 0,
                },
            );
            self.block(
                step.then.as_deref().unwrap_or_default(),
                &format!("{p}/then"),
                &format!("{id}_then_"),
                in_error_block,
            );
            let otherwise = match &step.otherwise {
                Some(block) => {
                    let jump = self.push(format!("{id}_endif"), p.into(), Op::Jump { target: 0 });
                    let start = self.program.len();
                    self.block(
                        block,
                        &format!("{p}/else"),
                        &format!("{id}_else_"),
                        in_error_block,
                    );
                    let end = self.program.len();
                    self.program[jump].op = Op::Jump { target: end };
                    start
                }
                None => self.program.len(),
            };
            if let Op::Branch { otherwise: o, .. } = &mut self.program[branch].op {
                *o = otherwise;
            }
        } else if let Some(response) = &step.respond {
            self.response_ref(&format!("{p}/respond"), response);
            self.push(
                id.into(),
                p.into(),
                Op::Respond {
                    response: response.clone(),
                },
            );
        } else if let Some(response) = &step.confirm {
            self.response_ref(&format!("{p}/confirm"), response);
            let at = self.push(
                id.into(),
                p.into(),
                Op::Confirm {
                    response: response.clone(),
                    on_no: None,
                },
            );
            if let Some(block) = &step.on_no {
                let jump = self.push(format!("{id}_yes"), p.into(), Op::Jump { target: 0 });
                let start = self.program.len();
                self.block(
                    block,
                    &format!("{p}/on_no"),
                    &format!("{id}_no_"),
                    in_error_block,
                );
                let end = self.program.len();
                if let Op::Confirm { on_no, .. } = &mut self.program[at].op {
                    *on_no = Some(start);
                }
                self.program[jump].op = Op::Jump { target: end };
            }
        } else if let Some(flow) = &step.call {
            self.flow_ref(&format!("{p}/call"), flow);
            self.push(id.into(), p.into(), Op::Call { flow: flow.clone() });
        } else if let Some(account) = &step.verify {
            let account = self
                .expr(&format!("{p}/verify"), account, in_error_block)
                .unwrap_or_else(|| Expr::compile("null").expect("literal"));
            self.push(id.into(), p.into(), Op::Verify { account });
        } else if let Some(flow) = &step.link {
            self.flow_ref(&format!("{p}/link"), flow);
            self.push(id.into(), p.into(), Op::Link { flow: flow.clone() });
        } else if let Some(e) = &step.escalate {
            let reason = self
                .template(&format!("{p}/escalate/reason"), &e.reason, in_error_block)
                .unwrap_or_else(|| Template::parse("").expect("empty"));
            self.push(
                id.into(),
                p.into(),
                Op::Escalate {
                    reason,
                    queue: e.queue.clone(),
                },
            );
        } else if let Some(outcome) = step.end {
            self.push(id.into(), p.into(), Op::End { outcome });
        }
    }

    /// Check an action against the catalog; returns whether it writes and whether it needs a
    /// verified owner.
    fn action_ref(
        &mut self,
        p: &str,
        name: &str,
        args: &serde_json::Map<String, Value>,
        in_error_block: bool,
    ) -> (bool, bool) {
        for (key, value) in args {
            self.arg_templates(&format!("{p}/args/{key}"), value, in_error_block);
        }
        if self.catalog.is_empty() {
            return (false, false);
        }
        let Some(spec) = self.catalog.iter().find(|a| a.name == name) else {
            self.error(
                &format!("{p}/action"),
                format!(
                    "unknown action `{name}` (the backend offers: {})",
                    self.catalog
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return (false, false);
        };
        for required in &spec.required_args {
            if !args.contains_key(required) {
                self.error(
                    &format!("{p}/args"),
                    format!("`{name}` requires the argument `{required}`"),
                );
            }
        }
        for key in args.keys() {
            if !spec.required_args.contains(key) {
                self.error(
                    &format!("{p}/args/{key}"),
                    format!(
                        "`{key}` is not an argument of `{name}` (arguments: {})",
                        spec.required_args.join(", ")
                    ),
                );
            }
        }
        (spec.kind == ActionKind::Write, spec.owner_only)
    }

    fn arg_templates(&mut self, pointer: &str, value: &Value, in_error_block: bool) {
        match value {
            Value::String(s) => {
                self.template(pointer, s, in_error_block);
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                self.arg_templates(&format!("{pointer}/{i}"), v, in_error_block)
            }),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                self.arg_templates(&format!("{pointer}/{k}"), v, in_error_block)
            }),
            _ => {}
        }
    }

    /// Every write action must be preceded, on every path to it, by a `confirm` answered yes
    /// with no `collect` in between; each write uses its confirmation up.
    fn check_confirmations(&mut self) {
        let mut problems = Vec::new();
        forward(&self.program, |i, instr, confirmed| {
            let after = match &instr.op {
                Op::Collect { .. } => false,
                Op::Action { write: true, .. } => {
                    if !confirmed {
                        problems.push(instr.pointer.clone());
                    }
                    false
                }
                Op::Confirm { .. } => true,
                _ => confirmed,
            };
            match &instr.op {
                // Yes goes on confirmed; no goes to the `on_no` block unconfirmed.
                Op::Confirm {
                    on_no: Some(no), ..
                } => vec![(i + 1, true), (*no, false)],
                op => successors(i, op).map(|to| (to, after)).collect(),
            }
        });
        for pointer in problems {
            self.error(&pointer, "this write action can run without the customer confirming it first: put a `confirm` step before it on every path (and after the last `collect`)");
        }
    }
}

/// Where control can go from instruction `i` (the program's length is its end).
fn successors(i: usize, op: &Op) -> impl Iterator<Item = usize> {
    let (a, b) = match op {
        Op::Jump { target } => (Some(*target), None),
        Op::Branch { otherwise, .. } => (Some(i + 1), Some(*otherwise)),
        Op::Action {
            on_error: Some(e), ..
        } => (Some(i + 1), Some(*e)),
        Op::Confirm {
            on_no: Some(no), ..
        } => (Some(i + 1), Some(*no)),
        op if op.falls_through() => (Some(i + 1), None),
        _ => (None, None),
    };
    a.into_iter().chain(b)
}

/// Forward data flow of one fact over a program whose jumps all go forward. `edges` gives, for
/// a reached instruction and the fact holding before it, each successor with the fact it
/// receives; a fact holds where paths join only if it holds on all of them. Returns the fact
/// before each instruction and at the end (index `program.len()`); `None` where unreachable.
fn forward(
    program: &[Instr],
    mut edges: impl FnMut(usize, &Instr, bool) -> Vec<(usize, bool)>,
) -> Vec<Option<bool>> {
    let n = program.len();
    let mut state: Vec<Option<bool>> = vec![None; n + 1];
    state[0] = Some(false);
    for i in 0..n {
        let Some(holds) = state[i] else { continue };
        for (to, fact) in edges(i, &program[i], holds) {
            if let Some(slot) = state.get_mut(to) {
                *slot = Some(slot.map_or(fact, |old| old && fact));
            }
        }
    }
    state
}

impl FlowSet {
    /// Every action that acts on or discloses an account must be reached, on every path, only
    /// after a `verify` step, in the flow or in a flow it `call`s that verifies whenever it
    /// returns.
    fn unverified_owner_actions(&self, sources: &[SourceFlow]) -> Vec<Diagnostic> {
        let mut verifies = BTreeMap::new();
        let mut out = Vec::new();
        for flow in self.flows.values() {
            let mut problems = Vec::new();
            self.verified_states(flow, &mut verifies, &mut BTreeSet::new(), |instr| {
                problems.push(instr.pointer.clone())
            });
            if let Some(src) = sources.iter().find(|s| s.spec.id == flow.spec.id) {
                for pointer in problems {
                    out.push(src.diagnostic(&pointer, "this action changes or discloses a customer's account, and can run before the customer is verified: put a `verify` step (or a `call` of a flow that verifies, like `authenticate`) before it on every path"));
                }
            }
        }
        out
    }

    /// The "owner verified" fact before each instruction of `flow`; calls `unverified` for each
    /// owner-only action reached without it. Whether a called flow verifies is computed once
    /// (a flow being computed, in a call cycle, counts as not verifying).
    fn verified_states(
        &self,
        flow: &CompiledFlow,
        verifies: &mut BTreeMap<String, bool>,
        computing: &mut BTreeSet<String>,
        mut unverified: impl FnMut(&Instr),
    ) -> Vec<Option<bool>> {
        computing.insert(flow.spec.id.clone());
        let callees: BTreeMap<String, bool> = flow
            .program
            .iter()
            .filter_map(|i| match &i.op {
                Op::Call { flow } => Some(flow.clone()),
                _ => None,
            })
            .map(|callee| {
                let v = self.flow_verifies(&callee, verifies, computing);
                (callee, v)
            })
            .collect();
        let states = forward(&flow.program, |i, instr, verified| {
            let after = match &instr.op {
                Op::Verify { .. } => true,
                Op::Call { flow } => verified || callees.get(flow).copied().unwrap_or(false),
                Op::Action {
                    owner_only: true, ..
                } if !verified => {
                    unverified(instr);
                    false
                }
                _ => verified,
            };
            successors(i, &instr.op).map(|to| (to, after)).collect()
        });
        computing.remove(&flow.spec.id);
        states
    }

    /// Whether `id` has verified the owner whenever it ends resolved (and so returns to its
    /// caller).
    fn flow_verifies(
        &self,
        id: &str,
        verifies: &mut BTreeMap<String, bool>,
        computing: &mut BTreeSet<String>,
    ) -> bool {
        if let Some(known) = verifies.get(id) {
            return *known;
        }
        let Some(flow) = self.flows.get(id).cloned() else {
            return false;
        };
        if computing.contains(id) {
            return false;
        }
        let states = self.verified_states(&flow, verifies, computing, |_| {});
        let n = flow.program.len();
        let resolved_ends = flow
            .program
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                matches!(
                    i.op,
                    Op::End {
                        outcome: Outcome::Resolved
                    }
                )
            })
            .map(|(at, _)| states[at])
            .chain(std::iter::once(states[n]));
        let mut any = false;
        let mut all = true;
        for state in resolved_ends.flatten() {
            any = true;
            all &= state;
        }
        let result = any && all;
        verifies.insert(id.to_string(), result);
        result
    }
}
