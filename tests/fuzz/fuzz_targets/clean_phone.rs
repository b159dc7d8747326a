//! `std_phone` on any text, read in China and in the US. A number it accepts is E.164 and
//! reads as itself (std_phone(std_phone(v)) = std_phone(v)).
#![no_main]

use libfuzzer_sys::fuzz_target;
use persona_udfs::clean::phone::{region, std_phone};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = region(&text);
    let mut buf = String::new();
    for name in ["CN", "US"] {
        let id = region(name).expect("a known region");
        let Ok(e164) = std_phone(&text, id, &mut buf) else {
            continue;
        };
        assert!(e164.starts_with('+'), "{text:?} -> {e164:?} is not E.164");
        let again = std_phone(&e164, id, &mut buf);
        assert_eq!(again.as_deref(), Ok(e164.as_str()), "{text:?} -> {e164:?}");
    }
});
