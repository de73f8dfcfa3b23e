//! Any text as a flow condition: it compiles or is refused, and a compiled one evaluates to a
//! value or an error against slots of every JSON kind, without a panic escaping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = frontline_flows::expr::Expr::compile(source) else {
        return;
    };
    let scope = json!({
        "order_id": "#W0000001",
        "amount": 120.5,
        "count": 3,
        "confirmed": true,
        "nothing": null,
        "items": ["a", "b"],
        "order": {"status": "pending", "total": 99, "items": [{"price": 10}]},
    });
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let _ = expr.variables();
    // `eval` contains panics of the CEL interpreter's unchecked integer arithmetic (`n % 0`)
    // and reports them as errors, which is what the service relies on. libFuzzer's panic hook
    // would abort before that containment runs, so it is set aside for the call; a panic that
    // escapes `eval` still fails the target.
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let evaluated =
        std::panic::catch_unwind(|| expr.eval(scope.as_object().unwrap(), today).is_ok());
    std::panic::set_hook(fuzzer_hook);
    if evaluated.is_err() {
        panic!("Expr::eval let a panic escape for {source:?}");
    }
});
