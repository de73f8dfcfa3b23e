//! Twilio Programmable Messaging, for SMS and WhatsApp: the form-encoded webhook
//! (`From`, `To`, `Body`, `MessageSid`, `NumMedia`, `ProfileName`, `WaId`, …) signed with
//! `X-Twilio-Signature`, replies through the Messages REST API or as TwiML.

use crate::provider::{Acknowledgement, Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{field, required, FormFields, Received, WebhookError};
use base64::Engine as _;
use frontline_domain::{
    Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions, OutboundMessage, OutboxId,
    ThreadRef, Timestamp,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// `X-Twilio-Signature` for a request: base64(HMAC-SHA1(auth token, URL + every POST parameter
/// name and value, sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(mac(auth_token, url, params).finalize().into_bytes())
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// The URL as Twilio may have signed it: as configured, and with the scheme's default port
/// added or removed (Twilio signs what it was given; proxies rewrite ports).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // Credentials are never in a Twilio webhook URL worth verifying against; keep it simple.
    match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => {
            out.push(format!("{scheme}://{host}{tail}"));
        }
        Some(_) => {}
        None => out.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    out
}

/// Check `X-Twilio-Signature` for a POST to `url` (the full public URL Twilio called, query
/// string included) with these form `params`. Constant-time.
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header
        .ok_or_else(|| WebhookError::unauthorized("the X-Twilio-Signature header is missing"))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| WebhookError::unauthorized("X-Twilio-Signature is not base64"))?;
    for candidate in url_variants(url) {
        if mac(auth_token, &candidate, params)
            .verify_slice(&given)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(WebhookError::unauthorized(
        "X-Twilio-Signature does not match the URL and parameters",
    ))
}

/// Parse an inbound-message or status-callback webhook.
///
/// `whatsapp:`-prefixed numbers make it a WhatsApp message (identity `wa_id`, with the phone
/// number as a further identity so SMS and WhatsApp from one number are one customer).
pub fn parse(
    params: &FormFields,
    opts: &NormalizeOptions,
    now: Timestamp,
) -> Result<Received, WebhookError> {
    let sid = field(params, "MessageSid")
        .or_else(|| field(params, "SmsMessageSid"))
        .or_else(|| field(params, "SmsSid"))
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| WebhookError::malformed("the `MessageSid` field is missing"))?;
    let body = field(params, "Body");
    let status = field(params, "MessageStatus").or_else(|| field(params, "SmsStatus"));
    // A status callback: no Body, a MessageStatus about a message we sent.
    if let (None, Some(status)) = (body, status) {
        let status = status.to_ascii_lowercase();
        let detail = field(params, "ErrorCode").map(|code| {
            let message = field(params, "ErrorMessage").unwrap_or("");
            format!("error {code} {message}").trim().to_string()
        });
        let channel = if field(params, "To").is_some_and(|to| to.starts_with("whatsapp:")) {
            Channel::Whatsapp
        } else {
            Channel::Sms
        };
        return Ok(Received {
            statuses: vec![crate::DeliveryStatus {
                channel,
                provider_message_id: sid.to_string(),
                status,
                detail,
                at: now,
            }],
            ..Received::default()
        });
    }
    let from = required(params, "From")?;
    let to = field(params, "To").unwrap_or_default();
    let media: usize = field(params, "NumMedia")
        .unwrap_or("0")
        .trim()
        .parse()
        .map_err(|_| WebhookError::malformed("`NumMedia` is not a number"))?;
    let mut text = body.unwrap_or_default().trim().to_string();
    if media > 0 {
        let kinds: Vec<&str> = (0..media)
            .filter_map(|i| field(params, &format!("MediaContentType{i}")))
            .collect();
        let note = format!(
            "[{media} attachment{}{}]",
            if media == 1 { "" } else { "s" },
            if kinds.is_empty() {
                String::new()
            } else {
                format!(": {}", kinds.join(", "))
            }
        );
        text = if text.is_empty() {
            note
        } else {
            format!("{text}\n{note}")
        };
    }
    if text.is_empty() {
        return Ok(Received::ignored(format!("message {sid} has no text")));
    }
    let bad = |e: frontline_domain::IdentityError| WebhookError::malformed(format!("`From`: {e}"));
    let (channel, sender, also) = match from.strip_prefix("whatsapp:") {
        Some(number) => {
            let wa_id = field(params, "WaId").unwrap_or(number);
            let sender = Identity::parse(IdentityKind::Whatsapp, wa_id, opts).map_err(bad)?;
            let phone = Identity::parse(IdentityKind::Phone, number, opts).ok();
            (Channel::Whatsapp, sender, phone.into_iter().collect())
        }
        None => (
            Channel::Sms,
            Identity::parse(IdentityKind::Phone, from, opts).map_err(bad)?,
            vec![],
        ),
    };
    Ok(Received::messages(vec![InboundMessage {
        channel,
        channel_message_id: sid.to_string(),
        sender,
        also_known_as: also,
        // Twilio signed the request: the number is the sender's.
        assurance: frontline_domain::Assurance::Channel,
        display_name: field(params, "ProfileName")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        text,
        received_at: now,
        conversation_hint: None,
        thread: ThreadRef {
            via: (!to.is_empty()).then(|| to.to_string()),
            ..ThreadRef::default()
        },
    }]))
}

/// A TwiML response replying with `bodies` (none: an empty `<Response/>`, which acknowledges
/// the webhook when the reply goes out through the REST API instead).
pub fn twiml(bodies: &[String]) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
    for body in bodies {
        xml.push_str("<Message>");
        xml.push_str(&xml_escape(body));
        xml.push_str("</Message>");
    }
    xml.push_str("</Response>");
    xml
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `[channels.twilio]`: SMS (and WhatsApp through Twilio).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC…`.
    pub account_sid: String,
    /// Signs webhooks and authenticates API calls.
    pub auth_token: String,
    /// The number replies come from when the inbound message did not say (E.164).
    #[serde(default)]
    pub from: Option<String>,
    /// The public URL Twilio calls for inbound messages (what it signs).
    pub webhook_url: String,
    /// API base; a test server in tests.
    #[serde(default = "twilio_api")]
    pub api_base: String,
}

fn twilio_api() -> String {
    "https://api.twilio.com".into()
}

/// Twilio as a provider: `POST /webhooks/twilio` in, the Messages REST API out, for SMS and,
/// unless Meta's Cloud API carries it, WhatsApp.
pub struct TwilioProvider {
    config: TwilioConfig,
    whatsapp: bool,
    client: reqwest::Client,
}

impl TwilioProvider {
    /// A provider with these settings; `whatsapp`: it also sends WhatsApp replies.
    pub fn new(config: TwilioConfig, whatsapp: bool, timeout: std::time::Duration) -> Self {
        Self {
            config,
            whatsapp,
            client: crate::http::client(timeout),
        }
    }
}

#[async_trait::async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn channels(&self) -> Vec<Channel> {
        if self.whatsapp {
            vec![Channel::Sms, Channel::Whatsapp]
        } else {
            vec![Channel::Sms]
        }
    }

    fn capabilities(&self, channel: Channel) -> Capabilities {
        match channel {
            Channel::Whatsapp => crate::whatsapp::CAPABILITIES,
            _ => Capabilities {
                max_message_chars: Some(1600),
                ..Capabilities::PLAIN
            },
        }
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        let params = crate::parse_form(webhook.body)?;
        verify(
            &self.config.auth_token,
            &self.config.webhook_url,
            &params,
            webhook.header(SIGNATURE_HEADER),
        )?;
        parse(&params, webhook.normalize, webhook.received_at)
    }

    fn acknowledgement(&self) -> Option<Acknowledgement> {
        Some(Acknowledgement {
            content_type: "text/xml",
            body: twiml(&[]),
        })
    }

    fn render(&self, channel: Channel, markdown: &str) -> Vec<String> {
        match channel {
            Channel::Whatsapp => vec![crate::render::whatsapp(markdown)],
            _ => crate::render::sms(markdown, crate::render::MAX_SMS_SEGMENTS),
        }
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        let whatsapp = message.channel == Channel::Whatsapp;
        let from = message
            .thread
            .via
            .clone()
            .or_else(|| self.config.from.clone())
            .ok_or_else(|| SendError::Permanent("no number to send from".into()))?;
        let number = message.recipient.phone_number().ok_or_else(|| {
            SendError::Permanent(format!("{} has no phone number", message.recipient))
        })?;
        let (to, from) = if whatsapp {
            let from = if from.starts_with("whatsapp:") {
                from
            } else {
                format!("whatsapp:{from}")
            };
            (format!("whatsapp:{number}"), from)
        } else {
            (number.to_string(), from)
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let mut sids = Vec::new();
        for body in self.render(message.channel, &message.text) {
            let form = [
                ("To", to.as_str()),
                ("From", from.as_str()),
                ("Body", body.as_str()),
            ];
            let sent = crate::http::answer(
                "Twilio Messages",
                self.client
                    .post(&url)
                    .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
                    .form(&form)
                    .send()
                    .await,
            )
            .await?;
            sids.push(sent["sid"].as_str().unwrap_or_default().to_string());
        }
        Ok(sids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The worked example of Twilio's webhook-security guide.
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    fn doc_params() -> FormFields {
        form(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn twilios_published_vector() {
        assert_eq!(signature("12345", DOC_URL, &doc_params()), DOC_SIGNATURE);
        assert_eq!(
            verify("12345", DOC_URL, &doc_params(), Some(DOC_SIGNATURE)),
            Ok(())
        );
    }

    #[test]
    fn tampered_requests_are_refused() {
        let mut params = doc_params();
        params[2].1 = "9999".into();
        assert!(verify("12345", DOC_URL, &params, Some(DOC_SIGNATURE)).is_err());
        assert!(verify("54321", DOC_URL, &doc_params(), Some(DOC_SIGNATURE)).is_err());
        let other_url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert!(verify("12345", other_url, &doc_params(), Some(DOC_SIGNATURE)).is_err());
        assert!(matches!(
            verify("12345", DOC_URL, &doc_params(), None),
            Err(WebhookError::Unauthorized(m)) if m.contains("missing")
        ));
        assert!(verify("12345", DOC_URL, &doc_params(), Some("not base64!")).is_err());
    }

    #[test]
    fn the_default_port_may_be_present_or_not() {
        // Signed with :443, configured without (and the reverse).
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed = signature("12345", with_port, &doc_params());
        assert_eq!(
            verify("12345", DOC_URL, &doc_params(), Some(&signed)),
            Ok(())
        );
        assert_eq!(
            verify("12345", with_port, &doc_params(), Some(DOC_SIGNATURE)),
            Ok(())
        );
        // Another port is another URL.
        let other = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert!(verify("12345", other, &doc_params(), Some(DOC_SIGNATURE)).is_err());
    }

    #[test]
    fn an_sms_becomes_a_message_from_a_phone() {
        let params = form(&[
            ("MessageSid", "SM1"),
            ("From", "+14155550123"),
            ("To", "+18005550000"),
            ("Body", " Where is my order? "),
            ("NumMedia", "0"),
        ]);
        let got = parse(&params, &NormalizeOptions::default(), chrono::Utc::now()).unwrap();
        let m = &got.messages[0];
        assert_eq!(m.channel, Channel::Sms);
        assert_eq!(m.sender.to_string(), "phone:+14155550123");
        assert_eq!(m.text, "Where is my order?");
        assert_eq!(m.thread.via.as_deref(), Some("+18005550000"));
    }

    #[test]
    fn a_whatsapp_message_carries_wa_id_phone_and_profile_name() {
        let params = form(&[
            ("MessageSid", "SM2"),
            ("From", "whatsapp:+14155550123"),
            ("To", "whatsapp:+18005550000"),
            ("Body", "hi"),
            ("WaId", "14155550123"),
            ("ProfileName", "Ada"),
            ("NumMedia", "1"),
            ("MediaContentType0", "image/jpeg"),
        ]);
        let got = parse(&params, &NormalizeOptions::default(), chrono::Utc::now()).unwrap();
        let m = &got.messages[0];
        assert_eq!(m.channel, Channel::Whatsapp);
        assert_eq!(m.sender.to_string(), "whatsapp:+14155550123");
        assert_eq!(m.also_known_as[0].to_string(), "phone:+14155550123");
        assert_eq!(m.display_name.as_deref(), Some("Ada"));
        assert_eq!(m.text, "hi\n[1 attachment: image/jpeg]");
    }

    #[test]
    fn status_callbacks_are_receipts_and_bad_payloads_say_why() {
        let now = chrono::Utc::now();
        let status = form(&[
            ("MessageSid", "SM3"),
            ("MessageStatus", "Delivered"),
            ("To", "+14155550123"),
        ]);
        let got = parse(&status, &NormalizeOptions::default(), now).unwrap();
        assert!(got.messages.is_empty());
        assert_eq!(got.statuses[0].status, "delivered");
        let err = parse(
            &form(&[("From", "+1415")]),
            &NormalizeOptions::default(),
            now,
        )
        .unwrap_err();
        assert_eq!(
            err,
            WebhookError::malformed("the `MessageSid` field is missing")
        );
        let err = parse(
            &form(&[("MessageSid", "SM4"), ("From", "nobody"), ("Body", "x")]),
            &NormalizeOptions::default(),
            now,
        )
        .unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(m) if m.contains("`From`")));
    }

    #[test]
    fn twiml_escapes_text() {
        assert_eq!(
            twiml(&["a < b & \"c\"".into()]),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &lt; b &amp; &quot;c&quot;</Message></Response>"#
        );
        assert!(twiml(&[]).ends_with("<Response></Response>"));
    }
}
