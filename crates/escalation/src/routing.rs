//! Routing: which queue, team and assignee a handoff should reach, and how urgently.
//!
//! Rules are tried in order; the first whose conditions all hold names the queue, team,
//! assignee and priority (each optional: what a rule leaves unset keeps the default). A flow's
//! `escalate` step that names a queue wins over the rules' queue.

use frontline_domain::{Channel, EscalationTrigger, Priority, RoutingHint};
use serde::{Deserialize, Serialize};

/// When a rule applies: every condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteWhen {
    /// The customer is (or is not) a VIP.
    pub vip: Option<bool>,
    /// The trigger is one of these.
    pub triggers: Vec<EscalationTrigger>,
    /// The flow handed over is one of these.
    pub flows: Vec<String>,
    /// The tier is one of these.
    pub tiers: Vec<String>,
    /// The customer's language is one of these (prefix match: `es` matches `es-MX`).
    pub locales: Vec<String>,
    /// The customer is on one of these channels.
    pub channels: Vec<Channel>,
    /// The customer's latest sentiment is at or below this.
    pub sentiment_below: Option<f32>,
}

/// One routing rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Its name (reported with the handoff).
    pub name: String,
    /// When it applies.
    #[serde(default)]
    pub when: RouteWhen,
    /// Queue (inbox, group) to send to.
    #[serde(default)]
    pub queue: Option<String>,
    /// Team.
    #[serde(default)]
    pub team: Option<String>,
    /// A named assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Priority.
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// The routing configuration (`[escalation.routing]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    /// The queue when no rule and no flow names one.
    pub default_queue: String,
    /// The rules, tried in order.
    pub rules: Vec<RoutingRule>,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            default_queue: "support".into(),
            rules: vec![],
        }
    }
}

/// What routing looks at.
#[derive(Clone, Debug)]
pub struct RouteFacts<'a> {
    /// The customer is a VIP.
    pub vip: bool,
    /// Why the handoff.
    pub trigger: EscalationTrigger,
    /// The flow handed over, if any.
    pub flow: Option<&'a str>,
    /// The queue that flow's `escalate` step named, if it named one.
    pub flow_queue: Option<&'a str>,
    /// The tier, if known.
    pub tier: Option<&'a str>,
    /// The customer's language, if known.
    pub locale: Option<&'a str>,
    /// The customer's channel now.
    pub channel: Channel,
    /// The customer's latest sentiment.
    pub sentiment: f32,
}

impl RouteWhen {
    fn holds(&self, f: &RouteFacts<'_>) -> bool {
        let any = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
        };
        self.vip.is_none_or(|v| v == f.vip)
            && (self.triggers.is_empty() || self.triggers.contains(&f.trigger))
            && any(&self.flows, f.flow)
            && any(&self.tiers, f.tier)
            && (self.locales.is_empty()
                || f.locale.is_some_and(|l| {
                    let l = l.to_ascii_lowercase();
                    self.locales.iter().any(|p| {
                        l == p.to_ascii_lowercase()
                            || l.starts_with(&format!("{}-", p.to_ascii_lowercase()))
                    })
                }))
            && (self.channels.is_empty() || self.channels.contains(&f.channel))
            && self.sentiment_below.is_none_or(|t| f.sentiment <= t)
    }
}

impl Routing {
    /// The routing hint for a handoff. Without a rule's priority: urgent for an upset VIP, high
    /// for a VIP or an upset customer, normal otherwise.
    pub fn route(&self, f: &RouteFacts<'_>) -> RoutingHint {
        let upset = f.trigger == EscalationTrigger::NegativeSentiment;
        let default_priority = match (f.vip, upset) {
            (true, true) => Priority::Urgent,
            (true, false) | (false, true) => Priority::High,
            (false, false) => Priority::Normal,
        };
        let rule = self.rules.iter().find(|r| r.when.holds(f));
        let mut skills: Vec<String> = f.flow.map(str::to_string).into_iter().collect();
        if let Some(locale) = f.locale {
            skills.push(format!("lang:{locale}"));
        }
        RoutingHint {
            queue: Some(
                f.flow_queue
                    .map(str::to_string)
                    .or_else(|| rule.and_then(|r| r.queue.clone()))
                    .unwrap_or_else(|| self.default_queue.clone()),
            ),
            team: rule.and_then(|r| r.team.clone()),
            assignee: rule.and_then(|r| r.assignee.clone()),
            skills,
            priority: rule.and_then(|r| r.priority).unwrap_or(default_priority),
            rule: rule.map(|r| r.name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RouteFacts<'static> {
        RouteFacts {
            vip: false,
            trigger: EscalationTrigger::ExplicitRequest,
            flow: Some("return_items"),
            flow_queue: None,
            tier: Some("transactional"),
            locale: Some("es-MX"),
            channel: Channel::Email,
            sentiment: 0.0,
        }
    }

    fn routing() -> Routing {
        Routing {
            default_queue: "support".into(),
            rules: vec![
                RoutingRule {
                    name: "vip".into(),
                    when: RouteWhen {
                        vip: Some(true),
                        ..Default::default()
                    },
                    queue: Some("vip".into()),
                    team: Some("concierge".into()),
                    assignee: None,
                    priority: None,
                },
                RoutingRule {
                    name: "spanish".into(),
                    when: RouteWhen {
                        locales: vec!["es".into()],
                        ..Default::default()
                    },
                    queue: None,
                    team: Some("latam".into()),
                    assignee: Some("maria".into()),
                    priority: Some(Priority::Low),
                },
            ],
        }
    }

    #[test]
    fn first_matching_rule_wins_and_unset_fields_keep_defaults() {
        let r = routing().route(&facts());
        assert_eq!(r.rule.as_deref(), Some("spanish"));
        assert_eq!(r.queue.as_deref(), Some("support"));
        assert_eq!(r.team.as_deref(), Some("latam"));
        assert_eq!(r.assignee.as_deref(), Some("maria"));
        assert_eq!(r.priority, Priority::Low);
        assert_eq!(r.skills, ["return_items", "lang:es-MX"]);

        let vip = routing().route(&RouteFacts {
            vip: true,
            trigger: EscalationTrigger::NegativeSentiment,
            ..facts()
        });
        assert_eq!(vip.rule.as_deref(), Some("vip"));
        assert_eq!(vip.queue.as_deref(), Some("vip"));
        assert_eq!(vip.priority, Priority::Urgent, "an upset VIP is urgent");
    }

    #[test]
    fn a_flow_named_queue_wins_and_no_rule_means_defaults() {
        let r = Routing::default().route(&RouteFacts {
            flow_queue: Some("returns"),
            trigger: EscalationTrigger::NegativeSentiment,
            locale: Some("en"),
            ..facts()
        });
        assert_eq!(r.queue.as_deref(), Some("returns"));
        assert_eq!(r.rule, None);
        assert_eq!(r.priority, Priority::High);
        // `es` does not match `en`, nor `esp`.
        let when = RouteWhen {
            locales: vec!["es".into()],
            ..Default::default()
        };
        assert!(!when.holds(&RouteFacts {
            locale: Some("esp"),
            ..facts()
        }));
    }
}
