//! The YAML loader: any bytes give documents or a bounded error, never a panic, an abort on
//! allocation or a stack overflow.
#![no_main]
use driftless_core::yaml::{Limits, parse_stream, yaml11_warnings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let limits = Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        };
        if let Ok(docs) = parse_stream(text, &limits) {
            let _ = yaml11_warnings(text, &docs, &limits);
        }
    }
});
