//! Goal-driven simulated customers. A simulated customer has a goal (a return, a cancellation…),
//! a channel or a sequence of channels, and facts: which order (by what is in it, and by number
//! if pressed), which items, where the refund goes, the reason, a new address. It reads the
//! agent's reply *text*, never its slot names, works out what is being asked, and answers from
//! its facts the way customers do: an order by what is in it first and by number only when
//! asked a second time, yes to a proposal that is theirs and no to one that is not, the one-time
//! code typed back from their inbox. It stops when nothing more is asked, when the conversation
//! goes to a person, or when its patience runs out.
//!
//! It also keeps the score a customer keeps: questions whose answer it had already given.

use crate::case::{CustomerFixture, Simulated, Step};
use crate::run::StepRun;
use frontline_domain::{Channel, ConversationStatus};
use std::collections::BTreeSet;

/// What a reply asks of the customer, read from its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// A one-time code.
    Code,
    /// The email address on the account.
    Email,
    /// A final yes or no to an action spelled out.
    Confirmation,
    /// Whether a proposed order or subscription (these ids) is the one.
    Proposal(Vec<String>),
    /// Which order (a list to pick from, or a number).
    Order,
    /// Which subscription.
    Subscription,
    /// Which items.
    Items,
    /// Which option to exchange for.
    Option,
    /// Where the refund goes.
    Refund,
    /// Why.
    Reason,
    /// A new address.
    Address,
    /// An offer to start something ("Would you like me to help you…?").
    Offer,
    /// Something the customer cannot place.
    Other,
    /// Nothing: the agent is done, or only told something.
    Nothing,
}

impl Asked {
    /// The fact this asks for, when it is one the customer could already have given.
    fn fact(&self) -> Option<&'static str> {
        Some(match self {
            Asked::Email => "email",
            Asked::Order => "order",
            Asked::Subscription => "subscription",
            Asked::Items => "items",
            Asked::Option => "option",
            Asked::Refund => "refund",
            Asked::Reason => "reason",
            Asked::Address => "address",
            _ => return None,
        })
    }
}

/// The question in a reply: the last sentence that asks something, read for what it asks.
pub fn read(reply: &str) -> Asked {
    let lower = reply.to_lowercase();
    if lower.contains("6-digit code")
        || lower.contains("type the code")
        || lower.contains("the code has")
    {
        return Asked::Code;
    }
    if lower.contains("(yes/no)") {
        return Asked::Confirmation;
    }
    let Some(q) = last_question(&lower) else {
        return Asked::Nothing;
    };
    let ids = order_or_subscription_ids(q);
    if q.contains("anything else") {
        Asked::Nothing
    } else if q.contains("code") && !q.contains("zip code") {
        Asked::Code
    } else if q.contains("email address") || q.contains("email you ordered") {
        Asked::Email
    } else if q.contains("to confirm") {
        Asked::Confirmation
    } else if q.starts_with("is it ") && !ids.is_empty() {
        Asked::Proposal(ids)
    } else if q.contains("would you like me to") {
        Asked::Offer
    } else if q.contains("subscription") {
        Asked::Subscription
    } else if q.contains("which order") || q.contains("order number") || ids.len() > 1 {
        Asked::Order
    } else if q.contains("which item") || q.contains("which items") {
        Asked::Items
    } else if q.contains("which option") || q.contains("instead") {
        Asked::Option
    } else if q.contains("refund") {
        Asked::Refund
    } else if q.contains("why") || q.contains("reason") {
        Asked::Reason
    } else if ["address", "street", "apartment", "city", "state", "zip"]
        .iter()
        .any(|w| q.contains(w))
    {
        Asked::Address
    } else {
        Asked::Other
    }
}

/// The part of a reply from the start of its last question to its end (lists of options after
/// the question mark included), or `None` when it asks nothing.
fn last_question(reply: &str) -> Option<&str> {
    let mark = reply.rfind('?')?;
    let before = &reply[..mark];
    let start = before.rfind(['.', '!', '\n']).map(|i| i + 1).unwrap_or(0);
    // A list on lines of its own belongs to the question that introduces it.
    let start = if reply[start..mark].trim().is_empty() {
        0
    } else {
        start
    };
    Some(reply[start..].trim())
}

fn order_or_subscription_ids(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"(?i)#w\d{7}|sub-\d{4}").expect("a valid pattern");
    re.find_iter(text)
        .map(|m| m.as_str().to_uppercase())
        .collect()
}

/// The words of a fact that say something ("the", "my" and the like dropped).
fn content_words(text: &str) -> Vec<String> {
    const FILLER: &[&str] = &[
        "the", "my", "a", "an", "to", "it", "please", "one", "with", "of", "is", "i", "on", "in",
        "for", "and", "back",
    ];
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '#' && c != '-')
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(str::to_string)
        .collect()
}

/// Whether a message says this fact.
fn says(message: &str, fact: &str) -> bool {
    let words = content_words(fact);
    let said = content_words(message);
    !words.is_empty() && words.iter().all(|w| said.contains(w))
}

/// One simulated customer in one conversation.
pub struct Customer<'a> {
    goal: &'a Simulated,
    /// Who they are: the handles they write from.
    who: CustomerFixture,
    /// Messages sent so far.
    sent: usize,
    /// Facts given so far (by name: `order`, `items`, …).
    given: BTreeSet<&'static str>,
    /// How often each thing was asked.
    order_asks: usize,
    /// Whether the customer has given their order's or subscription's number.
    gave_id: bool,
    /// Questions whose answer the customer had already given, as read from the reply.
    pub repeated: Vec<String>,
    /// Questions the customer could not place or had no answer for.
    pub unanswerable: Vec<String>,
}

impl<'a> Customer<'a> {
    /// A customer about to write their first message.
    pub fn new(goal: &'a Simulated, who: CustomerFixture) -> Self {
        Customer {
            goal,
            who,
            sent: 0,
            given: BTreeSet::new(),
            order_asks: 0,
            gave_id: false,
            repeated: vec![],
            unanswerable: vec![],
        }
    }

    /// The channel of the next message: `channels[i]`, the last one once they run out.
    fn channel(&self) -> Channel {
        let channels = &self.goal.channels;
        channels
            .get(self.sent.min(channels.len().saturating_sub(1)))
            .copied()
            .unwrap_or(Channel::WebChat)
    }

    /// The facts a message gives (the opening's included).
    fn note_given(&mut self, message: &str) {
        let k = &self.goal.knows;
        let facts: [(&'static str, Option<&String>); 7] = [
            ("items", k.items.as_ref()),
            ("option", k.option.as_ref()),
            ("refund", k.refund.as_ref()),
            ("reason", k.reason.as_ref()),
            ("address", k.address.as_ref()),
            ("email", k.email.as_ref()),
            (
                "subscription",
                k.subscription.as_ref().and_then(|s| s.mention.as_ref()),
            ),
        ];
        for (name, fact) in facts {
            if fact.is_some_and(|f| says(message, f)) {
                self.given.insert(name);
            }
        }
        let ids = [k.order.as_ref(), k.subscription.as_ref()];
        if ids
            .iter()
            .flatten()
            .any(|known| message.to_uppercase().contains(&known.id))
        {
            self.gave_id = true;
        }
        if let Some(order) = &k.order {
            let by_mention = order.mention.as_ref().is_some_and(|m| says(message, m));
            if by_mention || message.to_uppercase().contains(&order.id) {
                self.given.insert("order");
            }
        }
        if let Some(sub) = &k.subscription {
            if message.to_uppercase().contains(&sub.id) {
                self.given.insert("subscription");
            }
        }
    }

    /// The next message, after reading how the last turn went; `None` when the customer is
    /// done: nothing is asked, a person has the conversation, or patience ran out.
    pub fn next(&mut self, last: Option<&StepRun>) -> Option<Step> {
        if self.sent >= self.goal.max_turns {
            return None;
        }
        let channel = self.channel();
        let (text, code_from) = match last {
            None => (self.goal.opening.clone(), None),
            Some(last) if last.status != ConversationStatus::Bot => return None,
            Some(last) => {
                let reply = last.replies.join("\n");
                let asked = read(&reply);
                if let Some(fact) = asked.fact() {
                    if self.given.contains(fact) && self.could_have_known(fact, &reply) {
                        self.repeated.push(question_of(&reply));
                    }
                }
                match self.answer(&asked, channel, &reply) {
                    Answer::Say(text) => (text, None),
                    Answer::Code(handles) => (String::new(), Some(handles)),
                    Answer::Done => return None,
                }
            }
        };
        self.note_given(&text);
        self.sent += 1;
        Some(Step {
            channel: Some(channel),
            from: self.goal.from.clone(),
            assurance: None,
            text: (!text.is_empty()).then_some(text),
            payload: None,
            code_from: code_from.map(|h| h.join(",")),
            at: None,
            commands: None,
            expect: vec![],
        })
    }

    /// Whether the agent asking for `fact` again had what it needed: any fact once given,
    /// except an order or subscription named by what is in it, which the agent had only when
    /// its number was given or exactly one of the options it lists now fits the words used
    /// and is the customer's ("the one with the kettle" among orders with one kettle between
    /// them). Several orders with a smart watch, or an order the agent cannot offer, make the
    /// question a fair one.
    fn could_have_known(&self, fact: &str, reply: &str) -> bool {
        let known = match fact {
            "order" => self.goal.knows.order.as_ref(),
            "subscription" => self.goal.knows.subscription.as_ref(),
            _ => return true,
        };
        let Some(known) = known else {
            return true;
        };
        if self.gave_id {
            return true;
        }
        let Some(mention) = &known.mention else {
            return false;
        };
        let fitting: Vec<&str> = reply
            .lines()
            .filter(|line| !order_or_subscription_ids(line).is_empty() && says(line, mention))
            .collect();
        matches!(fitting.as_slice(), [line] if line.to_uppercase().contains(&known.id))
    }

    fn answer(&mut self, asked: &Asked, channel: Channel, reply: &str) -> Answer {
        let k = &self.goal.knows;
        let fact = |f: &Option<String>| f.clone();
        let said = match asked {
            Asked::Nothing => return Answer::Done,
            Asked::Code => {
                let phone = k.phone.clone().or_else(|| self.who.phone.clone());
                let email = k.email.clone().unwrap_or_else(|| self.who.email.clone());
                let mut handles = vec![];
                let by_phone = matches!(channel, Channel::Sms | Channel::Whatsapp);
                if let (true, Some(p)) = (by_phone, &phone) {
                    handles.push(format!("phone:{p}"));
                }
                handles.push(format!("email:{email}"));
                if let (false, Some(p)) = (by_phone, phone) {
                    handles.push(format!("phone:{p}"));
                }
                return Answer::Code(handles);
            }
            Asked::Email => Some(k.email.clone().unwrap_or_else(|| self.who.email.clone())),
            Asked::Confirmation => Some(match self.goal.accepts {
                true => "yes".into(),
                false => "no, leave it as it is".into(),
            }),
            Asked::Offer => Some("yes please".into()),
            Asked::Proposal(ids) => {
                let mine = [
                    k.order.as_ref().map(|o| o.id.clone()),
                    k.subscription.as_ref().map(|s| s.id.clone()),
                ];
                if mine.iter().flatten().any(|id| ids.contains(id)) {
                    Some("yes".into())
                } else {
                    let mention = k
                        .order
                        .as_ref()
                        .and_then(|o| o.mention.clone())
                        .or_else(|| k.subscription.as_ref().and_then(|s| s.mention.clone()));
                    Some(match mention {
                        Some(m) => format!("no, it's {m}"),
                        None => "no".into(),
                    })
                }
            }
            Asked::Order => {
                self.order_asks += 1;
                k.order
                    .as_ref()
                    .map(|o| match (&o.mention, self.order_asks) {
                        (Some(mention), 1) => mention.clone(),
                        _ => o.id.clone(),
                    })
            }
            Asked::Subscription => k
                .subscription
                .as_ref()
                .map(|s| s.mention.clone().unwrap_or_else(|| s.id.clone())),
            Asked::Items => fact(&k.items),
            Asked::Option => fact(&k.option),
            Asked::Refund => fact(&k.refund),
            Asked::Reason => fact(&k.reason),
            Asked::Address => fact(&k.address),
            Asked::Other => None,
        };
        match said {
            Some(text) => Answer::Say(text),
            None => {
                self.unanswerable.push(question_of(reply));
                Answer::Say("sorry, I don't follow".into())
            }
        }
    }
}

enum Answer {
    Say(String),
    Code(Vec<String>),
    Done,
}

/// The question a reply ends with, as the customer would quote it.
fn question_of(reply: &str) -> String {
    let lower = reply.to_lowercase();
    let q = last_question(&lower).unwrap_or(&lower);
    let start = lower.len() - q.len();
    reply[start..].chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_for_what_they_ask() {
        let cases = [
            ("To keep your account safe, I've sent a 6-digit code to the email address or phone number on that account, if there is one. Please type the code here.", Asked::Code),
            ("What's the code? It has 6 digits.", Asked::Code),
            ("To look up your account, what's the email address you ordered with?", Asked::Email),
            ("To confirm: cancel order #W0000001 (reason: no longer needed)? (yes/no)", Asked::Confirmation),
            ("Is it order #W0000002: Office Chair, Yoga Mat ×2, placed 20 Oct?", Asked::Proposal(vec!["#W0000002".into()])),
            ("Which order are the items from?\n1) #W0000001: Backpack\n2) #W0000002: Lamp", Asked::Order),
            ("Which items would you like to return: Lamp, Kettle? You can also say all of them.", Asked::Items),
            ("Which option would you like instead? Available: size 10, size 11.", Asked::Option),
            ("Should the refund go to the original payment method, or to a gift card?", Asked::Refund),
            ("Sorry to see it go! May I ask why you're cancelling?", Asked::Reason),
            ("What's the new shipping address?", Asked::Address),
            ("And the ZIP code (five digits)?", Asked::Address),
            ("Which state (two letters, like CA)?", Asked::Address),
            ("Which subscription would you like to cancel?\n1) Coffee (SUB-1000)\n2) Filters (SUB-1001)", Asked::Subscription),
            ("Returns are free. Would you like me to help you return items?", Asked::Offer),
            ("Done. The return for order #W0000002 is open.", Asked::Nothing),
            ("Done. Is there anything else I can help with?", Asked::Nothing),
        ];
        for (reply, want) in cases {
            assert_eq!(read(reply), want, "{reply}");
        }
    }

    fn goal() -> Simulated {
        serde_json::from_value(serde_json::json!({
            "goal": "return",
            "channels": ["whatsapp", "email"],
            "opening": "something I bought stopped working",
            "knows": {
                "order": {"id": "#W0000002", "mention": "the one with the kettle"},
                "items": "the kettle",
                "refund": "gift card"
            }
        }))
        .unwrap()
    }

    fn replied(text: &str) -> StepRun {
        StepRun {
            text: String::new(),
            channel: Channel::WebChat,
            replies: vec![text.to_string()],
            latency_ms: 0.0,
            conversation: frontline_domain::ConversationId::new(),
            understood: vec![],
            expected: None,
            expected_exact: false,
            expected_flow: None,
            started: vec![],
            asked: None,
            status: ConversationStatus::Bot,
            events: vec![],
        }
    }

    #[test]
    fn a_customer_names_the_order_first_and_gives_its_number_when_pressed() {
        let g = goal();
        let mut c = Customer::new(&g, CustomerFixture::default());
        let first = c.next(None).unwrap();
        assert_eq!(
            first.text.as_deref(),
            Some("something I bought stopped working")
        );
        assert_eq!(first.channel, Some(Channel::Whatsapp));
        let say =
            |c: &mut Customer, reply: &str| c.next(Some(&replied(reply))).and_then(|s| s.text);
        let list =
            "Which order are the items from?\n1) #W0000001: Lamp\n2) #W0000002: Electric Kettle";
        assert_eq!(
            say(&mut c, list).as_deref(),
            Some("the one with the kettle")
        );
        // Asked again with the kettle's order listed alone: the agent had what it needed.
        assert_eq!(say(&mut c, list).as_deref(), Some("#W0000002"));
        assert_eq!(c.repeated.len(), 1, "{:?}", c.repeated);
        // The channel moves on and stays on the last one.
        assert_eq!(
            say(&mut c, "Is it order #W0000009: Desk Lamp, placed 2 Oct?").as_deref(),
            Some("no, it's the one with the kettle")
        );
        assert_eq!(
            say(&mut c, "Is it order #W0000002: Electric Kettle?").as_deref(),
            Some("yes")
        );
        assert_eq!(
            say(
                &mut c,
                "Should the refund go to the original payment method, or to a gift card?"
            )
            .as_deref(),
            Some("gift card")
        );
        let code = c.next(Some(&replied("I've sent a 6-digit code to the email address or phone number on that account. Please type it here."))).unwrap();
        assert_eq!(code.text, None);
        assert_eq!(
            code.code_from.as_deref(),
            Some("email:ada.lovelace1000@example.com,phone:+13035550100")
        );
        assert!(c
            .next(Some(&replied("Done. The return is open.")))
            .is_none());
    }

    #[test]
    fn a_question_it_cannot_place_is_noted_and_a_handoff_ends_it() {
        let g = goal();
        let mut c = Customer::new(&g, CustomerFixture::default());
        c.next(None);
        c.next(Some(&replied("What colour is your car?")));
        assert_eq!(c.unanswerable.len(), 1);
        let mut handed = replied("A colleague will reply here.");
        handed.status = ConversationStatus::HandedOff;
        assert!(c.next(Some(&handed)).is_none());
    }

    #[test]
    fn a_fact_is_said_when_its_words_are_in_the_message() {
        assert!(says("my kettle stopped working", "it stopped working"));
        assert!(says(
            "the one with the kettle please",
            "the one with the kettle"
        ));
        assert!(!says("the one with the lamp", "the one with the kettle"));
        assert!(!says("hello", "the the"));
    }
}
