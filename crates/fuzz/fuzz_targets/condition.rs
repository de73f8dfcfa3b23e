//! Any text as a flow condition: it compiles or is refused, and a compiled one evaluates to a
//! value or an error against slots of every JSON kind, without panicking.
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
    let _ = expr.eval(scope.as_object().unwrap(), today);
});
