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

/// A number as written, reduced to what the parsers read: whether it was written with a
/// country code (`+`), and its digits. Held on the stack: most numbers are decided from it
/// without a string.
struct Digits {
    plus: bool,
    len: usize,
    digits: [u8; MAX_DIGITS],
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// The number as the full parser reads it: `+` and digits.
    fn write(&self, out: &mut String) {
        out.clear();
        if self.plus {
            out.push('+');
        }
        // Digits are ASCII.
        out.extend(self.as_bytes().iter().map(|&d| char::from(d)));
    }
}

/// Whether a byte can end a number without the ends needing a trim: printable ASCII other
/// than space.
fn unpadded(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
}

/// The `+` and digits of `text`, or why there are none. Separators (spaces, dashes, dots,
/// slashes, brackets) are skipped and full-width digits read as digits.
fn normalise(text: &str) -> Result<Digits, Reason> {
    let t = match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(&a), Some(&z)) if unpadded(a) && unpadded(z) => text,
        _ => text.trim(),
    };
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    let mut n = match ascii_digits(t.as_bytes()) {
        Some(n) => n,
        None => read_digits(t)?,
    };
    if !n.plus && n.as_bytes().starts_with(b"0086") {
        // 0086 13812345678 → +8613812345678.
        n.plus = true;
        n.digits.copy_within(2..n.len, 0);
        n.len -= 2;
    } else if !n.plus && n.len == 13 && n.as_bytes().starts_with(b"861") {
        // (86) 13812345678: the country code of a mobile number without its plus.
        n.plus = true;
    }
    Ok(n)
}

/// Bytes an ASCII number may hold besides digits: a `+` and the separators.
const ASCII_PHONE: [bool; 128] = {
    let mut ok = [false; 128];
    let mut i = 0;
    while i < 128 {
        ok[i] = matches!(
            i as u8,
            b'0'..=b'9' | b'+' | b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t'
        );
        i += 1;
    }
    ok
};

/// The digits of an ASCII number that [`read_digits`] would read without an error, found
/// without branching on each byte: separators fall at different places in different spellings,
/// and a mispredicted branch costs more than reading a byte. `None` for anything else (other
/// characters, a misplaced `+`, too many digits), which `read_digits` then reads to say why.
fn ascii_digits(bytes: &[u8]) -> Option<Digits> {
    if !bytes.is_ascii() {
        return None;
    }
    // Room to write every byte, digit or not, before counting it.
    let mut all = [0u8; 32];
    let (mut len, mut pluses, mut bad) = (0usize, 0u32, false);
    for &b in bytes {
        let plus = b == b'+';
        all[len & 31] = b;
        // A `+` only before the first digit.
        bad |= !ASCII_PHONE[usize::from(b & 0x7f)] | (plus & (len > 0));
        pluses += u32::from(plus);
        len += usize::from(b.is_ascii_digit());
    }
    if bad || pluses > 1 || len == 0 || len > MAX_DIGITS {
        return None;
    }
    let mut digits = [0; MAX_DIGITS];
    digits.copy_from_slice(&all[..MAX_DIGITS]);
    Some(Digits {
        plus: pluses == 1,
        len,
        digits,
    })
}

/// The `+` and digits of trimmed `text`, character by character.
fn read_digits(t: &str) -> Result<Digits, Reason> {
    let mut n = Digits {
        plus: false,
        len: 0,
        digits: [0; MAX_DIGITS],
    };
    let push = |n: &mut Digits, d: u8| {
        if n.len == MAX_DIGITS {
            return Err(Reason::TooLong);
        }
        n.digits[n.len] = d;
        n.len += 1;
        Ok(())
    };
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Most spellings are ASCII: bytes, without decoding characters or folding widths.
        let c = if b < 0x80 {
            i += 1;
            char::from(b)
        } else {
            let c = t[i..].chars().next().unwrap_or_default();
            i += c.len_utf8();
            crate::text::fold_width(c)
        };
        match c {
            '0'..='9' => push(&mut n, c as u8)?,
            '+' if !n.plus && n.len == 0 => n.plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{2010}'..='\u{2015}' | '\u{a0}' => {}
            _ => return Err(Reason::NotPhone),
        }
    }
    if n.len == 0 {
        return Err(Reason::NotPhone);
    }
    Ok(n)
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

/// libphonenumber's CN fixed-line pattern (metadata 9.0.33, as the `phonenumber` crate ships
/// it), its possible lengths, and the fewest digits any CN number type allows. Kept here rather
/// than read from the crate's metadata because loading that compiles every region's patterns,
/// about 100 ms a process, which Chinese mobiles and landlines never need; a unit test checks
/// all three against the metadata.
const CN_FIXED_LINE: &str = include_str!("cn_fixed_line.txt");
const CN_FIXED_LINE_LENGTHS: [usize; 5] = [7, 8, 9, 10, 11];
const CN_SHORTEST: usize = 7;

/// [`CN_FIXED_LINE`] compiled once, anchored at the first digit: `is_match` then stops at the
/// first accepting state instead of looking for the leftmost match anywhere in the number.
static CN_FIXED_LINE_RE: LazyLock<Option<regex::bytes::Regex>> = LazyLock::new(|| {
    regex::bytes::RegexBuilder::new(&format!("^(?:{CN_FIXED_LINE})"))
        .ignore_whitespace(true)
        .build()
        .ok()
});

/// Whether a Chinese national number (area code without its 0, then the subscriber number)
/// is a fixed line as libphonenumber's descriptor decides it (a match from the first digit,
/// of a possible length). `false` leaves the number to the full parser.
pub fn landline_fast_path(national: &[u8]) -> bool {
    let Some(re) = CN_FIXED_LINE_RE.as_ref() else {
        return false;
    };
    national.iter().all(u8::is_ascii_digit)
        && national.first() != Some(&b'0')
        && CN_FIXED_LINE_LENGTHS.contains(&national.len())
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
    let number = normalise(text)?;
    let digits = number.as_bytes();
    // The national number of a Chinese number: after +86, or as written in region CN.
    let national = match (number.plus, digits.strip_prefix(b"86")) {
        (true, Some(rest)) => Some(rest),
        (false, _) if region == Id::CN => Some(digits),
        _ => None,
    };
    if let Some(national) = national {
        if mobile_fast_path(national) == Some(true) {
            write_cn(national, out);
            return Ok(());
        }
        // A landline is written with its area code's 0 at home, without it after +86.
        let landline = match number.plus {
            true => Some(national),
            false => national.strip_prefix(b"0"),
        };
        if let Some(landline) = landline
            && landline_fast_path(landline)
        {
            write_cn(landline, out);
            return Ok(());
        }
    }
    if !number.plus && too_short(number.len, region) {
        return Err(Reason::TooShort);
    }
    number.write(buf);
    out.push_str(&full_parse(buf, region)?);
    Ok(())
}

/// `+86` and a national number's digits into `out`.
fn write_cn(national: &[u8], out: &mut String) {
    out.push_str("+86");
    out.extend(national.iter().map(|&d| char::from(d)));
}

/// Whether `digits` digits are fewer than any number of the region has: a valid number matches
/// one of the region's number types, each of which lists the lengths it allows, so below the
/// shortest of them the parser need not look. (No bound when a type lists no lengths.)
fn too_short(digits: usize, region: Id) -> bool {
    if region == Id::CN {
        return digits < CN_SHORTEST;
    }
    shortest_in_metadata(region).is_some_and(|min| digits < min)
}

/// The fewest digits a number of `region` has by its metadata; `None` when a number type
/// lists no lengths (or the region is unknown).
fn shortest_in_metadata(region: Id) -> Option<usize> {
    let meta = phonenumber::metadata::DATABASE.by_id(region.as_ref())?;
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
        min = min.min(*t.possible_length().first()?);
    }
    Some(usize::from(min))
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

    /// The CN pattern and lengths kept in this file are libphonenumber's.
    #[test]
    fn clean_cn_metadata_kept_here_is_the_crates() {
        let cn = phonenumber::metadata::DATABASE.by_id("CN").unwrap();
        let fixed = cn.descriptors().fixed_line().unwrap();
        let squeeze = |p: &str| p.split_whitespace().collect::<String>();
        assert_eq!(
            squeeze(CN_FIXED_LINE),
            squeeze(fixed.national_number().as_str()),
            "libphonenumber's CN fixed-line pattern changed: copy it into cn_fixed_line.txt"
        );
        let lengths: Vec<usize> = fixed.possible_length().iter().map(|&n| n.into()).collect();
        assert_eq!(lengths, CN_FIXED_LINE_LENGTHS);
        assert_eq!(shortest_in_metadata(Id::CN), Some(CN_SHORTEST));
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
                if landline_fast_path(national.as_bytes()) {
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
        assert!(landline_fast_path(b"1012345678"));
        assert!(landline_fast_path(b"75588886666"));
        assert!(!landline_fast_path(b"0755"));
    }
}
