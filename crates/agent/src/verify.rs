//! One-time codes: how a customer who only claims an identity proves an account is theirs.
//!
//! A flow's `verify` step asks for [`SEND_CODE`] when the account is not already proven for
//! this customer (by the channel, or an earlier code). The code goes to the email address or
//! phone number *on the account* (from the identity directory), never to an address the customer
//! typed, through the outbox and the channel senders the deployment already has. Only its hash
//! is kept. It expires, allows a few attempts, then locks out for a while, and requests are
//! rate-limited per account and per customer. What the customer is told never reveals whether
//! an account exists: an unknown account gets the same words and a code nobody receives.
//!
//! [`CHECK_CODE`] checks a typed code. A right one proves the account: its account id joins the
//! customer as a code-verified identity (recorded as `IdentityAssured`), so later flows pass
//! their `verify` step at once.

use crate::pending::Pending;
use chrono::Duration;
use frontline_domain::{
    ActionCall, ActionError, Assurance, Channel, Customer, EventKind, Identity, IdentityKind,
    OutboundMessage, ThreadRef,
};
use frontline_flows::compile::{CHECK_CODE, SEND_CODE};
use frontline_flows::wording::Wording;
use frontline_store::{Store, VerificationCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How one-time codes behave.
#[derive(Clone, Debug)]
pub struct VerificationSettings {
    /// How long a code works.
    pub code_ttl: Duration,
    /// Wrong attempts a code allows; then the customer is locked out.
    pub max_attempts: u32,
    /// How long a lock-out lasts, from the last wrong attempt.
    pub lockout: Duration,
    /// Codes one account may be sent per hour, whoever asks.
    pub per_account_per_hour: u64,
    /// Codes one customer (sender) may ask for per hour, for any accounts.
    pub per_sender_per_hour: u64,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            code_ttl: Duration::minutes(10),
            max_attempts: 5,
            lockout: Duration::minutes(15),
            per_account_per_hour: 5,
            per_sender_per_hour: 5,
        }
    }
}

/// Whether a call the engine asks for is one of the `verify` step's, which the agent answers
/// itself.
pub(crate) fn is_verification(call: &ActionCall) -> bool {
    call.name == SEND_CODE || call.name == CHECK_CODE
}

/// What answering a `verify` step's call works with: the stored codes, the identity directory
/// (where a code goes), the settings, and the wording codes are sent and talked about in.
pub(crate) struct Verifier<'a> {
    pub store: &'a Store,
    pub directory: Option<&'a dyn frontline_domain::IdentityDirectory>,
    pub settings: &'a VerificationSettings,
    pub wording: &'a Wording,
}

/// What a `verify` step's call needs to know of the turn.
pub(crate) struct Asker<'a> {
    pub pending: &'a Pending,
    pub customer: &'a Customer,
    /// The identity the customer was resolved by (the sender, or its guest stand-in).
    pub sender: &'a Identity,
}

/// Answer a `verify` step's call. A store failure is a backend failure (the engine hands off).
pub(crate) async fn answer(
    verifier: &Verifier<'_>,
    asker: &Asker<'_>,
    call: &ActionCall,
) -> Result<Value, ActionError> {
    let account = call.args["account"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let result = if call.name == SEND_CODE {
        send(verifier, asker, &account).await
    } else {
        let typed = call.args["code"].as_str().unwrap_or_default();
        check(verifier, asker, &account, typed).await
    };
    result.map_err(|e| ActionError::Backend {
        message: format!("verification: {e}"),
    })
}

fn minutes(d: Duration) -> i64 {
    d.num_minutes().max(1)
}

/// Send a code for `account` ("" when none was found) unless locked out or rate-limited.
async fn send(
    verifier: &Verifier<'_>,
    asker: &Asker<'_>,
    account: &str,
) -> Result<Value, frontline_store::StoreError> {
    let settings = verifier.settings;
    let now = asker.pending.now();
    let requester = asker.customer.id;
    if let Some(latest) = verifier
        .store
        .latest_verification_code(account, requester)
        .await?
    {
        if locked_out(&latest, settings, now) {
            log(asker.pending, "locked", None);
            return Ok(json!({"sent": false, "message": locked_message(verifier)}));
        }
    }
    let hour_ago = now - Duration::hours(1);
    let by_account = if account.is_empty() {
        0
    } else {
        verifier
            .store
            .verification_codes_since(Some(account), None, hour_ago)
            .await?
    };
    let by_sender = verifier
        .store
        .verification_codes_since(None, Some(requester), hour_ago)
        .await?;
    if by_account >= settings.per_account_per_hour || by_sender >= settings.per_sender_per_hour {
        log(asker.pending, "rate_limited", None);
        return Ok(json!({
            "sent": false,
            "message": "I've sent several codes already, so I can't send another one right now. Please try again in an hour, or ask for a colleague.",
        }));
    }
    let destination = match account.is_empty() {
        true => None,
        false => destination(verifier, account, texting(asker.sender)).await,
    };
    let code = new_code();
    let id = uuid_like();
    let record = VerificationCode {
        id: id.clone(),
        account: account.to_string(),
        requester,
        destination: destination
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        code_hash: hash(&id, &code),
        created_at: now,
        expires_at: now + settings.code_ttl,
        attempts: 0,
        last_attempt_at: None,
        used_at: None,
    };
    verifier.store.insert_verification_code(&record).await?;
    let masked = destination.as_ref().map(mask);
    if let Some(to) = destination {
        let channel = match to.kind {
            IdentityKind::Email => Channel::Email,
            _ => Channel::Sms,
        };
        let ttl = minutes(settings.code_ttl).to_string();
        let text = wording(verifier).say(
            "code_message",
            &[("code", code.as_str()), ("minutes", &ttl)],
        );
        let message = OutboundMessage {
            conversation_id: asker.pending.conversation_id(),
            channel,
            recipient: to,
            text,
            in_reply_to: None,
            thread: ThreadRef {
                subject: Some(wording(verifier).say("code_subject", &[])),
                ..ThreadRef::default()
            },
            choices: vec![],
            survey: None,
        };
        asker.pending.reply(message, false);
    }
    log(asker.pending, "sent", masked);
    Ok(json!({
        "sent": true,
        "prompt": wording(verifier).say(
            "code_sent",
            &[("minutes", &minutes(settings.code_ttl).to_string())]
        ),
    }))
}

/// Check a typed code against the newest one sent to this customer for `account`.
async fn check(
    verifier: &Verifier<'_>,
    asker: &Asker<'_>,
    account: &str,
    typed: &str,
) -> Result<Value, frontline_store::StoreError> {
    let settings = verifier.settings;
    let now = asker.pending.now();
    let Some(latest) = verifier
        .store
        .latest_verification_code(account, asker.customer.id)
        .await?
    else {
        return Ok(
            json!({"verified": false, "next": "resend", "message": wording(verifier).say("code_none_resend", &[])}),
        );
    };
    if locked_out(&latest, settings, now) {
        log(asker.pending, "locked", None);
        return Ok(json!({"verified": false, "next": "stop", "message": locked_message(verifier)}));
    }
    if latest.used_at.is_some() {
        log(asker.pending, "reused", None);
        return Ok(
            json!({"verified": false, "next": "resend", "message": wording(verifier).say("code_used_resend", &[])}),
        );
    }
    if now >= latest.expires_at {
        log(asker.pending, "expired", None);
        return Ok(
            json!({"verified": false, "next": "resend", "message": wording(verifier).say("code_expired_resend", &[])}),
        );
    }
    let right = !account.is_empty() && same(&hash(&latest.id, typed), &latest.code_hash);
    verifier
        .store
        .record_verification_attempt(&latest.id, right, now)
        .await?;
    if !right {
        log(asker.pending, "wrong", None);
        if latest.attempts + 1 >= settings.max_attempts {
            return Ok(
                json!({"verified": false, "next": "stop", "message": locked_message(verifier)}),
            );
        }
        return Ok(
            json!({"verified": false, "next": "retry", "message": wording(verifier).say("code_wrong_retry", &[])}),
        );
    }
    let proven = Identity {
        kind: IdentityKind::AccountId,
        value: account.to_string(),
    };
    // The account id and the account's own handles join this customer, proven: later flows
    // find the account and pass `verify` at once, on any channel the account's handles use.
    let mut joined = vec![asker.sender.clone(), proven.clone()];
    if let Some(directory) = verifier.directory {
        match directory.linked(&proven).await {
            Ok(linked) => {
                for identity in linked {
                    if !joined.contains(&identity) {
                        joined.push(identity);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "identity directory failed; only the account id joins")
            }
        }
    }
    verifier.store.resolve_customer(&joined, None, now).await?;
    for identity in &joined[1..] {
        verifier
            .store
            .assure_identity(identity, Assurance::Code)
            .await?;
    }
    let how = match latest.destination.split_once(':') {
        Some((kind, value)) => {
            let to = Identity {
                kind: kind.parse().unwrap_or(IdentityKind::Email),
                value: value.to_string(),
            };
            format!("one-time code sent to {}", mask(&to))
        }
        None => "one-time code".to_string(),
    };
    asker.pending.log(EventKind::IdentityAssured {
        identity: proven,
        assurance: Assurance::Code,
        how,
    });
    log(asker.pending, "passed", None);
    Ok(json!({"verified": true}))
}

fn locked_out(
    latest: &VerificationCode,
    settings: &VerificationSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    latest.attempts >= settings.max_attempts
        && latest
            .last_attempt_at
            .is_some_and(|at| now < at + settings.lockout)
}

fn locked_message(verifier: &Verifier<'_>) -> String {
    let lockout = minutes(verifier.settings.lockout).to_string();
    wording(verifier).say("code_locked", &[("minutes", &lockout)])
}

/// What the agent says about codes: the loaded flows' wording.
fn wording<'a>(verifier: &Verifier<'a>) -> &'a Wording {
    verifier.wording
}

fn log(pending: &Pending, outcome: &str, destination: Option<String>) {
    tracing::info!(outcome, "verification");
    pending.log(EventKind::Verification {
        outcome: outcome.to_string(),
        destination,
    });
}

/// Whether the customer is writing from a phone (SMS or WhatsApp): their code then goes by text
/// to the phone on the account, where there is one.
fn texting(sender: &Identity) -> bool {
    matches!(sender.kind, IdentityKind::Phone | IdentityKind::Whatsapp)
}

/// Where the account's code goes, from the identity directory: its email, else its phone; its
/// phone first when `phone_first` (the customer is texting).
async fn destination(
    verifier: &Verifier<'_>,
    account: &str,
    phone_first: bool,
) -> Option<Identity> {
    let directory = verifier.directory?;
    let account = Identity {
        kind: IdentityKind::AccountId,
        value: account.to_string(),
    };
    let linked = match directory.linked(&account).await {
        Ok(linked) => linked,
        Err(e) => {
            tracing::warn!(error = %e, "identity directory failed; no code sent");
            return None;
        }
    };
    let order = match phone_first {
        true => [IdentityKind::Phone, IdentityKind::Email],
        false => [IdentityKind::Email, IdentityKind::Phone],
    };
    order
        .into_iter()
        .find_map(|kind| linked.iter().find(|i| i.kind == kind).cloned())
}

/// The identity a claimed handle is served under when the handle belongs to a customer with a
/// proven identity: a guest of its own, so a forged sender never sees or joins that customer's
/// conversations. Replies still go to the handle itself (the message's sender).
pub(crate) fn guest(claimed: &Identity) -> Identity {
    Identity {
        kind: IdentityKind::WebSession,
        value: format!("claimed:{claimed}"),
    }
}

/// `commands` as the log keeps them: a one-time code typed is never stored.
pub(crate) fn redacted(
    commands: &[frontline_domain::ScoredCommand],
) -> Vec<frontline_domain::ScoredCommand> {
    commands
        .iter()
        .map(|c| frontline_domain::ScoredCommand::new(redacted_command(&c.command), c.confidence))
        .collect()
}

/// One command as the log keeps it (see [`redacted`]).
pub(crate) fn redacted_command(command: &frontline_domain::Command) -> frontline_domain::Command {
    match command {
        frontline_domain::Command::SetSlot { name, .. }
            if name == frontline_flows::compile::VERIFICATION_CODE =>
        {
            frontline_domain::Command::SetSlot {
                name: name.clone(),
                value: json!("******"),
            }
        }
        other => other.clone(),
    }
}

/// `a***@example.com`, `+1******0100`: enough to recognise, not to learn.
pub(crate) fn mask(identity: &Identity) -> String {
    let value = &identity.value;
    match identity.kind {
        IdentityKind::Email => match value.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        _ => {
            let chars: Vec<char> = value.chars().collect();
            let keep_start = chars.len().min(2);
            let keep_end = chars.len().saturating_sub(keep_start).min(4);
            let hidden = chars.len() - keep_start - keep_end;
            let start: String = chars[..keep_start].iter().collect();
            let end: String = chars[chars.len() - keep_end..].iter().collect();
            format!("{start}{}{end}", "*".repeat(hidden))
        }
    }
}

/// Six random digits, from the operating system's generator.
fn new_code() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the operating system's random generator");
    format!("{:06}", u64::from_le_bytes(bytes) % 1_000_000)
}

/// A random id for a code.
fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system's random generator");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a code: SHA-256 over the code's id and the digits.
fn hash(id: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{id}:{code}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare two hashes without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_hashes_depend_on_id_and_code() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
        let (a, b) = (uuid_like(), uuid_like());
        assert_ne!(a, b);
        assert!(same(&hash(&a, "123456"), &hash(&a, "123456")));
        assert!(!same(&hash(&a, "123456"), &hash(&a, "123457")));
        assert!(!same(&hash(&a, "123456"), &hash(&b, "123456")));
        assert!(!same("abc", "abcd"));
    }

    #[test]
    fn destinations_are_masked() {
        let email = Identity {
            kind: IdentityKind::Email,
            value: "ada.lovelace@example.com".into(),
        };
        assert_eq!(mask(&email), "a***@example.com");
        let phone = Identity {
            kind: IdentityKind::Phone,
            value: "+13035550100".into(),
        };
        assert_eq!(mask(&phone), "+1******0100");
    }
}
