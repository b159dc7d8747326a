//! Phone numbers to E.164 (`+8613812345678`) with the `phonenumber` crate (libphonenumber's
//! metadata), after normalising the ways people type them: full-width digits, `0086` and
//! `(+86)` prefixes, spaces, dashes, dots, slashes and brackets.
//!
//! Chinese mobile numbers, most of any customer table, skip the full parser: 11 digits
//! starting with a prefix that libphonenumber's CN mobile pattern accepts whatever follows
//! ([`mobile_fast_path`]) are valid as they are. A unit test checks this against the parser
//! for every prefix from 130 to 199. Chinese landlines written with their area code
//! (`010-12345678`) are checked against libphonenumber's CN fixed-line pattern, compiled once
//! ([`landline_fast_path`]): the crate's parser keeps its regular expressions in a shared cache
//! of 100 that CN's formats overflow, so every number it parses recompiles some of them.

use std::sync::LazyLock;

use phonenumber::country::Id;
use phonenumber::{Mode, ParseError};

/// Why a phone number is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Empty,
    NotPhone,
    TooShort,
    TooLong,
    InvalidCountryCode,
    Invalid(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Empty => f.write_str("empty"),
            Reason::NotPhone => f.write_str("not a phone number"),
            Reason::TooShort => f.write_str("too short"),
            Reason::TooLong => f.write_str("too long"),
            Reason::InvalidCountryCode => f.write_str("invalid country code"),
            Reason::Invalid(region) => write!(f, "not a valid number for {region}"),
        }
    }
}

/// The longest run of digits read: E.164 numbers have at most 15 digits, and a few more
/// leave room for a `0086` prefix and an extension-free national prefix.
const MAX_DIGITS: usize = 20;

/// The region a `persona.region` or argument names (`CN`, `us`), if libphonenumber knows it.
pub fn region(text: &str) -> Option<Id> {
    text.trim().to_ascii_uppercase().parse().ok()
}

/// `+` (when the number was written with a country code) and the digits of `text` into
/// `out`, or why there are none.
fn normalise(text: &str, out: &mut String) -> Result<(), Reason> {
    out.clear();
    let t = text.trim();
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    let mut digits = 0;
    if t.is_ascii() {
        // Most spellings: bytes, without decoding characters or folding widths.
        for &b in t.as_bytes() {
            match b {
                b'0'..=b'9' => {
                    digits += 1;
                    if digits > MAX_DIGITS {
                        return Err(Reason::TooLong);
                    }
                    out.push(char::from(b));
                }
                b'+' if out.is_empty() => out.push('+'),
                b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t' => {}
                _ => return Err(Reason::NotPhone),
            }
        }
    } else {
        for c in t.chars() {
            let c = crate::text::fold_width(c);
            match c {
                '0'..='9' => {
                    digits += 1;
                    if digits > MAX_DIGITS {
                        return Err(Reason::TooLong);
                    }
                    out.push(c);
                }
                '+' if out.is_empty() => out.push('+'),
                ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{2010}'..='\u{2015}' | '\u{a0}' => {}
                _ => return Err(Reason::NotPhone),
            }
        }
    }
    if digits == 0 {
        return Err(Reason::NotPhone);
    }
    // 0086 13812345678 → +8613812345678.
    if out.starts_with("0086") {
        out.replace_range(..4, "+86");
    } else if out.len() == 13 && out.starts_with("861") {
        // (86) 13812345678: the country code of a mobile number without its plus.
        out.insert(0, '+');
    }
    Ok(())
}

/// Whether 11 digits are a Chinese mobile number by their prefix alone: `Some(true)` when
/// libphonenumber's CN mobile pattern (`1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}`)
/// accepts every number with this prefix, `None` when only the full parser can tell.
pub fn mobile_fast_path(national: &[u8]) -> Option<bool> {
    if national.len() != 11 || national[0] != b'1' || !national.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ok = matches!(
        (national[1], national[2]),
        (b'3' | b'8', _)
            | (b'4', b'5' | b'7')
            | (b'5' | b'9', b'0'..=b'3' | b'5'..=b'9')
            | (b'6', b'2' | b'5'..=b'7')
            | (b'7', b'0'..=b'3' | b'5'..=b'8')
    );
    ok.then_some(true)
}

/// libphonenumber's CN fixed-line descriptor: its pattern, compiled once and never changed,
/// and the lengths it allows.
static CN_FIXED_LINE: LazyLock<Option<(regex::Regex, Vec<u16>)>> = LazyLock::new(|| {
    let cn = phonenumber::metadata::DATABASE.by_id("CN")?;
    let fixed = cn.descriptors().fixed_line()?;
    // Anchored at the first digit: `is_match` then stops at the first accepting state
    // instead of looking for the leftmost match anywhere in the number.
    let re = regex::RegexBuilder::new(&format!("^(?:{})", fixed.national_number().as_str()))
        .ignore_whitespace(true)
        .build()
        .ok()?;
    Some((re, fixed.possible_length().to_vec()))
});

/// Whether a Chinese national number (area code without its 0, then the subscriber number)
/// is a fixed line as libphonenumber's descriptor decides it (a match from the first digit,
/// of a possible length). `false` leaves the number to the full parser.
pub fn landline_fast_path(national: &str) -> bool {
    let Some((re, lengths)) = CN_FIXED_LINE.as_ref() else {
        return false;
    };
    national.bytes().all(|c| c.is_ascii_digit())
        && !national.starts_with('0')
        && lengths.contains(&(national.len() as u16))
        && re.is_match(national)
}

/// The E.164 form of a phone number read in `region`, or why it is not valid.
pub fn std_phone(text: &str, region: Id, buf: &mut String) -> Result<String, Reason> {
    let mut e164 = String::with_capacity(16);
    std_phone_into(text, region, buf, &mut e164)?;
    Ok(e164)
}

/// [`std_phone`] writing the E.164 form into `out` (cleared first), so a column reuses one
/// buffer instead of allocating a string per value.
pub fn std_phone_into(
    text: &str,
    region: Id,
    buf: &mut String,
    out: &mut String,
) -> Result<(), Reason> {
    out.clear();
    normalise(text, buf)?;
    let national: &[u8] = match buf.strip_prefix("+86") {
        Some(rest) => rest.as_bytes(),
        None if region == Id::CN && !buf.starts_with('+') => buf.as_bytes(),
        None => b"",
    };
    if mobile_fast_path(national) == Some(true) {
        out.push_str("+86");
        out.push_str(std::str::from_utf8(national).unwrap_or_default());
        return Ok(());
    }
    let landline = match buf.strip_prefix("+86") {
        Some(rest) => Some(rest),
        None if region == Id::CN => buf.strip_prefix('0'),
        None => None,
    };
    if let Some(national) = landline
        && landline_fast_path(national)
    {
        out.push_str("+86");
        out.push_str(national);
        return Ok(());
    }
    if !buf.starts_with('+') && too_short(buf.len(), region) {
        return Err(Reason::TooShort);
    }
    out.push_str(&full_parse(buf, region)?);
    Ok(())
}

/// Whether `digits` digits are fewer than any number of the region has: a valid number matches
/// one of the region's number types, each of which lists the lengths it allows, so below the
/// shortest of them the parser need not look. (No bound when a type lists no lengths.)
fn too_short(digits: usize, region: Id) -> bool {
    let Some(meta) = phonenumber::metadata::DATABASE.by_id(region.as_ref()) else {
        return false;
    };
    let d = meta.descriptors();
    let types = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut min = u16::MAX;
    for t in types.into_iter().flatten() {
        match t.possible_length().first() {
            Some(&n) => min = min.min(n),
            None => return false,
        }
    }
    digits < usize::from(min)
}

fn full_parse(number: &str, region: Id) -> Result<String, Reason> {
    // The parser is not known to panic, but it is a large body of regular expressions over
    // untrusted text: a panic becomes "not a phone number" instead of failing the query.
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(Some(region), number))
        .map_err(|_| Reason::NotPhone)?;
    let n = parsed.map_err(|e| match e {
        ParseError::NoNumber => Reason::NotPhone,
        ParseError::InvalidCountryCode => Reason::InvalidCountryCode,
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => Reason::TooShort,
        ParseError::TooLong => Reason::TooLong,
        _ => Reason::NotPhone,
    })?;
    if !phonenumber::is_valid(&n) {
        let digits = number.trim_start_matches('+').len();
        if digits < 7 {
            return Err(Reason::TooShort);
        }
        return Err(Reason::Invalid(if number.starts_with('+') {
            format!("country code +{}", n.code().value())
        } else {
            format!("region {}", region.as_ref())
        }));
    }
    let e164 = n.format().mode(Mode::E164).to_string();
    // The E.164 form must read back as itself, so that cleaning a clean number changes
    // nothing. The parser accepts a few spellings whose E.164 form it then refuses (found by
    // the clean_phone fuzz target: "+88 112153 1191-24(4530" gave "+8811191244530", which
    // reads as an invalid +881 number); those are invalid here too.
    let again = std::panic::catch_unwind(|| phonenumber::parse(Some(region), &e164)).ok();
    match again {
        Some(Ok(m))
            if phonenumber::is_valid(&m) && m.format().mode(Mode::E164).to_string() == e164 =>
        {
            Ok(e164)
        }
        _ => Err(Reason::Invalid(format!(
            "country code +{}",
            n.code().value()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cn(text: &str) -> Result<String, Reason> {
        std_phone(text, Id::CN, &mut String::new())
    }

    #[test]
    fn a_number_whose_e164_form_does_not_read_back_is_invalid_fuzz_crash_6195928a() {
        let text = "+88 112153 1191-24(4530";
        let once = cn(text);
        assert!(matches!(once, Err(Reason::Invalid(_))), "{once:?}");
    }

    #[test]
    fn clean_phones_in_every_spelling() {
        for text in [
            "13812345678",
            "138-1234-5678",
            "138 1234 5678",
            "138.1234.5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "0086 13812345678",
            "(+86) 138-1234-5678",
            "(86) 13812345678",
            "１３８１２３４５６７８",
            "＋８６　１３８　１２３４　５６７８",
        ] {
            assert_eq!(cn(text).as_deref(), Ok("+8613812345678"), "{text}");
        }
        assert_eq!(cn("010-12345678").as_deref(), Ok("+861012345678"));
        assert_eq!(cn("021 6123 4567").as_deref(), Ok("+862161234567"));
        assert_eq!(cn("0755-8888 6666").as_deref(), Ok("+8675588886666"));
        assert_eq!(cn("+1 415 555 2671").as_deref(), Ok("+14155552671"));
        assert_eq!(
            std_phone("(415) 555-2671", region("us").unwrap(), &mut String::new()).as_deref(),
            Ok("+14155552671")
        );
    }

    #[test]
    fn clean_bad_phones_say_why() {
        let why = |t: &str| cn(t).unwrap_err().to_string();
        assert_eq!(why(""), "empty");
        assert_eq!(why("  "), "empty");
        assert_eq!(why("abc"), "not a phone number");
        assert_eq!(why("138-1234-567x"), "not a phone number");
        assert_eq!(why("12"), "too short");
        assert_eq!(why("12345"), "too short");
        assert_eq!(why("12012345678"), "not a valid number for region CN");
        assert_eq!(why(&"1".repeat(100)), "too long");
        assert_eq!(why("😀"), "not a phone number");
        assert_eq!(why("---"), "not a phone number");
        // Numbers too short for the region are refused before the parser: it agrees.
        for region in [Id::CN, Id::US, Id::GB, Id::DE] {
            for n in 1..=12 {
                let digits: String = "9876543210123".chars().take(n).collect();
                if too_short(n, region) {
                    let valid = phonenumber::parse(Some(region), &digits)
                        .is_ok_and(|p| phonenumber::is_valid(&p));
                    assert!(!valid, "{digits} in {region:?}");
                }
            }
        }
        assert!(too_short(4, Id::CN));
    }

    /// The fast path says exactly what the parser says, for every 3-digit prefix from 130 to
    /// 199 and a spread of the digits that follow.
    #[test]
    fn clean_mobile_fast_path_matches_libphonenumber() {
        let mut fast = 0;
        for prefix in 130..=199 {
            for tail in [
                0u64, 1_234_567, 40_000_000, 50_000_001, 87_654_321, 99_999_999,
            ] {
                let national = format!("{prefix}{tail:08}");
                // Some prefixes do not even parse (MalformedInteger): not valid either.
                let parsed = phonenumber::parse(Some(Id::CN), &national).ok();
                let valid = parsed.as_ref().is_some_and(phonenumber::is_valid);
                match mobile_fast_path(national.as_bytes()) {
                    Some(v) => {
                        fast += 1;
                        assert_eq!(v, valid, "{national}");
                        let e164 = parsed.map(|p| p.format().mode(Mode::E164).to_string());
                        assert_eq!(cn(&national).ok(), e164, "{national}");
                    }
                    None => assert_eq!(cn(&national).is_ok(), valid, "{national}"),
                }
            }
        }
        // Most prefixes are decided without the parser.
        assert!(fast >= 6 * 40, "{fast}");
    }

    /// The landline fast path agrees with the parser for every area code from 10 to 999 and
    /// subscriber numbers of 7 and 8 digits.
    #[test]
    fn clean_landline_fast_path_matches_libphonenumber() {
        let mut fast = 0;
        for area in 10..=999 {
            for subscriber in [
                "1234567", "6123456", "12345678", "88886666", "20000000", "9876543",
            ] {
                let national = format!("{area}{subscriber}");
                if landline_fast_path(&national) {
                    fast += 1;
                    let parsed = phonenumber::parse(Some(Id::CN), format!("0{national}")).unwrap();
                    assert!(phonenumber::is_valid(&parsed), "{national}");
                    assert_eq!(
                        parsed.format().mode(Mode::E164).to_string(),
                        format!("+86{national}")
                    );
                }
            }
        }
        assert!(fast > 1000, "{fast}");
        assert!(landline_fast_path("1012345678"));
        assert!(landline_fast_path("75588886666"));
        assert!(!landline_fast_path("0755"));
    }
}
