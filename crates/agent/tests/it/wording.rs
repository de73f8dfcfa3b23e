//! What the agent says outside the flows' own prompts is content: a deployment's locale file
//! beside its flows rewords it, with no change to the code.

use frontline_agent::testing::{demo_clock, message, repo_path, DemoParts};
use frontline_domain::{Channel, ConversationStatus, Identity, IdentityKind};
use frontline_flows::FlowSet;
use std::path::Path;
use std::sync::Arc;

/// The demo flows, copied to `to` (what a deployment's flows folder is).
fn copy_flows(to: &Path) {
    for entry in std::fs::read_dir(repo_path("flows")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn a_locale_file_rewords_the_agent_without_touching_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir_all(flows_dir.join("locales")).unwrap();
    copy_flows(&flows_dir);
    std::fs::write(
        flows_dir.join("locales/en.yaml"),
        r#"not_understood: "Hmm, that's beyond me. Ask me to {capabilities}."
handoff_notice: "Over to the team now. {when}"
handoff_when_open: "Expect an answer {where} {within}."
where_chat: "in this very window"
"#,
    )
    .unwrap();
    let flows = FlowSet::load(&flows_dir, &frontline_shop::actions::catalog()).unwrap();
    let mut parts = DemoParts::new(dir.path()).await;
    parts.flows = Arc::new(flows);
    let db = frontline_store::testing::sqlite().await;
    // Monday 10:00 UTC: the team is working.
    let agent = parts.rule_agent(db.store.clone()).with_clock(demo_clock());
    let visitor = Identity {
        kind: IdentityKind::WebSession,
        value: "visitor-wording".into(),
    };

    let out = agent
        .handle(message(
            Channel::WebChat,
            "w1",
            visitor.clone(),
            "zxqv blorp",
        ))
        .await
        .unwrap();
    let said = out.reply_text();
    assert!(
        said.starts_with("Hmm, that's beyond me. Ask me to "),
        "the deployment's words, with what its flows can do: {said}"
    );
    assert!(
        said.contains("return items from a delivered order"),
        "{said}"
    );

    let out = agent
        .handle(message(
            Channel::WebChat,
            "w2",
            visitor,
            "I want to talk to a real person",
        ))
        .await
        .unwrap();
    assert_eq!(out.status, ConversationStatus::HandedOff);
    let said = out.reply_text();
    assert!(
        said.contains("Over to the team now. Expect an answer in this very window "),
        "{said}"
    );
    assert!(
        !said.contains("passing this to a member of our team"),
        "{said}"
    );
    db.cleanup().await;
}
