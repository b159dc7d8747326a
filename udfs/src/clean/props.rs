//! Property tests of the cleaners: every clean form is a fixed point (`std_x(std_x(v)) =
//! std_x(v)`), and what a cleaner reads, written back in the standard form, reads the same.
//! Inputs mix the spellings the cleaners exist for (full-width forms, separators, prefixes,
//! CJK) with arbitrary text.

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;

use super::amount::{MAX_CENTS, std_amount};
use super::city::std_city;
use super::date::{DEFAULT_ZONE, parse};
use super::phone::{region, std_phone};
use super::text::{std_email, std_gender, std_text};
use crate::config::DateOrder;

/// Text drawn from the characters messy customer data is made of.
fn messy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('0', '9'),
            2 => prop::char::range('a', 'z'),
            1 => prop::char::range('A', 'Z'),
            2 => prop::sample::select(vec![
                ' ', '-', '/', '.', ',', ':', '+', '(', ')', '@', '\t', '\u{3000}', '\u{200B}',
                '年', '月', '日', '元', '万', '¥', '$', '北', '京', '市', '上', '海', '省',
            ]),
            1 => prop::char::range('\u{FF10}', '\u{FF5A}'),
            1 => any::<char>(),
        ],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn iso(days: i32) -> Option<String> {
    let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)?;
    (1000..=9999)
        .contains(&date.year())
        .then(|| date.format("%Y-%m-%d").to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn std_text_is_idempotent(v in messy()) {
        let (mut a, mut b) = (String::new(), String::new());
        let once = std_text(&v, &mut a).to_string();
        prop_assert_eq!(std_text(&once, &mut b), once.as_str());
    }

    /// The shortcuts (clean text returned as it is, ASCII and Chinese mapped without the
    /// normaliser) give what the general path gives.
    #[test]
    fn std_text_is_the_general_normaliser(v in messy()) {
        let mut general = String::new();
        super::text::collapse(super::text::nfkc(&v), &mut general);
        let mut buf = String::new();
        prop_assert_eq!(std_text(&v, &mut buf), general.as_str());
    }

    #[test]
    fn std_phone_is_idempotent(v in messy(), cn in any::<bool>()) {
        let id = region(if cn { "CN" } else { "US" }).unwrap();
        let mut buf = String::new();
        if let Ok(e164) = std_phone(&v, id, &mut buf) {
            prop_assert_eq!(std_phone(&e164, id, &mut buf), Ok(e164.clone()));
        }
    }

    #[test]
    fn std_phone_reads_every_mobile_spelling(n in 0u64..100_000_000, prefix in 0usize..4) {
        let national = format!("138{n:08}");
        let spelled = match prefix {
            0 => national.clone(),
            1 => format!("+86 {} {} {}", &national[..3], &national[3..7], &national[7..]),
            2 => format!("0086-{national}"),
            _ => national.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect(),
        };
        let mut buf = String::new();
        prop_assert_eq!(std_phone(&spelled, region("CN").unwrap(), &mut buf), Ok(format!("+86{national}")));
    }

    #[test]
    fn std_date_reads_its_own_output(v in messy(), dmy in any::<bool>()) {
        let order = if dmy { DateOrder::Dmy } else { DateOrder::Mdy };
        let mut buf = String::new();
        if let Some(days) = parse(&v, order, &mut buf).ok().and_then(|p| p.date(&DEFAULT_ZONE))
            && let Some(text) = iso(days)
        {
            let again = parse(&text, order, &mut buf).ok().and_then(|p| p.date(&DEFAULT_ZONE));
            prop_assert_eq!(again, Some(days), "{:?} -> {}", v, text);
        }
    }

    #[test]
    fn std_date_reads_every_date_in_iso_and_slashes(days in -200_000i32..200_000, dmy in any::<bool>()) {
        let Some(text) = iso(days) else { return Ok(()) };
        let order = if dmy { DateOrder::Dmy } else { DateOrder::Mdy };
        let mut buf = String::new();
        let slashed = text.replace('-', "/");
        for t in [text.as_str(), slashed.as_str()] {
            let read = parse(t, order, &mut buf).ok().and_then(|p| p.date(&DEFAULT_ZONE));
            prop_assert_eq!(read, Some(days), "{}", t);
        }
    }

    #[test]
    fn std_amount_reads_its_own_output(v in messy()) {
        if let Some(cents) = std_amount(&v) {
            let sign = if cents < 0 { "-" } else { "" };
            let plain = format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
            prop_assert_eq!(std_amount(&plain), Some(cents), "{:?} -> {}", v, plain);
        }
    }

    #[test]
    fn std_amount_reads_any_cents(cents in -MAX_CENTS..=MAX_CENTS) {
        let sign = if cents < 0 { "-" } else { "" };
        let plain = format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
        prop_assert_eq!(std_amount(&plain), Some(cents));
    }

    #[test]
    fn std_city_std_email_std_gender_are_idempotent(v in messy()) {
        let mut buf = String::new();
        if let Some(city) = std_city(&v, &mut buf) {
            prop_assert_eq!(std_city(city, &mut buf), Some(city));
        }
        let (mut once, mut twice) = (String::new(), String::new());
        if std_email(&v, &mut once) {
            prop_assert!(std_email(&once, &mut twice));
            prop_assert_eq!(&twice, &once);
        }
        if let Some(g) = std_gender(&v) {
            prop_assert_eq!(std_gender(g), Some(g));
        }
    }
}
