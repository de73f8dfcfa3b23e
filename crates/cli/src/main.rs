//! `frontline`: the support agent service and its tools.

mod config;
mod eval;
mod knowledge;
mod redact;
mod telemetry;
mod understanding_eval;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::{Config, UnderstandingMode};
use frontline_agent::{Agent, AgentConfig, TurnOutcome};
use frontline_domain::{Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions};
use frontline_flows::{Engine, FlowSet};
use frontline_server::AppState;
use frontline_shop::seed::SeedOptions;
use frontline_shop::{Shop, ShopData};
use frontline_store::Store;
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{
    LlmUnderstanding, LocalUnderstanding, RouterSettings, RuleUnderstanding, Understanding,
};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// A turn allocates and frees thousands of small values (events, JSON, strings) across the
/// runtime's threads; against glibc's allocator, mimalloc took HTTP flow turns on SQLite from
/// 1,139 to 1,568 a second (BENCHMARKS.md, HTTP turns).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "frontline",
    version,
    about = "An omnichannel AI tier-1 customer support agent"
)]
struct Cli {
    /// Configuration file (default: ./frontline.toml if present).
    #[arg(long, global = true, env = "FRONTLINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (HTTP API and channels) with the demo shop.
    Serve {
        /// Listen address, overriding [server] bind.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Talk to the agent in the terminal, on the same pipeline as `serve`.
    Chat {
        /// Who you are, as kind:value (kinds: email, phone, whatsapp, account_id, web_session).
        #[arg(long = "as", default_value = "email:ada.lovelace1000@example.com")]
        identity: String,
        /// The channel your messages are attributed to.
        #[arg(long, default_value = "rest")]
        channel: String,
    },
    /// Administer the demo shop backend.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// Work with flow files.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Ingest the knowledge folder into the index: only new and edited sections are embedded,
    /// deleted ones removed. Shows progress and a summary.
    Ingest {
        /// The folder (default: [knowledge] dir).
        dir: Option<PathBuf>,
        /// Keep running and re-ingest whenever a file changes.
        #[arg(long)]
        watch: bool,
        /// How often --watch looks for changes, in milliseconds.
        #[arg(long, default_value_t = 1000, hide = true)]
        poll_ms: u64,
    },
    /// Run the offline evals: every conversation suite in evals/suites on the real agent (or
    /// the named ones), plus any dataset evals named (demo, tau2-banking, tau2-retail, slots,
    /// routing, banking77, clinc150). Writes report.json and report.html; with --baseline, exits 1 when a
    /// figure regressed beyond the tolerance or a passing case fails (without, when any case
    /// fails).
    Eval(eval::EvalArgs),
    /// The omnichannel KPIs of the conversations opened in a window, from the store's event
    /// logs (the same figures as GET /v1/analytics/kpis).
    Kpis {
        /// Start of the window: a date (2026-11-01) or an RFC 3339 time. Default: 30 days
        /// before --to.
        #[arg(long)]
        from: Option<String>,
        /// End of the window (exclusive). Default: now.
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new API key: prints the key (shown only now) and the lines to add to
    /// frontline.toml, which hold only its SHA-256 digest.
    New {
        /// Who will hold it.
        #[arg(long)]
        name: String,
        /// What it may do: messages (the REST channel), admin (the management API).
        #[arg(long = "scope", required = true, value_parser = ["messages", "admin"])]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Validate every flow (schema and semantic checks); exits 1 listing file:line:col problems.
    Check {
        /// The folder (default: [flows] dir).
        dir: Option<PathBuf>,
    },
    /// Run the flow tests in <dir>/tests and report step coverage; exits 1 on any failure.
    Test {
        /// The flows folder (default: [flows] dir).
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Show what the shop holds.
    Stats,
    /// Replace the shop's data with freshly generated demo data.
    Reseed,
    /// Replace the shop's data with a τ2-bench retail db.json (or a file of the same shape).
    Import {
        /// The JSON file, e.g. evals/datasets/tau2-retail/db.json.
        path: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let (path, explicit) = match cli.config {
        Some(p) => (p, true),
        None => (PathBuf::from("frontline.toml"), false),
    };
    let config = Config::load(&path, explicit)?;
    // The chat REPL owns the terminal, and an eval's report is its output: warnings only.
    let telemetry = telemetry::init(
        &config,
        matches!(cli.command, Command::Chat { .. } | Command::Eval(_)),
    )?;
    let result = run_command(cli.command, config).await;
    telemetry.shutdown();
    result
}

async fn run_command(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve { bind } => serve(config, bind).await,
        Command::Chat { identity, channel } => chat(config, &identity, &channel).await,
        Command::Shop { command } => shop_admin(config, command).await,
        Command::Ingest {
            dir,
            watch,
            poll_ms,
        } => {
            let dir = dir.unwrap_or_else(|| config.knowledge.dir.clone());
            knowledge::ingest_command(
                &config,
                &dir,
                watch,
                std::time::Duration::from_millis(poll_ms),
            )
            .await
        }
        Command::Eval(args) => {
            let passes = eval::eval_command(config, args).await?;
            if !passes {
                anyhow::bail!("the eval gate failed (see the regressions or failures above)");
            }
            Ok(())
        }
        Command::Kpis { from, to, json } => kpis_command(&config, from, to, json).await,
        Command::Keys {
            command: KeysCommand::New { name, scopes },
        } => {
            let (key, hash) = frontline_server::access::new_key();
            let scopes = scopes
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!("API key for {name} (shown only now; frontline keeps only its digest):\n\n  {key}\n");
            println!("Add to frontline.toml:\n\n[[security.api_keys]]\nname = {name:?}\nhash = \"{hash}\"\nscopes = [{scopes}]");
            Ok(())
        }
        Command::Flows {
            command: FlowsCommand::Test { dir },
        } => test_flows(&dir.unwrap_or_else(|| config.flows.dir.clone())),
        Command::Flows {
            command: FlowsCommand::Check { dir },
        } => {
            let dir = dir.unwrap_or_else(|| config.flows.dir.clone());
            let flows = load_flows(&dir)?;
            println!(
                "{} flows in {} are valid: {}",
                flows.len(),
                dir.display(),
                flows
                    .iter()
                    .map(|f| f.spec.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let missing = flows.missing_translations();
            for d in missing {
                println!("warning: {d}");
            }
            for locale in flows.locales().into_iter().skip(1) {
                let gaps = missing
                    .iter()
                    .filter(|d| d.message.starts_with(&format!("{locale}: ")))
                    .count();
                if gaps == 0 {
                    println!("locale {locale}: complete");
                } else {
                    println!("locale {locale}: {gaps} text(s) missing (said in the default locale until translated)");
                }
            }
            Ok(())
        }
    }
}

async fn open_shop(config: &Config) -> Result<Shop> {
    let path = config.shop_path();
    let shop = Shop::open(&path)
        .await
        .with_context(|| format!("opening the shop database {}", path.display()))?;
    if config.shop.seed_demo
        && shop
            .seed_if_empty(&SeedOptions::demo(chrono::Utc::now().date_naive()))
            .await?
    {
        tracing::info!(path = %path.display(), "seeded the demo shop");
    }
    Ok(shop)
}

/// Load and check the flows against the shop's actions; every problem is listed.
fn load_flows(dir: &std::path::Path) -> Result<Arc<FlowSet>> {
    if !dir.is_dir() {
        anyhow::bail!(
            "the flows folder {} does not exist (set [flows] dir or FRONTLINE_FLOWS__DIR)",
            dir.display()
        );
    }
    match FlowSet::load(dir, &frontline_shop::actions::catalog()) {
        Ok(flows) => Ok(Arc::new(flows)),
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!(
                "{} problem(s) in the flows in {}",
                diagnostics.len(),
                dir.display()
            )
        }
    }
}

fn test_flows(dir: &std::path::Path) -> Result<()> {
    let engine = Engine::new(load_flows(dir)?);
    let report = match frontline_flows::testing::run_dir(&engine, &dir.join("tests")) {
        Ok(report) => report,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!("{} problem(s) in the flow tests", diagnostics.len());
        }
    };
    for case in &report.cases {
        let mark = if case.failures.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        println!(
            "{mark} {}:{} {}",
            case.file.display(),
            case.position.line,
            case.name
        );
        for failure in &case.failures {
            println!("       {failure}");
        }
    }
    let uncovered = report.uncovered(&engine);
    println!(
        "step coverage: {:.1}% ({} step(s) no test runs)",
        report.step_coverage(&engine) * 100.0,
        uncovered.len()
    );
    for (flow, step, file, position) in &uncovered {
        println!(
            "  not covered: {}:{}: {flow} step {step}",
            file.display(),
            position.line
        );
    }
    let failed = report.failed().count();
    println!("{} passed, {failed} failed", report.cases.len() - failed);
    if failed > 0 {
        anyhow::bail!("{failed} flow test(s) failed");
    }
    Ok(())
}

async fn kpis_command(
    config: &Config,
    from: Option<String>,
    to: Option<String>,
    json: bool,
) -> Result<()> {
    use frontline_server::analytics::{kpis_between, parse_time};
    let time = |name: &str, raw: Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        raw.map(|raw| {
            parse_time(&raw).with_context(|| {
                format!("--{name} {raw}: expected a date (2026-11-01) or an RFC 3339 time")
            })
        })
        .transpose()
    };
    let to = time("to", to)?.unwrap_or_else(chrono::Utc::now);
    let from = time("from", from)?.unwrap_or(to - chrono::Duration::days(30));
    anyhow::ensure!(from < to, "--from must be before --to");
    let store = Store::connect(&config.database_url())
        .await
        .context("opening the conversation store")?;
    let kpis = kpis_between(&store, from, to).await?;
    store.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&kpis)?);
        return Ok(());
    }
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
    println!("conversations opened {from} – {to}: {}", kpis.conversations);
    for (name, value) in [
        (
            "cross-channel resolution rate",
            pct(kpis.cross_channel_resolution_rate),
        ),
        (
            "first-contact resolution",
            pct(kpis.first_contact_resolution),
        ),
        (
            "context transfer completeness",
            pct(kpis.context_transfer_completeness),
        ),
        (
            "repeat-contact rate (7 days)",
            pct(kpis.repeat_contact_rate),
        ),
        ("channel-switch rate", pct(kpis.channel_switch_rate)),
        ("escalation rate", pct(kpis.escalation_rate)),
        (
            "automation rate variance across channels",
            kpis.automation_rate_variance
                .map_or("—".into(), |v| format!("{v:.4}")),
        ),
        (
            "cross-channel resolution time (median)",
            kpis.cross_channel_resolution_seconds_p50
                .map_or("—".into(), |s| format!("{s:.0} s")),
        ),
        (
            "quality (mean)",
            kpis.quality_mean.map_or("—".into(), |q| format!("{q:.2}")),
        ),
        (
            "CSAT (answered 4 or 5)",
            format!("{} of {} answers", pct(kpis.csat), kpis.csat_responses),
        ),
        (
            "CSAT single / cross-channel",
            format!(
                "{} / {}",
                pct(kpis.csat_single_channel),
                pct(kpis.csat_cross_channel)
            ),
        ),
        (
            "channel-switch CSAT gap (target ≤ 5 points)",
            kpis.csat_channel_switch_gap
                .map_or("—".into(), |g| format!("{g:.1} points")),
        ),
        (
            "CES, mean effort 1–5 (target < 2.5)",
            kpis.ces.map_or("—".into(), |c| format!("{c:.2}")),
        ),
    ] {
        println!("  {name:<42} {value}");
    }
    for (channel, rate) in &kpis.automation_rate_by_channel {
        println!("  automation rate, {channel:<26} {}", pct(Some(*rate)));
    }
    for (tier, rate) in &kpis.automation_rate_by_tier {
        println!(
            "  automation rate, {:<26} {}",
            format!("{tier} tier"),
            pct(Some(*rate))
        );
    }
    println!("seed targets:");
    for t in frontline_server::analytics::targets(&kpis) {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "no figure",
        };
        let must_be = t.must_be.replace('_', " ");
        let target = format!("{must_be} {}", t.value);
        println!("  {:<36} {target:<14} {verdict}", t.kpi.replace('_', " "));
    }
    for (reason, rate) in &kpis.escalation_rate_by_reason {
        println!("  escalations, {reason:<30} {}", pct(Some(*rate)));
    }
    Ok(())
}

async fn build_agent(config: &Config) -> Result<Agent> {
    let flows = load_flows(&config.flows.dir)?;
    let url = config.database_url();
    let store = Store::connect(&url)
        .await
        .context("opening the conversation store")?;
    let shop = open_shop(config).await?;
    let agent_config = AgentConfig {
        continuity_window: chrono::Duration::hours(
            config.conversation.continuity_window_hours.into(),
        ),
        inbox_lease: chrono::Duration::seconds(config.conversation.inbox_lease_seconds.into()),
        ..AgentConfig::default()
    };
    let kb = knowledge_base(config).await?;
    let (understanding, writer) = understanding(config, &flows, kb.as_ref()).await?;
    let escalation = config.escalation.settings()?;
    let shop = Arc::new(shop);
    let mut agent = Agent::new(
        store,
        understanding,
        shop.clone(),
        Engine::new(flows),
        agent_config,
    )
    .with_escalation(escalation)
    .with_verification(config.verification.settings()?)
    .with_surveys(config.surveys.clone())
    .with_quality(config.quality.clone())
    // The shop's customer records tie an account's email and phone together.
    .with_directory(shop);
    if let Some(writer) = writer {
        agent = agent.with_answer_writer(writer);
    }
    if !config.knowledge.help_centre_url.is_empty() {
        agent = agent.with_help_centre(&config.knowledge.help_centre_url);
    }
    if let Some(target) = config.handoff.build(HANDOFF_TIMEOUT) {
        agent = agent.with_handoff_target(target);
    }
    Ok(match kb {
        Some(kb) => agent.with_knowledge(kb),
        None => agent,
    })
}

/// The understanding, and in LLM mode the writer of grounded answers.
type UnderstandingParts = (
    Arc<dyn Understanding>,
    Option<Arc<dyn frontline_understanding::llm::AnswerWriter>>,
);

/// The understanding the configuration asks for. The local one shares the knowledge base's
/// model when that is the local MiniLM too.
async fn understanding(
    config: &Config,
    flows: &Arc<frontline_flows::FlowSet>,
    kb: Option<&Arc<frontline_knowledge::KnowledgeBase>>,
) -> Result<UnderstandingParts> {
    let u = &config.understanding;
    let llm = config.llm.settings();
    let mode = match (u.mode, &llm) {
        (UnderstandingMode::Auto, Some(_)) => UnderstandingMode::Llm,
        (UnderstandingMode::Auto, None) => UnderstandingMode::Local,
        (mode, _) => mode,
    };
    match mode {
        UnderstandingMode::Rules => Ok((Arc::new(RuleUnderstanding::new(flows.clone())), None)),
        UnderstandingMode::Local | UnderstandingMode::Llm | UnderstandingMode::Auto => {
            let embedder = match kb.map(|kb| kb.embedder()) {
                Some(e) if e.name() == "minilm" => e.clone(),
                _ => knowledge::local_model(config).await?,
            };
            let settings = LocalSettings {
                router: RouterSettings {
                    k: u.k,
                    out_of_scope: u.out_of_scope,
                    margin: u.margin,
                    head: u.intent_head,
                },
                ..LocalSettings::default()
            };
            let local = LocalUnderstanding::build(flows.clone(), embedder, settings)
                .await
                .context("building the local understanding")?;
            let local = Arc::new(match kb {
                Some(kb) => local.with_knowledge(kb.clone()),
                None => local,
            });
            if mode != UnderstandingMode::Llm {
                return Ok((local, None));
            }
            let client = llm_client(config)?.context(
                "understanding mode is llm but no endpoint is configured: set [llm] base_url or OPENAI_BASE_URL / OPENAI_API_KEY",
            )?;
            use frontline_understanding::llm::{self, LlmAnswerWriter, Template};
            let prompts = &config.llm.prompts_dir;
            let commands = Template::load(
                &prompts.join("command_generator.md"),
                &llm::COMMAND_PLACEHOLDERS,
            )?;
            let answers = Template::load(&prompts.join("answer.md"), &llm::ANSWER_PLACEHOLDERS)?;
            Ok((
                Arc::new(LlmUnderstanding::new(
                    client.clone(),
                    local,
                    kb.cloned(),
                    commands,
                    Default::default(),
                )),
                Some(Arc::new(LlmAnswerWriter::new(client, answers))),
            ))
        }
    }
}

/// A client for the configured OpenAI-compatible endpoint, through the configured cassette;
/// `None` when no endpoint is configured.
fn llm_client(config: &Config) -> Result<Option<Arc<frontline_llm::LlmClient>>> {
    let Some(settings) = config.llm.settings() else {
        return Ok(None);
    };
    let cassette = frontline_llm::Cassette::new(
        config
            .llm
            .cassette
            .parse()
            .map_err(anyhow::Error::msg)
            .context("[llm] cassette")?,
        &config.llm.cassette_dir,
    );
    tracing::info!(base_url = %settings.base_url, model = %settings.model, cassette = %config.llm.cassette, "LLM endpoint");
    Ok(Some(Arc::new(frontline_llm::LlmClient::new(
        settings, cassette,
    ))))
}

/// The knowledge base, brought up to date with its folder, or none if disabled.
async fn knowledge_base(
    config: &Config,
) -> Result<Option<Arc<frontline_knowledge::KnowledgeBase>>> {
    if !config.knowledge.enabled {
        return Ok(None);
    }
    let dir = &config.knowledge.dir;
    let kb = knowledge::open(config)
        .await
        .context("opening the knowledge base (set [knowledge] enabled = false to run without)")?;
    if dir.is_dir() {
        let report = knowledge::ingest(&kb, dir, false).await?;
        tracing::info!(dir = %dir.display(), backend = kb.backend(), %report, "knowledge base ready");
    } else {
        tracing::warn!(dir = %dir.display(), "the knowledge folder does not exist; answering from what is already indexed");
    }
    Ok(Some(kb))
}

fn normalize_options(config: &Config) -> NormalizeOptions {
    NormalizeOptions {
        default_country_code: config.identity.default_country_code.clone(),
    }
}

/// Deadline of one request to a helpdesk.
const HANDOFF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long stopping waits for queued turns, then for the outbox flush.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

async fn serve(config: Config, bind: Option<String>) -> Result<()> {
    let agent = build_agent(&config).await?;
    let knowledge = agent.knowledge().cloned();
    let agent = Arc::new(agent);
    // Webhooks queue messages; the intake worker runs their turns; the outbox workers deliver
    // the replies on every configured channel and the handoffs to the helpdesk.
    let intake = Arc::new(tokio::sync::Notify::new());
    // The channels' providers, and the helpdesk's webhooks back (Zendesk, Freshdesk).
    let mut providers = config
        .channels
        .providers(HANDOFF_TIMEOUT)
        .map_err(anyhow::Error::msg)?;
    providers.extend(config.handoff.inbound());
    let providers =
        Arc::new(frontline_channels::Registry::new(providers).map_err(anyhow::Error::msg)?);
    let workers = frontline_server::workers::Workers::start(
        agent.clone(),
        providers.clone(),
        intake.clone(),
        &Default::default(),
    );
    let bind = bind.unwrap_or_else(|| config.server.bind.clone());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        store: agent.store().clone(),
        agent: agent.clone(),
        normalize: normalize_options(&config),
        knowledge,
        channels: config.channels.clone(),
        providers,
        intake,
        access: frontline_server::access::Access::new(&config.security.api_keys)?,
        limits: frontline_server::limit::RateLimits::new(&config.security.rate_limits),
        console: frontline_server::console::ConsoleSettings {
            flows_dir: Some(config.flows.dir.clone()),
            eval_report_dir: Some(config.data_dir.join("eval-report")),
        },
    });
    if !state.access.has_keys() {
        tracing::warn!("no API keys configured: the management API and REST channel answer loopback clients only (see `frontline keys new`)");
    }
    // Printed on stdout so scripts and tests can find a port chosen by the OS.
    println!("frontline listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, store = %frontline_store::redact(&config.database_url()), "serving");
    frontline_server::serve(listener, frontline_server::router(state), shutdown_signal()).await?;
    // Stopping is in order: the HTTP server has stopped taking messages and finished its
    // requests; then the intake runs the turns still queued; then the outboxes flush.
    workers.stop(SHUTDOWN_GRACE).await;
    agent.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn parse_identity(raw: &str, opts: &NormalizeOptions) -> Result<Identity> {
    let (kind, value) = raw
        .split_once(':')
        .context("an identity is kind:value, e.g. email:ada@example.com")?;
    let kind: IdentityKind = kind.trim().parse()?;
    Ok(Identity::parse(kind, value, opts)?)
}

async fn chat(config: Config, identity: &str, channel: &str) -> Result<()> {
    let opts = normalize_options(&config);
    let mut sender = parse_identity(identity, &opts)?;
    let mut channel: Channel = channel.parse()?;
    let agent = build_agent(&config).await?;
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("frontline chat — you are {sender} on {channel}. Commands: /as kind:value, /channel NAME, /quit");
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("you> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "/quit" || text == "/exit" {
            break;
        }
        if let Some(rest) = text.strip_prefix("/as ") {
            match parse_identity(rest, &opts) {
                Ok(i) => {
                    sender = i;
                    println!("(you are now {sender})");
                }
                Err(e) => println!("(error: {e})"),
            }
            continue;
        }
        if let Some(rest) = text.strip_prefix("/channel ") {
            match rest.trim().parse() {
                Ok(c) => {
                    channel = c;
                    println!("(now writing on {channel})");
                }
                Err(e) => println!("(error: {e})"),
            }
            continue;
        }
        let message = InboundMessage {
            channel,
            channel_message_id: format!("chat-{}", uuid::Uuid::now_v7()),
            sender: sender.clone(),
            also_known_as: vec![],
            // The terminal is the operator's: it vouches for the identity chosen with --as.
            assurance: frontline_domain::Assurance::Channel,
            display_name: None,
            text: text.to_string(),
            received_at: chrono::Utc::now(),
            conversation_hint: None,
            thread: Default::default(),
        };
        match agent.handle(message).await {
            Ok(outcome) => print_outcome(&outcome),
            Err(e) => println!("(error: {e})"),
        }
    }
    agent.store().close().await;
    Ok(())
}

fn print_outcome(outcome: &TurnOutcome) {
    for reply in &outcome.replies {
        println!("frontline> {}", reply.text);
    }
    let flow = match &outcome.active_flow {
        Some(f) => format!(
            "flow {} · step {} · waiting for {} · slots {}",
            f.flow_id,
            f.step,
            f.requested_slot.as_deref().unwrap_or("nothing"),
            serde_json::Value::Object(f.slots.clone())
        ),
        None => "no active flow".into(),
    };
    let commands: Vec<&str> = outcome.commands.iter().map(|c| c.command.kind()).collect();
    println!(
        "  [{} · {flow} · understood: {} · conversation {}]",
        outcome.status,
        commands.join(", "),
        outcome.conversation_id
    );
}

async fn shop_admin(config: Config, command: ShopCommand) -> Result<()> {
    let shop = Shop::open(&config.shop_path()).await?;
    match command {
        ShopCommand::Stats => {}
        ShopCommand::Reseed => {
            shop.load(&frontline_shop::seed::generate(&SeedOptions::demo(
                chrono::Utc::now().date_naive(),
            )))
            .await?
        }
        ShopCommand::Import { path } => {
            let data = ShopData::from_json_file(&path)?;
            shop.load(&data).await?;
        }
    }
    let counts = shop.counts().await?;
    println!(
        "shop {}: {} customers, {} products, {} orders, {} subscriptions",
        config.shop_path().display(),
        counts.users,
        counts.products,
        counts.orders,
        counts.subscriptions
    );
    Ok(())
}
