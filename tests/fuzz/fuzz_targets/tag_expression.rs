//! Tag expressions as `audience()` and `audience_bitmap()` read them, and tag files
//! (`sql/tags/*.sql`, their header and body) as `persona tags` reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = persona_udfs::bitmap::audience::parse(&text);
    let _ = persona::tags::parse_tag_file("sql/tags/fuzz.sql", &text);
});
