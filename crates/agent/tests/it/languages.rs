//! Customers in their own language, through the whole agent: the conversation's language is
//! recorded, the flows and wording of that locale answer, the handoff summary carries it and
//! routing rules match it, and a language no translation serves goes to a person who speaks it.

use frontline_agent::testing::{demo_clock, message, DemoParts};
use frontline_agent::EscalationSettings;
use frontline_domain::{Channel, ConversationStatus, EventKind, Identity, IdentityKind};
use frontline_escalation::{RouteWhen, Routing, RoutingRule};

fn ada() -> Identity {
    Identity {
        kind: IdentityKind::Email,
        value: "ada.lovelace1000@example.com".into(),
    }
}

/// Routing with one rule for Spanish speakers.
fn spanish_queue() -> EscalationSettings {
    EscalationSettings {
        routing: Routing {
            default_queue: "support".into(),
            rules: vec![RoutingRule {
                name: "spanish speakers".into(),
                when: RouteWhen {
                    locales: vec!["es".into()],
                    ..RouteWhen::default()
                },
                queue: Some("soporte".into()),
                team: None,
                assignee: None,
                priority: None,
            }],
        },
        ..EscalationSettings::default()
    }
}

#[tokio::test]
async fn a_spanish_conversation_is_answered_in_spanish_and_handed_to_the_spanish_queue() {
    let dir = tempfile::tempdir().unwrap();
    let parts = DemoParts::new(dir.path()).await;
    let db = frontline_store::testing::sqlite().await;
    let agent = parts
        .rule_agent(db.store.clone())
        .with_clock(demo_clock())
        .with_escalation(spanish_queue());

    let out = agent
        .handle(message(
            Channel::WebChat,
            "s1",
            ada(),
            "quiero cancelar mi pedido #W0000001",
        ))
        .await
        .unwrap();
    assert_eq!(
        out.reply_text(),
        "¿Puedo preguntarle por qué? ¿Ya no lo necesita, o lo pidió por error?"
    );
    let out = agent
        .handle(message(
            Channel::WebChat,
            "s2",
            ada(),
            "quiero hablar con una persona",
        ))
        .await
        .unwrap();
    assert_eq!(out.status, ConversationStatus::HandedOff);
    assert!(
        out.reply_text()
            .starts_with("Le paso con un miembro de nuestro equipo."),
        "{}",
        out.reply_text()
    );
    let events = db.store.events(out.conversation_id).await.unwrap();
    let summary = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Escalated { summary } => Some(summary.clone()),
            _ => None,
        })
        .expect("a summary");
    assert_eq!(summary.customer.locale.as_deref(), Some("es"));
    assert_eq!(summary.routing.queue.as_deref(), Some("soporte"));
    assert_eq!(summary.routing.rule.as_deref(), Some("spanish speakers"));
    assert!(
        summary.routing.skills.contains(&"lang:es".to_string()),
        "{:?}",
        summary.routing
    );
    // Each message's reading is on its event, and the language was recorded once.
    let readings: Vec<Option<&str>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageReceived { language, .. } => Some(language.as_deref()),
            _ => None,
        })
        .collect();
    assert_eq!(readings, [Some("es"), Some("es")]);
    let changes: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LanguageChanged { to, .. } => Some(to.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["es"]);
    db.cleanup().await;
}

#[tokio::test]
async fn a_language_nobody_serves_goes_to_a_person_who_speaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let parts = DemoParts::new(dir.path()).await;
    let db = frontline_store::testing::sqlite().await;
    let agent = parts.rule_agent(db.store.clone()).with_clock(demo_clock());

    let out = agent
        .handle(message(
            Channel::Sms,
            "f1",
            Identity {
                kind: IdentityKind::Phone,
                value: "+33612345678".into(),
            },
            "bonjour, je voudrais annuler ma commande s'il vous plaît",
        ))
        .await
        .unwrap();
    assert_eq!(out.status, ConversationStatus::HandedOff);
    // No French wording ships: the notice is the default locale's.
    assert!(
        out.reply_text()
            .starts_with("I'm passing this to a member of our team."),
        "{}",
        out.reply_text()
    );
    let events = db.store.events(out.conversation_id).await.unwrap();
    let summary = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Escalated { summary } => Some(summary.clone()),
            _ => None,
        })
        .expect("a summary");
    assert_eq!(summary.customer.locale.as_deref(), Some("fr"));
    assert!(
        summary.routing.skills.contains(&"lang:fr".to_string()),
        "{:?}",
        summary.routing
    );
    assert!(summary.reason.contains("French (fr)"), "{}", summary.reason);
    frontline_escalation::validate_summary(&summary).unwrap();
    // Nothing was understood or run in a language the flows do not speak.
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::ActionExecuted { .. })));
    db.cleanup().await;
}

#[tokio::test]
async fn a_wording_file_alone_words_the_notice_in_that_language() {
    let dir = tempfile::tempdir().unwrap();
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir_all(flows_dir.join("locales")).unwrap();
    for entry in std::fs::read_dir(frontline_agent::testing::repo_path("flows")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), flows_dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(
        flows_dir.join("locales/fr.yaml"),
        "handoff_notice: \"Je transmets votre demande à un membre de notre équipe. {when}\"\nhandoff_when_open: \"Une personne vous répondra {where}, {within}.\"\nwhere_sms: \"par SMS\"\n",
    )
    .unwrap();
    let flows =
        frontline_flows::FlowSet::load(&flows_dir, &frontline_shop::actions::catalog()).unwrap();
    // A wording file serves nobody: French speakers still go to a person.
    assert_eq!(flows.locales(), ["en"]);
    let mut parts = DemoParts::new(dir.path()).await;
    parts.flows = std::sync::Arc::new(flows);
    let db = frontline_store::testing::sqlite().await;
    let agent = parts.rule_agent(db.store.clone()).with_clock(demo_clock());
    let out = agent
        .handle(message(
            Channel::Sms,
            "f1",
            Identity {
                kind: IdentityKind::Phone,
                value: "+33612345678".into(),
            },
            "bonjour, où est ma commande ? elle n'est toujours pas arrivée",
        ))
        .await
        .unwrap();
    assert_eq!(out.status, ConversationStatus::HandedOff);
    assert!(
        out.reply_text().starts_with("Je transmets votre demande à un membre de notre équipe. Une personne vous répondra par SMS"),
        "{}",
        out.reply_text()
    );
    db.cleanup().await;
}
