//! Every provider's webhook fixtures (`crates/channels/fixtures/<provider>/*.json`: real payload
//! shapes, signed by an independent implementation in `fixtures/make.py`, and tampered copies)
//! read through the registry exactly as the server's webhook route reads them. What each one
//! gives is a snapshot (`snapshots/`); a request that is not the provider's must be refused.

use frontline_channels::chatwoot::ChatwootConfig;
use frontline_channels::email::EmailConfig;
use frontline_channels::messenger::MessengerConfig;
use frontline_channels::telegram::TelegramConfig;
use frontline_channels::twilio::TwilioConfig;
use frontline_channels::whatsapp::WhatsappConfig;
use frontline_channels::{ChannelsConfig, Registry, Webhook, WebhookError};
use frontline_domain::NormalizeOptions;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One recorded request.
#[derive(Deserialize)]
struct Fixture {
    about: String,
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body: String,
    received_at: chrono::DateTime<chrono::Utc>,
}

/// The providers with the secrets `fixtures/make.py` signs with.
fn registry() -> Registry {
    let meta_secret = "meta-app-secret".to_string();
    let config = ChannelsConfig {
        twilio: Some(TwilioConfig {
            account_sid: "AC0123456789abcdef".into(),
            auth_token: "twilio-auth-token".into(),
            from: None,
            webhook_url: "https://support.example/webhooks/twilio".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        whatsapp: Some(WhatsappConfig {
            app_secret: meta_secret.clone(),
            verify_token: "meta-verify".into(),
            access_token: "wa-token".into(),
            phone_number_id: None,
            template: None,
            template_language: "en_US".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        messenger: Some(MessengerConfig {
            app_secret: meta_secret,
            verify_token: "meta-verify".into(),
            page_access_token: "page-token".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        telegram: Some(TelegramConfig {
            bot_token: "123456:bot-token".into(),
            secret_token: "tg-secret_token-1".into(),
            api_base: "http://127.0.0.1:9".into(),
        }),
        email: Some(EmailConfig {
            address: "support@shop.example".into(),
            display_name: "Support".into(),
            reply_domain: None,
            smtp_url: "smtp://127.0.0.1:9".into(),
            mailgun_signing_key: Some("mailgun-signing-key".into()),
            postmark_basic_auth: Some("inbound:pm-pass".into()),
        }),
        chatwoot: Some(ChatwootConfig {
            base_url: "http://127.0.0.1:9".into(),
            bot_token: "cw-bot".into(),
            webhook_token: "cw-token".into(),
        }),
        webchat: None,
    };
    config.registry(Duration::from_secs(1)).unwrap()
}

fn fixtures() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for provider in std::fs::read_dir(&root).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provider).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                let name = format!(
                    "{}__{}",
                    provider.file_name().unwrap().to_string_lossy(),
                    file.file_stem().unwrap().to_string_lossy()
                );
                out.push((name, file));
            }
        }
    }
    out.sort();
    out
}

/// What the provider made of a fixture, as text for its snapshot.
async fn read(registry: &Registry, fixture: &Fixture) -> Result<String, WebhookError> {
    let provider = registry
        .webhook(&fixture.path)
        .unwrap_or_else(|| panic!("no provider answers /webhooks/{}", fixture.path));
    let headers: Vec<(String, String)> = fixture
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let normalize = NormalizeOptions::default();
    let webhook = Webhook {
        path: &fixture.path,
        headers: &headers,
        query: &fixture.query,
        body: fixture.body.as_bytes(),
        received_at: fixture.received_at,
        normalize: &normalize,
    };
    match fixture.method.as_str() {
        "GET" => provider
            .handshake(&webhook)
            .map(|challenge| format!("handshake answered with {challenge:?}")),
        _ => provider
            .receive(&webhook)
            .await
            .map(|received| format!("{received:#?}")),
    }
}

#[tokio::test]
async fn every_providers_fixtures_read_as_their_snapshots_and_forgeries_are_refused() {
    let registry = registry();
    let all = fixtures();
    assert!(all.len() >= 25, "only {} fixtures found", all.len());
    for provider in [
        "twilio",
        "whatsapp",
        "messenger",
        "telegram",
        "email",
        "chatwoot",
    ] {
        assert!(
            all.iter()
                .any(|(name, _)| name.starts_with(&format!("{provider}__"))),
            "{provider} has no fixtures"
        );
    }
    for (name, path) in all {
        let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = read(&registry, &fixture).await;
        // A request forged or altered in any way is refused as not the provider's, whatever
        // else the snapshot says.
        let forged = [
            "tampered",
            "wrong",
            "unsigned",
            "no_secret",
            "another_secret",
        ]
        .iter()
        .any(|w| name.contains(w));
        if forged {
            assert!(
                matches!(
                    outcome,
                    Err(WebhookError::Unauthorized(_)) | Err(WebhookError::Forbidden(_))
                ),
                "{name} ({}) was not refused: {outcome:?}",
                fixture.about
            );
        } else {
            assert!(
                outcome.is_ok(),
                "{name} ({}) was refused: {outcome:?}",
                fixture.about
            );
        }
        let text = match outcome {
            Ok(text) => text,
            Err(e) => format!("refused: {e}"),
        };
        insta::with_settings!({ description => fixture.about.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, text);
        });
    }
}
