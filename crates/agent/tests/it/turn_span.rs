//! Every turn runs in one `turn` span that carries the channel, the message id, the customer and
//! the conversation. Tracing caches per-callsite interest process-wide, so other tests running
//! beside this one without a subscriber could hide its events: the test runs itself again in a
//! process of its own (the same test binary, filtered to this test).

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

/// Set in the process the test runs itself in.
const ALONE: &str = "FRONTLINE_TURN_SPAN_ALONE";

#[tokio::test]
async fn every_turn_runs_in_a_span_with_its_customer_and_conversation() {
    if std::env::var_os(ALONE).is_none() {
        let name = "turn_span::every_turn_runs_in_a_span_with_its_customer_and_conversation";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("1 passed"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
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
