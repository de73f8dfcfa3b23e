//! The configured providers, found by webhook path (inbound) and by channel (outbound).

use crate::chatwoot::{ChatwootConfig, ChatwootProvider};
use crate::email::{EmailConfig, EmailProvider};
use crate::messenger::{MessengerConfig, MessengerProvider};
use crate::provider::{Capabilities, Provider};
use crate::telegram::{TelegramConfig, TelegramProvider};
use crate::twilio::{TwilioConfig, TwilioProvider};
use crate::whatsapp::{WhatsappConfig, WhatsappProvider};
use frontline_domain::Channel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `[channels]`: every channel besides REST and the web chat is off until configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Twilio SMS (and WhatsApp through Twilio when `[channels.whatsapp]` is not set).
    pub twilio: Option<TwilioConfig>,
    /// Meta's WhatsApp Cloud API.
    pub whatsapp: Option<WhatsappConfig>,
    /// Facebook Messenger (a Page's conversations).
    pub messenger: Option<MessengerConfig>,
    /// A Telegram bot.
    pub telegram: Option<TelegramConfig>,
    /// Email in (Postmark, Mailgun) and out (SMTP).
    pub email: Option<EmailConfig>,
    /// Chatwoot Agent Bot.
    pub chatwoot: Option<ChatwootConfig>,
    /// The web chat (always on; this only adds verified sign-ins).
    pub webchat: Option<WebchatConfig>,
}

/// `[channels.webchat]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebchatConfig {
    /// The secret the shop's server signs user ids with (`identifier_hash`); without it, the
    /// web chat takes anonymous visitors only.
    pub identity_secret: Option<String>,
    /// The sites whose pages embed the widget (`https://shop.example`, scheme, host and any
    /// port): browsers let them call the web chat routes (CORS), and the session cookie is
    /// then sent cross-site (`SameSite=None; Secure`). Empty: the web chat is same-origin.
    pub allowed_origins: Vec<String>,
}

impl WebchatConfig {
    /// True when other sites embed the widget.
    pub fn cross_site(&self) -> bool {
        !self.allowed_origins.is_empty()
    }
}

impl ChannelsConfig {
    /// A provider for every configured channel (their API calls time out after `timeout`); a
    /// bad setting is an error naming it.
    pub fn providers(&self, timeout: Duration) -> Result<Vec<Arc<dyn Provider>>, String> {
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        if let Some(twilio) = &self.twilio {
            let whatsapp = self.whatsapp.is_none();
            providers.push(Arc::new(TwilioProvider::new(
                twilio.clone(),
                whatsapp,
                timeout,
            )));
        }
        if let Some(whatsapp) = &self.whatsapp {
            providers.push(Arc::new(WhatsappProvider::new(whatsapp.clone(), timeout)));
        }
        if let Some(messenger) = &self.messenger {
            providers.push(Arc::new(MessengerProvider::new(messenger.clone(), timeout)));
        }
        if let Some(telegram) = &self.telegram {
            providers.push(Arc::new(TelegramProvider::new(telegram.clone(), timeout)));
        }
        if let Some(email) = &self.email {
            providers.push(Arc::new(EmailProvider::new(email.clone(), timeout)?));
        }
        if let Some(chatwoot) = &self.chatwoot {
            providers.push(Arc::new(ChatwootProvider::new(chatwoot.clone(), timeout)));
        }
        Ok(providers)
    }

    /// The registry of every configured provider.
    pub fn registry(&self, timeout: Duration) -> Result<Registry, String> {
        Registry::new(self.providers(timeout)?)
    }
}

/// The configured providers, by webhook path and by the channel they deliver on.
#[derive(Clone, Default)]
pub struct Registry {
    by_path: BTreeMap<&'static str, Arc<dyn Provider>>,
    by_channel: BTreeMap<Channel, Arc<dyn Provider>>,
}

impl Registry {
    /// A registry of these providers. Two providers claiming one webhook path, or one channel,
    /// is a configuration error naming both.
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Result<Self, String> {
        let mut registry = Registry::default();
        for provider in providers {
            for path in provider.webhook_paths() {
                if let Some(other) = registry.by_path.insert(path, provider.clone()) {
                    return Err(format!(
                        "the {} and {} channel providers both claim /webhooks/{path}",
                        other.name(),
                        provider.name()
                    ));
                }
            }
            for channel in provider.channels() {
                if let Some(other) = registry.by_channel.insert(channel, provider.clone()) {
                    return Err(format!(
                        "the {} and {} channel providers both deliver {channel} replies",
                        other.name(),
                        provider.name()
                    ));
                }
            }
        }
        Ok(registry)
    }

    /// The provider answering `/webhooks/{path}`.
    pub fn webhook(&self, path: &str) -> Option<&Arc<dyn Provider>> {
        self.by_path.get(path)
    }

    /// The provider delivering replies on `channel`.
    pub fn sender(&self, channel: Channel) -> Option<&Arc<dyn Provider>> {
        self.by_channel.get(&channel)
    }

    /// What `channel` can carry through its provider (`None`: no provider delivers on it).
    pub fn capabilities(&self, channel: Channel) -> Option<Capabilities> {
        self.sender(channel).map(|p| p.capabilities(channel))
    }

    /// The channels some provider delivers on, in order.
    pub fn channels(&self) -> Vec<Channel> {
        self.by_channel.keys().copied().collect()
    }

    /// The webhook paths served, in order.
    pub fn webhook_paths(&self) -> Vec<&'static str> {
        self.by_path.keys().copied().collect()
    }
}
