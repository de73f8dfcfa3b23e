//! Every turn runs in one `turn` span that carries the channel, the message id, the customer and
//! the conversation. Its own test binary: tracing caches per-callsite interest process-wide, so
//! concurrent tests without a subscriber would make this one flaky.

use frontline_agent::testing::DemoParts;
use frontline_domain::{Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions};
use std::sync::{Arc, Mutex};

/// Collects formatted tracing output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_turn_runs_in_a_span_with_its_customer_and_conversation() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = frontline_store::testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = DemoParts::new(dir.path())
        .await
        .rule_agent(db.store.clone());

    let sender = Identity::parse(
        IdentityKind::Email,
        "ada.lovelace1000@example.com",
        &NormalizeOptions::default(),
    )
    .unwrap();
    let message = InboundMessage {
        channel: Channel::Rest,
        channel_message_id: "span-1".into(),
        sender,
        also_known_as: vec![],
        assurance: frontline_domain::Assurance::Channel,
        display_name: None,
        text: "where is my order #W0000002".into(),
        received_at: chrono::Utc::now(),
        conversation_hint: None,
        thread: Default::default(),
    };
    let out = agent.handle(message).await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("flow ended"))
        .unwrap_or_else(|| panic!("no turn event logged:\n{logs}"));
    for field in [
        "turn{".to_string(),
        "channel=rest".to_string(),
        "channel_message_id=span-1".to_string(),
        format!("customer_id={}", out.customer_id),
        format!("conversation_id={}", out.conversation_id),
    ] {
        assert!(line.contains(&field), "{field} missing in: {line}");
    }
    db.cleanup().await;
}
