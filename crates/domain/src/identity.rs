//! Identities: the handles a customer writes from, normalised so that the same person is
//! recognised whichever channel they use (`Ada@Example.COM ` and `ada@example.com` are one).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of handle an identity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// An email address, lowercased and trimmed.
    Email,
    /// A phone number in E.164 (`+14155550123`).
    Phone,
    /// A WhatsApp user: `wa_id` in E.164, or a business-scoped user id when no phone is shared.
    Whatsapp,
    /// The shop's own account id, e.g. `ada_lovelace_1000`.
    AccountId,
    /// An anonymous web chat session (cookie value).
    WebSession,
    /// A Chatwoot contact id (`<account>:<contact>`).
    ChatwootContact,
    /// A Facebook Messenger user: their page-scoped id (PSID).
    Messenger,
    /// A Telegram user id.
    Telegram,
}

crate::wire::wire_names!(IdentityKind, "identity kind", {
    Email => "email",
    Phone => "phone",
    Whatsapp => "whatsapp",
    AccountId => "account_id",
    WebSession => "web_session",
    ChatwootContact => "chatwoot_contact",
    Messenger => "messenger",
    Telegram => "telegram",
});

/// Why a raw handle could not become an [`Identity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Nothing left after trimming.
    #[error("{0} identity is empty")]
    Empty(IdentityKind),
    /// Not a plausible email address.
    #[error("`{0}` is not an email address (expected local@domain)")]
    InvalidEmail(String),
    /// Not a plausible phone number.
    #[error("`{raw}` is not a phone number: {why}")]
    InvalidPhone {
        /// What was given.
        raw: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Control characters or excessive length.
    #[error("{kind} identity `{value}` has control characters or is longer than 256 characters")]
    Malformed {
        /// Which kind was being parsed.
        kind: IdentityKind,
        /// What was given.
        value: String,
    },
}

/// How to read numbers written without a country code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeOptions {
    /// Calling code (digits only, e.g. `1` or `44`) assumed for national-format numbers.
    pub default_country_code: String,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            default_country_code: "1".to_string(),
        }
    }
}

/// A normalised handle. Two identities are the same customer handle iff they are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    /// The kind of handle.
    pub kind: IdentityKind,
    /// The normalised value (see [`Identity::parse`]).
    pub value: String,
}

impl Identity {
    /// Normalise a raw handle of the given kind.
    ///
    /// ```
    /// use frontline_domain::{Identity, IdentityKind, NormalizeOptions};
    /// let opts = NormalizeOptions::default();
    /// let email = Identity::parse(IdentityKind::Email, "  Ada@Example.COM ", &opts).unwrap();
    /// assert_eq!(email.value, "ada@example.com");
    /// let phone = Identity::parse(IdentityKind::Phone, "(415) 555-0123", &opts).unwrap();
    /// assert_eq!(phone.value, "+14155550123");
    /// ```
    pub fn parse(
        kind: IdentityKind,
        raw: &str,
        opts: &NormalizeOptions,
    ) -> Result<Identity, IdentityError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::Empty(kind));
        }
        if trimmed.chars().count() > 256 || trimmed.chars().any(char::is_control) {
            return Err(IdentityError::Malformed {
                kind,
                value: trimmed.chars().take(64).collect(),
            });
        }
        let value = match kind {
            IdentityKind::Email => normalize_email(trimmed)?,
            IdentityKind::Phone => normalize_phone(trimmed, opts)?,
            IdentityKind::Whatsapp => {
                // wa_ids are phone numbers without the plus; business-scoped ids are opaque.
                let stripped = trimmed.strip_prefix("whatsapp:").unwrap_or(trimmed);
                if looks_like_phone(stripped) {
                    normalize_international(stripped)?
                } else {
                    stripped.to_string()
                }
            }
            IdentityKind::AccountId
            | IdentityKind::WebSession
            | IdentityKind::ChatwootContact
            | IdentityKind::Messenger
            | IdentityKind::Telegram => trimmed.to_string(),
        };
        Ok(Identity { kind, value })
    }

    /// The phone number behind a phone or phone-based WhatsApp identity, for cross-linking.
    pub fn phone_number(&self) -> Option<&str> {
        match self.kind {
            IdentityKind::Phone => Some(&self.value),
            IdentityKind::Whatsapp if self.value.starts_with('+') => Some(&self.value),
            _ => None,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    // "Ada Lovelace <ada@example.com>" is how email headers carry it.
    let addr = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(l), Some(r)) if l < r => &raw[l + 1..r],
        _ => raw,
    };
    let addr = addr.trim().to_lowercase();
    let valid = match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(addr)
    } else {
        Err(IdentityError::InvalidEmail(raw.to_string()))
    }
}

fn looks_like_phone(raw: &str) -> bool {
    raw.chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && raw.chars().filter(char::is_ascii_digit).count() >= 7
}

/// A number already carrying its country code, with or without `+`/`00`.
fn normalize_international(raw: &str) -> Result<String, IdentityError> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let digits = if !raw.trim_start().starts_with('+') {
        digits
            .strip_prefix("00")
            .map(str::to_string)
            .unwrap_or(digits)
    } else {
        digits
    };
    e164(raw, digits)
}

fn normalize_phone(raw: &str, opts: &NormalizeOptions) -> Result<String, IdentityError> {
    let raw = raw
        .strip_prefix("tel:")
        .or_else(|| raw.strip_prefix("sms:"))
        .unwrap_or(raw)
        .trim();
    if !raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return Err(IdentityError::InvalidPhone {
            raw: raw.to_string(),
            why: "only digits, spaces, + - ( ) . are allowed",
        });
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if raw.starts_with('+') {
        return e164(raw, digits);
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return e164(raw, rest.to_string());
    }
    let cc = &opts.default_country_code;
    // National format: drop a trunk prefix 0 (UK, DE, FR …); NANP numbers may carry a leading 1.
    let national = if cc == "1" && digits.len() == 11 && digits.starts_with('1') {
        digits[1..].to_string()
    } else {
        digits.strip_prefix('0').unwrap_or(&digits).to_string()
    };
    if cc == "1" && national.len() != 10 {
        return Err(IdentityError::InvalidPhone {
            raw: raw.to_string(),
            why: "a North American number has 10 digits",
        });
    }
    e164(raw, format!("{cc}{national}"))
}

fn e164(raw: &str, digits: String) -> Result<String, IdentityError> {
    if !(8..=15).contains(&digits.len()) {
        return Err(IdentityError::InvalidPhone {
            raw: raw.to_string(),
            why: "E.164 numbers have 8 to 15 digits including the country code",
        });
    }
    if digits.starts_with('0') {
        return Err(IdentityError::InvalidPhone {
            raw: raw.to_string(),
            why: "country codes never start with 0",
        });
    }
    Ok(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: IdentityKind, raw: &str) -> Result<String, IdentityError> {
        Identity::parse(kind, raw, &NormalizeOptions::default()).map(|i| i.value)
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_unwrapped() {
        assert_eq!(
            parse(IdentityKind::Email, " Ada@Example.COM\n").unwrap(),
            "ada@example.com"
        );
        assert_eq!(
            parse(IdentityKind::Email, "Ada Lovelace <ADA@example.com>").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@@x.com",
            "a da@x.com",
            "ada@.com",
        ] {
            assert!(
                matches!(
                    parse(IdentityKind::Email, bad),
                    Err(IdentityError::InvalidEmail(_))
                ),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn phones_become_e164() {
        let cases = [
            ("+1 (415) 555-0123", "+14155550123"),
            ("415.555.0123", "+14155550123"),
            ("1-415-555-0123", "+14155550123"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+44 20 7946 0958", "+442079460958"),
            ("tel:+14155550123", "+14155550123"),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(IdentityKind::Phone, raw).unwrap(), want, "{raw}");
        }
        let uk = NormalizeOptions {
            default_country_code: "44".into(),
        };
        assert_eq!(
            Identity::parse(IdentityKind::Phone, "020 7946 0958", &uk)
                .unwrap()
                .value,
            "+442079460958"
        );
        for bad in ["555-0123", "+12", "call me", "+0 123 456 789"] {
            assert!(
                parse(IdentityKind::Phone, bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn whatsapp_ids_are_phones_or_opaque_business_scoped_ids() {
        assert_eq!(
            parse(IdentityKind::Whatsapp, "14155550123").unwrap(),
            "+14155550123"
        );
        assert_eq!(
            parse(IdentityKind::Whatsapp, "whatsapp:+14155550123").unwrap(),
            "+14155550123"
        );
        assert_eq!(
            parse(IdentityKind::Whatsapp, "US.13491208655302741918").unwrap(),
            "US.13491208655302741918"
        );
        let wa = Identity::parse(
            IdentityKind::Whatsapp,
            "14155550123",
            &NormalizeOptions::default(),
        )
        .unwrap();
        assert_eq!(wa.phone_number(), Some("+14155550123"));
    }

    #[test]
    fn empty_and_control_characters_are_rejected() {
        assert_eq!(
            parse(IdentityKind::AccountId, "  "),
            Err(IdentityError::Empty(IdentityKind::AccountId))
        );
        assert!(matches!(
            parse(IdentityKind::WebSession, "a\u{0}b"),
            Err(IdentityError::Malformed { .. })
        ));
        let err = "fax".parse::<IdentityKind>().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown identity kind `fax` (expected one of: email, phone"),
            "{err}"
        );
        assert_eq!(
            "web_session".parse::<IdentityKind>().unwrap(),
            IdentityKind::WebSession
        );
    }
}
