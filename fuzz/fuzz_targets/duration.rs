//! Go durations: an accepted one is within the maximum, so `now + d` never overflows.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(d) = driftless_core::app::duration(text)
    {
        let _ = std::time::Instant::now() + d;
        assert!(d <= driftless_core::app::MAX_DURATION);
    }
});
