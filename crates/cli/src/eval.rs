//! `frontline eval`: the conversation suites of `evals/suites/` on the real agent, the dataset
//! evals alongside, one report (terminal, `report.json`, `report.html`), and the baseline gate.

use crate::config::{Config, UnderstandingMode};
use anyhow::{Context, Result};
use chrono::{NaiveDate, TimeZone, Utc};
use frontline_evals::{figures, load_suites, run_suites, Baseline, Report, World};
use frontline_flows::Engine;
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Dataset evals `frontline eval` runs alongside the conversation suites, when named.
pub const DATASETS: [&str; 8] = [
    "demo",
    "tau2-banking",
    "tau2-retail",
    "slots",
    "routing",
    "openings",
    "banking77",
    "clinc150",
];

/// What `frontline eval` was asked.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Suites to run, by name.
    #[arg(value_name = "SUITE")]
    pub names: Vec<String>,
    /// The same, as options (`--suite routing --suite clinc150`).
    #[arg(long = "suite", hide = true)]
    pub suites: Vec<String>,
    /// The understanding under test: local, llm (the configured endpoint, through its
    /// cassettes) or rules. Default: as configured.
    #[arg(long, value_parser = ["local", "llm", "rules"])]
    pub mode: Option<String>,
    /// Where report.json and report.html go.
    #[arg(long, default_value = "data/eval-report")]
    pub report: PathBuf,
    /// A baseline (a file saved with --save-baseline, or a report.json) to compare against.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Save this run's gated figures as a baseline.
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,
    /// How far (absolute) a figure may move the wrong way before it is a regression.
    #[arg(long, default_value_t = 0.02)]
    pub tolerance: f64,
    /// The conversation suites folder.
    #[arg(long, default_value = "evals/suites")]
    pub dir: PathBuf,
    /// The public datasets folder (vendored in the repository).
    #[arg(
        long,
        alias = "datasets",
        env = "FRONTLINE_SHARED_DATA",
        default_value = "evals/datasets"
    )]
    pub shared: PathBuf,
    /// Cases run at once.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

/// Run the evals; `Ok(false)` when the gate fails.
pub async fn eval_command(mut config: Config, args: EvalArgs) -> Result<bool> {
    if let Some(mode) = &args.mode {
        config.understanding.mode = match mode.as_str() {
            "local" => UnderstandingMode::Local,
            "llm" => UnderstandingMode::Llm,
            "rules" => UnderstandingMode::Rules,
            other => anyhow::bail!("--mode {other}: expected local, llm or rules"),
        };
    }
    let (datasets, conversations): (Vec<String>, Vec<String>) = args
        .names
        .iter()
        .chain(&args.suites)
        .cloned()
        .partition(|n| DATASETS.contains(&n.as_str()));
    let suites = load_suites(&args.dir).with_context(|| {
        format!(
            "reading the suites in {} (each problem is at file:line:col)",
            args.dir.display()
        )
    })?;
    for name in &conversations {
        if !suites.iter().any(|s| &s.name == name) {
            anyhow::bail!(
                "no suite named {name}: {} has {}; datasets: {}",
                args.dir.display(),
                suites
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                DATASETS.join(", ")
            );
        }
    }
    let suites: Vec<_> = suites
        .into_iter()
        .filter(|s| {
            conversations.contains(&s.name) || (conversations.is_empty() && datasets.is_empty())
        })
        .collect();

    let mut dataset_figures = crate::understanding_eval::DatasetFigures::new();
    let (tau2_retail, datasets): (Vec<String>, Vec<String>) =
        datasets.into_iter().partition(|d| d == "tau2-retail");
    if !tau2_retail.is_empty() {
        let report = frontline_evals::tau2::tau2_retail(
            &args.shared.join("tau2-retail"),
            Path::new("evals/tau2-retail/flows"),
        )
        .await
        .context("τ2 retail (set --shared to the datasets folder)")?;
        println!("{report}");
        for failure in &report.failures {
            println!("    miss: {failure}");
        }
        let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        dataset_figures.insert(
            "tau2-retail".into(),
            [
                ("gold_writes".into(), ratio(report.reproduced, report.gold)),
                (
                    "violations_refused".into(),
                    ratio(report.refused, report.violations),
                ),
            ]
            .into(),
        );
    }
    if !datasets.is_empty() {
        let (understanding, knowledge): (Vec<String>, Vec<String>) = datasets
            .into_iter()
            .partition(|s| crate::understanding_eval::SUITES.contains(&s.as_str()));
        if !knowledge.is_empty() {
            dataset_figures
                .extend(crate::knowledge::eval_command(&config, &knowledge, &args.shared).await?);
        }
        if !understanding.is_empty() {
            dataset_figures.extend(
                crate::understanding_eval::eval_command(&config, &understanding, &args.shared)
                    .await?,
            );
        }
    }

    let flows = crate::load_flows(&config.flows.dir)?;
    let mut figures = if suites.is_empty() {
        // Datasets only: no conversation to run.
        frontline_evals::Figures {
            mode: "datasets".into(),
            ..Default::default()
        }
    } else {
        run_conversations(&config, &args, &suites, flows).await?
    };
    figures.datasets = dataset_figures;
    let mut report = Report {
        figures,
        comparison: None,
    };
    if let Some(path) = &args.baseline {
        let baseline = Baseline::load(path)?;
        report.comparison = Some(frontline_evals::compare(
            &Baseline::of(&report.figures),
            &baseline,
            args.tolerance,
        ));
    }
    report.write(&args.report)?;
    print!("{}", report.summary());
    println!(
        "report: {} and {}",
        args.report.join("report.json").display(),
        args.report.join("report.html").display()
    );
    if let Some(path) = &args.save_baseline {
        save_baseline(&report, path)?;
        println!("baseline saved to {}", path.display());
    }
    Ok(report.gate_passes())
}

/// Run the conversation suites on the real agent and compute their figures.
async fn run_conversations(
    config: &Config,
    args: &EvalArgs,
    suites: &[frontline_evals::Suite],
    flows: std::sync::Arc<frontline_flows::FlowSet>,
) -> Result<frontline_evals::Figures> {
    let kb = crate::knowledge::eval_knowledge_base(config).await?;
    let (understanding, answer_writer) = crate::understanding(config, &flows, Some(&kb)).await?;
    let mode = understanding.name();
    let world = World {
        flows: flows.clone(),
        understanding,
        knowledge: Some(kb.clone()),
        answer_writer,
        shop: demo_shop().await?,
        escalation: config.escalation.settings()?,
        // Monday 10:00 UTC: the team is working.
        start: Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap(),
        concurrency: args.jobs.max(1),
        // `llm` personas are played by the configured endpoint, when there is one.
        user_simulator: crate::llm_client(config)?,
        surveys: config.surveys.clone(),
    };
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} cases ({elapsed})")
            .context("progress bar template")?,
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message("eval");
    let runs = run_suites(&world, suites, &|done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    Ok(figures(&mode, &runs, &Engine::new(flows), Some(&kb)).await)
}

fn save_baseline(report: &Report, path: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(&Baseline::of(&report.figures))?;
    std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// The demo shop's data, generated for a fixed date so every run sees the same orders.
async fn demo_shop() -> Result<frontline_shop::ShopData> {
    let dir = std::env::temp_dir().join(format!(
        "frontline-eval-shop-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let shop = Shop::open(&dir.join("shop.db")).await?;
    shop.seed_if_empty(&SeedOptions::demo(
        NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date"),
    ))
    .await?;
    let data = shop.export().await?;
    drop(shop);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(data)
}
