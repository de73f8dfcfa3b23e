//! Any bytes as a flow file: the loader reports problems (at file:line:col) and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        let _ = frontline_flows::parse_flow(std::path::Path::new("fuzz.yaml"), source);
    }
});
