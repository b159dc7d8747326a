//! Bitmap values as every bitmap function reads them (`bitmap_count`, `bitmap_and`, …): any
//! bytes either decode or give an error, and a bitmap that decodes encodes back to a bitmap
//! with the same members.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persona_udfs::bitmap::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(bitmap) = decode("bitmap_count", data) {
        let again = decode("bitmap_count", &encode(&bitmap)).expect("an encoded bitmap decodes");
        assert_eq!(again, bitmap);
    }
});
