//! The text cleaners on any text: `std_city`, `std_text`, `std_email` and `std_gender`. Each
//! clean form is a fixed point: cleaning it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persona_udfs::clean::city::std_city;
use persona_udfs::clean::text::{std_email, std_gender, std_text};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut buf = String::new();
    if let Some(city) = std_city(&text, &mut buf) {
        assert_eq!(std_city(city, &mut buf), Some(city), "{text:?}");
    }
    let mut out = String::new();
    let clean = std_text(&text, &mut out).to_string();
    let mut out2 = String::new();
    assert_eq!(std_text(&clean, &mut out2), clean, "{text:?}");
    let mut email = String::new();
    if std_email(&text, &mut email) {
        let mut again = String::new();
        assert!(std_email(&email, &mut again), "{text:?} -> {email:?}");
        assert_eq!(again, email, "{text:?}");
    }
    if let Some(g) = std_gender(&text) {
        assert_eq!(std_gender(g), Some(g), "{text:?}");
    }
});
