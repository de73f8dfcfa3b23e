//! Translations of the flows (`flows/locales/<locale>/`, `flows/locales/<locale>.yaml`): the
//! shipped Spanish and German are complete, every problem in a translation is reported at
//! file:line:col, a text left out is listed with the line of the default text, and the routing
//! words of every locale route in all of them.

use frontline_flows::FlowSet;
use std::path::Path;

fn repo_flows() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

/// A folder with the demo flows and `extra` (relative path, text) files over them.
fn with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_flows()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for (name, text) in extra {
        let file = dir.path().join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    dir
}

fn load(dir: &Path) -> Result<FlowSet, Vec<String>> {
    let base = dir.display().to_string();
    FlowSet::load(dir, &frontline_shop::actions::catalog()).map_err(|d| {
        d.iter()
            .map(|d| d.to_string().replace(&base, "flows"))
            .collect()
    })
}

#[test]
fn the_shipped_spanish_and_german_are_complete() {
    let flows = crate::common::demo_flows();
    assert_eq!(flows.locales(), ["en", "de", "es"]);
    assert!(
        flows.missing_translations().is_empty(),
        "{:#?}",
        flows.missing_translations()
    );
    let es = flows.in_locale("es").unwrap();
    assert_eq!(
        es.get("order_status").unwrap().spec.description,
        "Consultar dónde está un pedido."
    );
    assert_eq!(
        es.wording().say("thanks", &[]),
        "¡De nada! ¿Puedo ayudarle en algo más?"
    );
    // Routing words of every locale are the flow's in all of them; the translated examples
    // are kept apart, for the router of conversations in another language.
    let default = flows.get("order_status").unwrap();
    assert!(default
        .spec
        .examples
        .iter()
        .any(|e| e == "where is my order"));
    for example in ["¿dónde está mi pedido?", "wo ist meine Bestellung?"] {
        assert!(
            default
                .spec
                .translated_examples
                .iter()
                .any(|e| e == example),
            "{example}"
        );
        assert!(
            !default.spec.examples.iter().any(|e| e == example),
            "{example}"
        );
    }
    assert!(default.spec.keywords.iter().any(|k| k == "dónde está"));
    assert!(
        flows.get("return_items").unwrap().spec.slots["refund_to"].values["gift card"]
            .iter()
            .any(|s| s == "tarjeta regalo")
    );
}

#[test]
fn a_text_left_out_is_listed_at_the_default_texts_line() {
    let dir = with(&[(
        "locales/fr/order_status.yaml",
        "description: \"Savoir où en est une commande.\"\nresponses:\n  pending: \"La commande {order_id} est en préparation.\"\n",
    )]);
    let flows = load(dir.path()).unwrap();
    assert_eq!(flows.locales(), ["en", "fr"]);
    let base = dir.path().display().to_string();
    let missing: Vec<String> = flows
        .missing_translations()
        .iter()
        .map(|d| d.to_string().replace(&base, "flows"))
        .collect();
    // The flow's other texts, at their lines in the English file.
    assert!(
        missing.iter().any(|m| m.starts_with("flows/order_status.yaml:")
            && m.contains("fr: no translation of `responses.delivered` in flows/locales/fr/order_status.yaml")),
        "{missing:#?}"
    );
    assert!(
        !missing.iter().any(|m| m.contains("`responses.pending`")),
        "{missing:#?}"
    );
    // Every other flow, and every wording key (no fr.yaml).
    assert!(missing.iter().any(
        |m| m.contains("fr: no translation of `description` in flows/locales/fr/cancel_order.yaml")
    ));
    assert!(missing
        .iter()
        .any(|m| m.contains("fr: no translation of wording key `greeting`")));
    // What is translated is said; the rest in English.
    let fr = flows.in_locale("fr").unwrap();
    assert_eq!(
        fr.get("order_status").unwrap().spec.responses["pending"],
        "La commande {order_id} est en préparation."
    );
    assert_eq!(fr.wording().say("greeting", &[]), "Hi! How can I help?");
}

#[test]
fn a_wrong_key_in_a_translation_is_refused_at_its_line() {
    let dir = with(&[(
        "locales/fr/order_status.yaml",
        "description: \"Savoir où en est une commande.\"\nresponses:\n  pendng: \"En préparation.\"\nslots:\n  order_id:\n    promt: \"Quelle commande ?\"\n",
    )]);
    let errors = load(dir.path()).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("flows/locales/fr/order_status.yaml:3:")
                && e.contains("`responses.pendng` is not one of flow `order_status`'s texts")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("flows/locales/fr/order_status.yaml:6:")
                && e.contains("`slots.order_id.promt`")),
        "{errors:#?}"
    );
}

#[test]
fn a_translation_of_no_flow_and_a_broken_placeholder_are_refused() {
    let dir = with(&[
        ("locales/fr/order_satus.yaml", "description: \"x\"\n"),
        (
            "locales/fr/cancel_order.yaml",
            "responses:\n  done: \"Fait : {order_idd} est annulée.\"\n",
        ),
    ]);
    let errors = load(dir.path()).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("flows/locales/fr/order_satus.yaml:1:1")
                && e.contains("there is no flow `order_satus` to translate")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("fr: ") && e.contains("order_idd")),
        "{errors:#?}"
    );
}
