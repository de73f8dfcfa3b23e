//! Any bytes as the body of every provider webhook frontline parses (Twilio's and Mailgun's
//! forms, WhatsApp Cloud API, Postmark and Chatwoot JSON): each parser accepts or refuses with
//! a reason, and never panics. The first byte picks the parser, so one corpus covers them all.
#![no_main]

use frontline_channels::email::EmailIdentity;
use frontline_channels::{chatwoot, email, parse_form, twilio, whatsapp};
use frontline_domain::NormalizeOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let opts = NormalizeOptions::default();
    let now = chrono::DateTime::from_timestamp(1_764_500_000, 0).unwrap();
    let us = EmailIdentity {
        address: "support@shop.example".into(),
        display_name: "Shop".into(),
        reply_domain: "shop.example".into(),
    };
    match which % 5 {
        0 => {
            if let Ok(form) = parse_form(body) {
                let _ = twilio::parse(&form, &opts, now);
            }
        }
        1 => {
            let _ = whatsapp::parse(body, &opts);
        }
        2 => {
            let _ = email::parse_postmark(body, &us, &opts, now);
        }
        3 => {
            if let Ok(form) = parse_form(body) {
                let _ = email::parse_mailgun(&form, &us, &opts, now);
            }
        }
        _ => {
            let _ = chatwoot::parse(body, &opts, now);
        }
    }
});
