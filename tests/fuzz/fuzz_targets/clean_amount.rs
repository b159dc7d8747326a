//! `std_amount` on any text. An amount it reads, written back as plain decimal text, reads as
//! the same number of cents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persona_udfs::clean::amount::std_amount;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(cents) = std_amount(&text) else {
        return;
    };
    let sign = if cents < 0 { "-" } else { "" };
    let plain = format!(
        "{sign}{}.{:02}",
        cents.unsigned_abs() / 100,
        cents.unsigned_abs() % 100
    );
    assert_eq!(std_amount(&plain), Some(cents), "{text:?} -> {plain}");
});
