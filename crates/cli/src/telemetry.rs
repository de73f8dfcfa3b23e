//! Logs and traces at the binary's edge: the tracing subscriber (text or JSON lines on stderr,
//! with emails, phones and card numbers masked) and, when a collector is configured, the export
//! of every span to it by OpenTelemetry's OTLP over HTTP.

use crate::config::Config;
use crate::redact;
use anyhow::{Context, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the span exporter alive; [`Telemetry::shutdown`] sends what is still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Export the spans still buffered and stop the exporter (at exit).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The exporter's HTTP client blocks: run it off the async runtime's threads.
            let flushed = std::thread::spawn(move || provider.shutdown()).join();
            if let Ok(Err(e)) = flushed {
                eprintln!("warning: exporting the last spans failed: {e}");
            }
        }
    }
}

/// The collector's traces URL, from `[log] otlp_endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`,
/// read into it with the configuration).
fn traces_url(config: &Config) -> Option<String> {
    let base = Some(config.log.otlp_endpoint.clone()).filter(|e| !e.trim().is_empty())?;
    Some(format!("{}/v1/traces", base.trim().trim_end_matches('/')))
}

fn exporter_provider(url: &str, protocol: &str) -> Result<SdkTracerProvider> {
    let protocol = match protocol {
        "http/json" => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let url = url.to_string();
    // The exporter builds a blocking HTTP client, which must not be made on a runtime thread.
    let exporter = std::thread::spawn(move || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(10))
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("building the OTLP exporter panicked"))?
    .context("building the OTLP span exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("frontline")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Install the subscriber: `quiet` keeps the log to warnings (the chat REPL, an eval's report).
pub fn init(config: &Config, quiet: bool) -> Result<Telemetry> {
    let default = if quiet {
        "warn"
    } else {
        config.log.filter.as_str()
    };
    // qdrant-edge logs start-up notices at warn level that mean nothing to an operator.
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("{default},qdrant_edge=error")))
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        // Emails, phones and card numbers never reach the log.
        .with_writer(redact::Redacting(std::io::stderr));
    let fmt = if config.log.format == "json" {
        fmt.json().with_filter(filter()).boxed()
    } else {
        fmt.with_filter(filter()).boxed()
    };
    let provider = match traces_url(config) {
        Some(url) => Some(
            exporter_provider(&url, &config.log.otlp_protocol)
                .with_context(|| format!("exporting spans to {url}"))?,
        ),
        None => None,
    };
    // Only spans go to the collector, at the log's level: their fields are ids (channel,
    // message, customer, conversation) and names, never what customers wrote. Events (log lines)
    // stay in the log, where the PII masking is.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("frontline"))
            .with_filter(filter().and(tracing_subscriber::filter::filter_fn(|m| m.is_span())))
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
    Ok(Telemetry { provider })
}
