//! `frontline eval` suites for understanding: the slot-extraction set, the demo routing set,
//! and the local router on Banking77 and CLINC150 (from the datasets folder, `evals/datasets`).

use crate::config::Config;
use anyhow::{Context, Result};
use frontline_knowledge::{CachedEmbedder, Embedder};
use frontline_understanding::eval::{
    banking77, calibrate_local, clinc150, evaluate_intents, evaluate_openings, evaluate_routing,
    evaluate_slots, load_routing_set, load_slot_set, routed_cases,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{KnowledgeProbe, LocalUnderstanding, RuleUnderstanding};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The understanding suites `frontline eval` knows.
pub const SUITES: [&str; 5] = ["slots", "routing", "openings", "banking77", "clinc150"];

/// Where the vectors of dataset `name` are kept between eval runs.
fn embedding_cache(config: &Config, name: &str) -> PathBuf {
    PathBuf::from(&config.knowledge.cache_dir)
        .join("embeddings")
        .join(format!("{name}.bin"))
}

/// Run the understanding suites among `suites` (all of them when empty; datasets that are
/// missing are skipped then, and an error when asked for by name). Prints each report and
/// returns its headline figures by suite, for the eval report.
pub async fn eval_command(
    config: &Config,
    suites: &[String],
    shared: &Path,
) -> Result<DatasetFigures> {
    let mut figures = DatasetFigures::new();
    let all = suites.is_empty();
    let wanted = |name: &str| all || suites.iter().any(|s| s == name);
    let model = crate::knowledge::local_model(config).await?;
    if wanted("slots") {
        let flows = crate::load_flows(Path::new("evals/understanding/flows"))?;
        let set = load_slot_set(Path::new("evals/understanding/slots.yaml"))?;
        let local =
            LocalUnderstanding::build(flows.clone(), model.clone(), LocalSettings::default())
                .await?;
        let report = evaluate_slots(&local, &flows, "report_problem", &set).await?;
        println!("{report}");
        let (tp, fp, fn_) = report.by_type.values().fold((0, 0, 0), |(a, b, c), n| {
            (
                a + n.true_positives,
                b + n.false_positives,
                c + n.false_negatives,
            )
        });
        figures.insert(
            "slots".into(),
            [
                ("precision".into(), tp as f64 / (tp + fp).max(1) as f64),
                ("recall".into(), tp as f64 / (tp + fn_).max(1) as f64),
            ]
            .into(),
        );
        let rules = RuleUnderstanding::new(flows.clone());
        println!(
            "{}",
            evaluate_slots(&rules, &flows, "report_problem", &set).await?
        );
    }
    if wanted("routing") {
        let flows = crate::load_flows(&config.flows.dir)?;
        let kb = crate::knowledge::eval_knowledge_base(config).await?;
        let local = LocalUnderstanding::build(flows, model.clone(), LocalSettings::default())
            .await?
            .with_knowledge(kb.clone());
        let cases = load_routing_set(Path::new("evals/understanding/routing.yaml"))?;
        let report = evaluate_routing(&local, &cases, chrono::Utc::now().date_naive()).await?;
        print!("{report}");
        figures.insert(
            "routing".into(),
            [("accuracy".into(), report.accuracy)].into(),
        );
        for failure in &report.failures {
            println!("    miss: {failure}");
        }
        let data = routed_cases(&local, Some(kb.as_ref() as &dyn KnowledgeProbe), &cases).await?;
        let (calibrated, accuracy) = calibrate_local(&data, LocalSettings::default());
        println!(
            "  calibrated on this set: out_of_scope {:.2}, margin {:.2}, sure {:.2}, knowledge_margin {:.2} → {:.3}",
            calibrated.router.out_of_scope,
            calibrated.router.margin,
            calibrated.sure,
            calibrated.knowledge_margin,
            accuracy
        );
    }
    if wanted("openings") {
        let flows = crate::load_flows(&config.flows.dir)?;
        let kb = crate::knowledge::eval_knowledge_base(config).await?;
        let ids: Vec<String> = flows.iter().map(|f| f.spec.id.clone()).collect();
        let local = LocalUnderstanding::build(flows, model.clone(), LocalSettings::default())
            .await?
            .with_knowledge(kb.clone());
        let cases = load_routing_set(Path::new("evals/understanding/openings.yaml"))?;
        let report =
            evaluate_openings(&local, &cases, &ids, chrono::Utc::now().date_naive()).await?;
        print!("{report}");
        figures.insert(
            "openings".into(),
            [
                ("flow_accuracy".into(), report.flow_accuracy),
                ("false_start_rate".into(), report.false_start_rate),
            ]
            .into(),
        );
        for failure in &report.routing.failures {
            println!("    miss: {failure}");
        }
    }
    for (name, file) in [
        ("banking77", "banking77/train.csv"),
        ("clinc150", "clinc150/train_val.json"),
    ] {
        if !wanted(name) {
            continue;
        }
        let path = shared.join(file);
        if !path.is_file() {
            if all {
                continue;
            }
            anyhow::bail!("{name}: {} not found (the datasets are vendored in evals/datasets; --shared points elsewhere)", path.display());
        }
        let split = if name == "banking77" {
            banking77(&path)?
        } else {
            clinc150(
                &path,
                Some(Path::new("evals/understanding/clinc150_out_of_scope.yaml")),
            )?
        };
        let embedder: Arc<dyn Embedder> = Arc::new(CachedEmbedder::open(
            model.clone(),
            &embedding_cache(config, name),
        ));
        let total = split.train.len()
            + split.calibration.len()
            + split.test.len()
            + split.own_negatives.len();
        let bar = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} sentences ({eta})")
                .context("progress bar template")?,
        );
        bar.set_message(format!("{name}: embedding"));
        let report = evaluate_intents(embedder, &split, &[1, 2, 3, 5], &|done, _| {
            bar.set_position(done as u64)
        })
        .await?;
        bar.finish_and_clear();
        print!("{report}");
        figures.insert(
            name.into(),
            [
                ("in_scope_accuracy".into(), report.test.in_scope_accuracy),
                ("oos_recall".into(), report.test.oos_recall),
            ]
            .into_iter()
            .chain(
                report
                    .own_negatives
                    .as_ref()
                    .map(|own| ("own_negatives_refused".to_string(), own.oos_recall)),
            )
            .chain(
                (report.test.out_of_scope > 0)
                    .then(|| ("false_start_rate".to_string(), report.false_start_rate)),
            )
            .collect(),
        );
    }
    Ok(figures)
}

/// Headline figures by dataset suite: suite → figure → value.
pub type DatasetFigures =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>;
