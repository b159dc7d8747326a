//! `sequence_match` / `sequence_count` patterns on any text, run over events drawn from the
//! same input: the first byte picks the number of conditions, the pattern runs to the first
//! NUL, and each following 3 bytes are an event (time step, condition bits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use persona_udfs::behavior::sequence::Sequence;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let conditions = usize::from(first % 32) + 1;
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let pattern = String::from_utf8_lossy(&rest[..end]);
    let events = rest.get(end + 1..).unwrap_or_default();
    let mut time = 0i64;
    let rows: Vec<(i64, u32)> = events
        .chunks_exact(3)
        .map(|e| {
            time += i64::from(e[0]) * 60;
            let bits = u32::from(u16::from_le_bytes([e[1], e[2]])) & ((1 << conditions) - 1);
            (time, bits)
        })
        .collect();
    for count in [false, true] {
        if let Ok(seq) = Sequence::new("sequence_match", &pattern, conditions, 1, count) {
            let _ = seq.matches(&rows);
            let _ = seq.count(&rows);
        }
    }
});
