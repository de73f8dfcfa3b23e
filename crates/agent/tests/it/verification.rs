//! Nobody acts on an account they have not proved is theirs: strangers on every channel try
//! another customer's order and get nothing; the owner gets through with the one-time code the
//! account's own email received. On the real store (SQLite and PostgreSQL) and the demo shop.

use chrono::Duration;
use frontline_agent::testing::{demo_now, message, DemoParts};
use frontline_agent::{Agent, Clock, TurnOutcome};
use frontline_domain::{
    Assurance, Channel, EventKind, Identity, IdentityKind, InboundMessage, NormalizeOptions,
    Timestamp,
};
use frontline_shop::Shop;
use frontline_store::testing::{all_backends, TestStore};
use frontline_store::Store;
use std::sync::{Arc, Mutex};

const ADA_EMAIL: &str = "ada.lovelace1000@example.com";
const ADA_ACCOUNT: &str = "ada_lovelace_1000";
/// Ada's pending order (cancellable), and a delivered one.
const PENDING: &str = "#W0000001";

struct Setup {
    agent: Agent,
    shop: Arc<Shop>,
    db: TestStore,
    now: Arc<Mutex<Timestamp>>,
    _dir: tempfile::TempDir,
}

async fn setups() -> Vec<Setup> {
    let mut out = vec![];
    for db in all_backends().await {
        let dir = tempfile::tempdir().unwrap();
        let parts = DemoParts::new(dir.path()).await;
        let now = Arc::new(Mutex::new(demo_now()));
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let agent = parts.rule_agent(db.store.clone()).with_clock(clock);
        out.push(Setup {
            agent,
            shop: parts.shop.clone(),
            db,
            now,
            _dir: dir,
        });
    }
    out
}

fn identity(kind: IdentityKind, raw: &str) -> Identity {
    Identity::parse(kind, raw, &NormalizeOptions::default()).unwrap()
}

fn session(id: &str) -> Identity {
    Identity {
        kind: IdentityKind::WebSession,
        value: id.into(),
    }
}

fn text(outcome: &TurnOutcome) -> String {
    outcome.reply_text()
}

impl Setup {
    async fn say(&self, channel: Channel, id: &str, from: &Identity, words: &str) -> TurnOutcome {
        self.send(message(channel, id, from.clone(), words)).await
    }

    async fn send(&self, message: InboundMessage) -> TurnOutcome {
        self.agent.handle(message).await.unwrap()
    }

    async fn writes(&self) -> usize {
        self.shop.audit_log().await.unwrap().len()
    }

    async fn order_status(&self, order: &str) -> String {
        let data = self.shop.export().await.unwrap();
        format!("{:?}", data.orders[order].status)
    }

    /// The codes sent to `to`, oldest first (read from the outbox, as the email would).
    async fn codes_sent_to(&self, to: &Identity) -> Vec<String> {
        let channel = match to.kind {
            IdentityKind::Email => Channel::Email,
            _ => Channel::Sms,
        };
        store(self)
            .outbox_for_recipient(channel, to, None)
            .await
            .unwrap()
            .iter()
            .filter_map(|e| {
                let t = &e.message.text;
                let at = t.find("code is ")? + "code is ".len();
                Some(t[at..at + 6].to_string())
            })
            .collect()
    }

    fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }
}

fn store(setup: &Setup) -> &Store {
    &setup.db.store
}

/// A wrong code: one that is not `right`.
fn other_than(right: &str) -> String {
    let n: u32 = right.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// A stranger who knows Ada's email tries to cancel her order; returns their last reply.
async fn stranger_asks_for_a_code(s: &Setup, channel: Channel, from: &Identity, tag: &str) {
    let first = s
        .say(
            channel,
            &format!("{tag}-1"),
            from,
            &format!("I want to cancel my order {PENDING}"),
        )
        .await;
    assert!(
        text(&first).contains("email address you ordered with"),
        "{}: {tag}: {}",
        s.db.label,
        text(&first)
    );
    let asked = s.say(channel, &format!("{tag}-2"), from, ADA_EMAIL).await;
    let reply = text(&asked);
    assert!(
        reply.contains("I've sent a 6-digit code to the email address or phone number on that account, if there is one"),
        "{}: {tag}: {reply}",
        s.db.label
    );
    assert!(
        !reply.contains("pending") && !reply.contains("paid"),
        "nothing disclosed: {reply}"
    );
}

#[tokio::test]
async fn strangers_on_every_channel_cannot_act_on_or_read_another_customers_account() {
    for s in setups().await {
        let ada_email = identity(IdentityKind::Email, ADA_EMAIL);
        // Ada has written before from her proven email: her history must stay hers.
        let ada = s.say(Channel::Rest, "ada-1", &ada_email, "hello").await;
        let strangers = [
            (Channel::WebChat, session("stranger-web")),
            (
                Channel::Sms,
                identity(IdentityKind::Phone, "+1 415 555 0199"),
            ),
            (
                Channel::Whatsapp,
                identity(IdentityKind::Whatsapp, "+1 415 555 0198"),
            ),
        ];
        for (channel, from) in &strangers {
            stranger_asks_for_a_code(&s, *channel, from, &format!("{channel}")).await;
            // Guessing: five wrong codes lock them out; nothing is written or shown.
            let right = s.codes_sent_to(&ada_email).await.last().cloned().unwrap();
            let mut last = String::new();
            for attempt in 0..5 {
                let out = s
                    .say(
                        *channel,
                        &format!("{channel}-guess-{attempt}"),
                        from,
                        &other_than(&right),
                    )
                    .await;
                last = text(&out);
                assert!(
                    !last.contains("Order #W") && !last.contains("pending"),
                    "{last}"
                );
            }
            assert!(
                last.contains("too many wrong codes"),
                "{}: {channel}: {last}",
                s.db.label
            );
            // The right code after the lock-out does not help either.
            let out = s
                .say(*channel, &format!("{channel}-late"), from, &right)
                .await;
            assert!(!text(&out).contains("cancel order #W"), "{}", text(&out));
        }

        // Email with a forged `From` (no SPF or DKIM pass): served as a guest, never in
        // Ada's conversation, and asked to prove the account like anyone else.
        let mut forged = message(
            Channel::Email,
            "forged-1",
            ada_email.clone(),
            &format!("I want to cancel my order {PENDING}, I confirm"),
        );
        forged.assurance = Assurance::Claimed;
        let out = s.send(forged).await;
        assert_ne!(out.conversation_id, ada.conversation_id, "{}", s.db.label);
        assert_ne!(out.customer_id, ada.customer_id);
        let reply = text(&out);
        assert!(
            reply.contains("email address you ordered with"),
            "{}: {reply}",
            s.db.label
        );
        let log = store(&s).events(out.conversation_id).await.unwrap();
        assert!(log.iter().any(|e| matches!(
            &e.kind,
            EventKind::IdentityAssured {
                assurance: Assurance::Claimed,
                ..
            }
        )));
        // Ada's own conversation got nothing from the stranger.
        let ada_log = store(&s).events(ada.conversation_id).await.unwrap();
        assert!(!ada_log.iter().any(|e| matches!(
            &e.kind,
            EventKind::MessageReceived { text, .. } if text.contains("forged") || text.contains("I confirm")
        )));

        assert_eq!(s.writes().await, 0, "{}: no write", s.db.label);
        assert_eq!(s.order_status(PENDING).await, "Pending");
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn the_owner_gets_through_with_the_code_the_accounts_email_received() {
    for s in setups().await {
        let ada_email = identity(IdentityKind::Email, ADA_EMAIL);
        let visitor = session("ada-on-a-new-laptop");
        stranger_asks_for_a_code(&s, Channel::WebChat, &visitor, "owner").await;
        // The code went to the account's email, and only there.
        let codes = s.codes_sent_to(&ada_email).await;
        assert_eq!(codes.len(), 1, "{}", s.db.label);
        let everything = store(&s)
            .due_outbox(demo_now() + Duration::days(1), 100)
            .await
            .unwrap();
        let code_messages: Vec<_> = everything
            .iter()
            .filter(|e| e.message.text.contains("verification code"))
            .collect();
        assert_eq!(code_messages.len(), 1);
        assert_eq!(code_messages[0].message.recipient, ada_email);
        assert_eq!(code_messages[0].message.channel, Channel::Email);

        // A wrong code first: told so, asked again.
        let wrong = s
            .say(
                Channel::WebChat,
                "owner-3",
                &visitor,
                &other_than(&codes[0]),
            )
            .await;
        assert!(
            text(&wrong).contains("That code isn't right"),
            "{}",
            text(&wrong)
        );
        // Then the code, typed as people do.
        let typed = format!("my code is {} {}", &codes[0][..3], &codes[0][3..]);
        let ok = s.say(Channel::WebChat, "owner-4", &visitor, &typed).await;
        let reply = text(&ok);
        assert!(!reply.contains("code"), "{}: {reply}", s.db.label);
        // The flow goes on: the cancellation's reason, then the confirmation.
        let reason = s
            .say(
                Channel::WebChat,
                "owner-5",
                &visitor,
                "I don't need it anymore",
            )
            .await;
        assert!(
            text(&reason).contains("To confirm"),
            "{}: {}",
            s.db.label,
            text(&reason)
        );
        let done = s.say(Channel::WebChat, "owner-6", &visitor, "yes").await;
        assert!(text(&done).contains("is cancelled"), "{}", text(&done));
        assert_eq!(s.writes().await, 1);
        assert_eq!(s.order_status(PENDING).await, "Cancelled");

        // The account is now proven for this customer: no second code for the next request.
        let next = s
            .say(
                Channel::WebChat,
                "owner-7",
                &visitor,
                "where is my order #W0000002",
            )
            .await;
        assert!(text(&next).contains("delivered"), "{}", text(&next));
        assert_eq!(s.codes_sent_to(&ada_email).await.len(), 1);
        let customer = store(&s).customer(ok.customer_id).await.unwrap();
        let record = customer
            .identities
            .iter()
            .find(|r| r.identity.value == ADA_ACCOUNT)
            .expect("the account joined the customer");
        assert_eq!(record.assurance, Assurance::Code);
        // The code itself is never in the log.
        let log = store(&s).events(ok.conversation_id).await.unwrap();
        let logged = serde_json::to_string(
            &log.iter()
                .filter(|e| !matches!(e.kind, EventKind::MessageReceived { .. }))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let at = logged
            .find(&codes[0])
            .map(|i| &logged[i.saturating_sub(200)..(i + 50).min(logged.len())]);
        assert!(at.is_none(), "{}: {at:?}", s.db.label);
        s.db.cleanup().await;
    }
}

#[tokio::test]
async fn expired_reused_and_rate_limited_codes_do_not_work() {
    for s in setups().await {
        let ada_email = identity(IdentityKind::Email, ADA_EMAIL);
        // Expired: eleven minutes later the code is refused and a new one goes out.
        let late = session("late");
        stranger_asks_for_a_code(&s, Channel::WebChat, &late, "late").await;
        let first = s.codes_sent_to(&ada_email).await[0].clone();
        s.advance(Duration::minutes(11));
        let out = s.say(Channel::WebChat, "late-3", &late, &first).await;
        assert!(
            text(&out).contains("expired"),
            "{}: {}",
            s.db.label,
            text(&out)
        );
        let codes = s.codes_sent_to(&ada_email).await;
        assert_eq!(codes.len(), 2, "a new code went out");
        let out = s.say(Channel::WebChat, "late-4", &late, &codes[1]).await;
        assert!(text(&out).contains("May I ask why"), "{}", text(&out));

        // Reused: the code that worked for Ada's session works for nobody else.
        let other = session("someone-else");
        stranger_asks_for_a_code(&s, Channel::WebChat, &other, "reuse").await;
        let out = s.say(Channel::WebChat, "reuse-3", &other, &codes[1]).await;
        assert!(
            text(&out).contains("That code isn't right"),
            "{}: {}",
            s.db.label,
            text(&out)
        );

        // Rate-limited: five codes an hour for one account, whoever asks.
        let mut refused = None;
        for n in 0..6 {
            let visitor = session(&format!("spammer-{n}"));
            s.say(
                Channel::WebChat,
                &format!("spam-{n}-1"),
                &visitor,
                &format!("cancel my order {PENDING}"),
            )
            .await;
            let out = s
                .say(
                    Channel::WebChat,
                    &format!("spam-{n}-2"),
                    &visitor,
                    ADA_EMAIL,
                )
                .await;
            if text(&out).contains("I've sent several codes already") {
                refused = Some(n);
                break;
            }
        }
        // Three codes went out above; two more are allowed this hour, the next is refused.
        assert_eq!(refused, Some(2), "{}", s.db.label);
        assert_eq!(s.codes_sent_to(&ada_email).await.len(), 5);
        assert_eq!(s.writes().await, 0);
        s.db.cleanup().await;
    }
}
