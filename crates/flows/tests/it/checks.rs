//! Every semantic check, each on a small broken flow, reported at file:line:col.

use frontline_flows::FlowSet;
use std::path::Path;

/// Build flows from (file name, text) pairs against the demo shop's catalog.
fn check(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let base = dir.path().display().to_string();
    match FlowSet::load(dir.path(), &frontline_shop::actions::catalog()) {
        Ok(_) => vec![],
        Err(d) => d
            .iter()
            .map(|d| d.to_string().replace(&base, "flows"))
            .collect(),
    }
}

const HEAD: &str = "description: Test.\ntier: transactional\nslots:\n  order_id:\n    type: string\n    prompt: Which order?\nresponses:\n  ok: Done.\n";

fn flow(id: &str, steps: &str) -> (String, String) {
    (
        format!("{id}.yaml"),
        format!("id: {id}\n{HEAD}steps:\n{steps}"),
    )
}

fn one(id: &str, steps: &str) -> Vec<String> {
    let (name, text) = flow(id, steps);
    check(&[(&name, &text)])
}

#[test]
fn a_write_without_a_confirmation_on_every_path_is_refused() {
    // (Each flow proves the owner first: that check has its own test.)
    let e = one("f", "  - verify: order_id\n  - collect: order_id\n  - action: cancel_pending_order\n    args:\n      order_id: \"{order_id}\"\n      reason: no longer needed\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "flows/f.yaml:13:5: this write action can run without the customer confirming it first"
        ),
        "{e:?}"
    );

    // Confirmed on one branch only: still refused.
    let e = one("f", "  - verify: order_id\n  - if: order_id == \"x\"\n    then:\n      - confirm: ok\n  - action: cancel_pending_order\n    args:\n      order_id: \"{order_id}\"\n      reason: x\n");
    assert!(
        e.iter()
            .any(|e| e.contains("flows/f.yaml:15:5: this write action")),
        "{e:?}"
    );

    // A collect between the confirmation and the write voids it.
    let e = one("f", "  - verify: order_id\n  - confirm: ok\n  - collect: order_id\n  - action: cancel_pending_order\n    args:\n      order_id: \"{order_id}\"\n      reason: x\n");
    assert!(e.iter().any(|e| e.contains("this write action")), "{e:?}");

    // Confirmed right before: fine.
    let e = one("f", "  - verify: order_id\n  - collect: order_id\n  - confirm: ok\n  - action: cancel_pending_order\n    args:\n      order_id: \"{order_id}\"\n      reason: x\n");
    assert!(e.is_empty(), "{e:?}");
}

const READ_ORDER: &str =
    "  - action: get_order_details\n    args:\n      order_id: \"{order_id}\"\n    result: order\n";

#[test]
fn an_account_action_before_the_owner_is_verified_is_refused() {
    let unverified = "this action changes or discloses a customer's account, and can run before the customer is verified";
    // A look-up of an order (personal data) with no `verify` before it.
    let e = one("f", &format!("  - collect: order_id\n{READ_ORDER}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("flows/f.yaml:12:5: {unverified}")),
        "{e:?}"
    );

    // Verified on one branch only.
    let e = one(
        "f",
        &format!("  - if: order_id == \"x\"\n    then:\n      - verify: order_id\n{READ_ORDER}"),
    );
    assert!(e.iter().any(|e| e.contains(unverified)), "{e:?}");

    // A look-up that discloses nothing (finding a user id) needs no verified owner.
    let e = one(
        "f",
        "  - action: find_user_id_by_email\n    args:\n      email: a@b.c\n    result: user\n",
    );
    assert!(e.is_empty(), "{e:?}");

    // A called flow that verifies whenever it returns counts, like `authenticate`.
    let (auth, auth_text) = flow("auth", "  - verify: order_id\n");
    let (f, f_text) = flow("f", &format!("  - call: auth\n{READ_ORDER}"));
    assert!(check(&[(&auth, &auth_text), (&f, &f_text)]).is_empty());

    // One that can return without verifying does not.
    let (auth, auth_text) = flow(
        "auth",
        "  - if: order_id == \"x\"\n    then:\n      - end: resolved\n  - verify: order_id\n",
    );
    let e = check(&[(&auth, &auth_text), (&f, &f_text)]);
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/f.yaml:") && e.contains(unverified)),
        "{e:?}"
    );

    // `verification_code` is reserved for `verify` steps.
    let text = "id: g\ndescription: x\ntier: complex\nslots:\n  verification_code:\n    type: string\n    prompt: Code?\nsteps:\n  - collect: verification_code\n";
    let e = check(&[("g.yaml", text)]);
    assert!(
        e.iter()
            .any(|e| e.contains("`verification_code` is reserved for verify steps")),
        "{e:?}"
    );
}

#[test]
fn unknown_references_are_named_with_what_exists() {
    let e = one("f", "  - collect: orderid\n  - respond: okay\n  - action: refund_everything\n  - call: nowhere\n");
    assert_eq!(
        e,
        [
            "flows/f.yaml:11:14: unknown slot `orderid` (slots: order_id) (at /steps/0/collect)",
            "flows/f.yaml:12:14: unknown response `okay` (responses: ok) (at /steps/1/respond)",
            format!("flows/f.yaml:13:13: unknown action `refund_everything` (the backend offers: {}) (at /steps/2/action)", frontline_shop::actions::catalog().iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")).as_str(),
            "flows/f.yaml:14:11: unknown flow `nowhere` (at /steps/3/call)",
        ]
    );
}

#[test]
fn action_arguments_are_checked_against_the_catalog() {
    let e = one(
        "f",
        "  - action: get_order_details\n    args:\n      order: \"{order_id}\"\n",
    );
    assert!(e.contains(&"flows/f.yaml:12:5: `get_order_details` requires the argument `order_id` (at /steps/0/args)".to_string()), "{e:?}");
    assert!(e.contains(&"flows/f.yaml:13:14: `order` is not an argument of `get_order_details` (arguments: order_id) (at /steps/0/args/order)".to_string()), "{e:?}");
}

#[test]
fn conditions_and_templates_must_parse_and_use_known_names() {
    let e = one("f", "  - if: order_id ==\n    then:\n      - respond: ok\n  - if: ordr.status == \"x\"\n    then:\n      - end: failed\n  - set:\n      order_id: '\"{\"'\n");
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/f.yaml:11:9:") && e.contains("does not parse")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/f.yaml:14:9:") && e.contains("uses `ordr`")),
        "{e:?}"
    );

    let (name, text) = ("g.yaml", "id: g\ndescription: x\ntier: complex\nresponses:\n  r: Your {missing} and {error.reason}\nsteps:\n  - respond: r\n");
    let e = check(&[(name, text)]);
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/g.yaml:5:6:") && e.contains("uses `missing`")),
        "{e:?}"
    );
}

#[test]
fn unreachable_steps_duplicate_ids_and_self_calls() {
    let e = one("f", "  - end: resolved\n  - respond: ok\n  - id: a\n    respond: ok\n  - id: a\n    respond: ok\n  - call: f\n");
    assert!(e.contains(&"flows/f.yaml:12:5: this step can never run: the step before it always ends, links or escalates (at /steps/1)".to_string()), "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/f.yaml:15:9: step id `a` is used twice")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("a flow cannot call or link itself")),
        "{e:?}"
    );
}

#[test]
fn call_loops_that_never_ask_anything_are_found() {
    let (a, at) = flow("a", "  - call: b\n");
    let (b, bt) = flow("b", "  - link: a\n");
    let e = check(&[(&a, &at), (&b, &bt)]);
    assert!(
        e.iter()
            .any(|e| e
                .contains("flows a → b → a form a loop in which nothing is asked of the customer")),
        "{e:?}"
    );
    // With a question in the loop it is a legitimate menu.
    let (b, bt) = flow("b", "  - collect: order_id\n  - link: a\n");
    assert!(check(&[(&a, &at), (&b, &bt)]).is_empty());
}

#[test]
fn slot_definitions_are_checked() {
    let text = "id: f\ndescription: x\ntier: complex\nslots:\n  code:\n    type: pattern\n    pattern: '[a-'\n    prompt: Code?\n  confirmation:\n    type: bool\n    prompt: Sure?\nsteps:\n  - collect: code\n";
    let e = check(&[("f.yaml", text)]);
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/f.yaml:7:14: invalid regular expression")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| e.contains("`confirmation` is reserved")),
        "{e:?}"
    );
}

#[test]
fn two_files_with_one_id_and_every_file_reported() {
    let (a, at) = flow("a", "  - respond: ok\n");
    let e = check(&[
        (&a, &at),
        ("b.yaml", "id: b\nsteps: [\n"),
        (
            "c.yaml",
            "id: c\ndescription: x\ntier: nope\nsteps:\n  - end: resolved\n",
        ),
    ]);
    assert!(
        e.iter()
            .any(|e| e.starts_with("flows/b.yaml:") && e.contains("YAML syntax")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| e.starts_with("flows/c.yaml:3:7:")),
        "{e:?}"
    );
    let _ = Path::new(".");
}

#[test]
fn records_that_cannot_be_offered_need_their_response_and_it_may_name_them() {
    let with = |candidates: &str, responses: &str| {
        let text = format!(
            "id: f\ndescription: Test.\ntier: transactional\nslots:\n  order_id:\n    type: string\n    prompt: Which order?\n    candidates:\n      from: '[{{\"value\": \"a\", \"label\": \"A\"}}]'\n{candidates}responses:\n  ok: Done.\n{responses}steps:\n  - collect: order_id\n"
        );
        check(&[("f.yaml", &text)])
    };
    // `others` without the response said about them, and the reverse: each named at its line.
    let e = with("      others: '[]'\n", "");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("flows/f.yaml:10:"), "{e:?}");
    assert!(e[0].contains("`others` needs `unfit`"), "{e:?}");
    let e = with("      unfit: gone\n", "  gone: \"{named} cannot.\"\n");
    assert!(
        e.iter().any(|e| e.contains("`unfit` needs `others`")),
        "{e:?}"
    );
    // A response that is not there.
    let e = with("      others: '[]'\n      unfit: gone\n", "");
    assert!(e.iter().any(|e| e.contains("no response `gone`")), "{e:?}");
    // Both, with the response naming the record: fine; `{named}` elsewhere is unknown.
    assert_eq!(
        with(
            "      others: '[]'\n      unfit: gone\n",
            "  gone: \"Order {named} cannot be offered.\"\n"
        ),
        Vec::<String>::new()
    );
    let e = with("", "  other: \"Order {named}.\"\n");
    assert!(e.iter().any(|e| e.contains("named")), "{e:?}");
}
