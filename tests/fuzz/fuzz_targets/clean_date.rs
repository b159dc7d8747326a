//! `std_date` / `std_timestamp`'s reader on any text, in both date orders and the default zone,
//! and a zone name as `persona.timezone` takes it. A date it reads, written back in ISO form,
//! reads as the same date (std_date(std_date(v)) = std_date(v)).
#![no_main]

use chrono::{Datelike, NaiveDate};
use libfuzzer_sys::fuzz_target;
use persona_udfs::clean::date::{DEFAULT_ZONE, Zone, parse};
use persona_udfs::config::DateOrder;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Zone::parse(&text);
    let mut buf = String::new();
    for order in [DateOrder::Mdy, DateOrder::Dmy] {
        let Ok(parsed) = parse(&text, order, &mut buf) else {
            continue;
        };
        let _ = parsed.instant(&DEFAULT_ZONE);
        let Some(days) = parsed.date(&DEFAULT_ZONE) else {
            continue;
        };
        let Some(date) = NaiveDate::from_num_days_from_ce_opt(days + 719_163) else {
            continue;
        };
        if !(1000..=9999).contains(&date.year()) {
            continue;
        }
        let iso = date.format("%Y-%m-%d").to_string();
        let again = parse(&iso, order, &mut buf)
            .unwrap_or_else(|r| panic!("{text:?} read as {iso}, which does not read: {r:?}"));
        assert_eq!(again.date(&DEFAULT_ZONE), Some(days), "{text:?} -> {iso}");
    }
});
