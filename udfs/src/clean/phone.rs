//! Phone numbers to E.164 (`+8613812345678`) with the `phonenumber` crate (libphonenumber's
//! metadata), after normalising the ways people type them: full-width digits, `0086` and
//! `(+86)` prefixes, spaces, dashes, dots, slashes and brackets.
//!
//! Chinese mobile numbers, most of any customer table, skip the full parser: 11 digits
//! starting with a prefix that libphonenumber's CN mobile pattern accepts whatever follows
//! (`mobile_fast_path`) are valid as they are. A unit test checks this against the parser
//! for every prefix from 130 to 199. Chinese landlines written with their area code
//! (`010-12345678`) are checked against libphonenumber's CN fixed-line pattern, made once into
//! a table of states (`landline_fast_path`): the crate's parser keeps its regular expressions
//! in a shared cache of 100 that CN's formats overflow, so every number it parses recompiles
//! some of them.
//!
//! Other Chinese numbers mostly skip it too: toll-free, shared-cost and premium numbers, and
//! invalid ones, are decided by tables drawn from CN's descriptors as the parser would decide
//! them (`cn_national`), and `+86` with one to four digits is too short. The parser's
//! metadata takes about 70 ms to load, once a process, so a column of Chinese numbers
//! written in the usual ways never loads it.

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

/// Room for the bytes [`ascii_digits`] reads, every one written before it is known to be a
/// digit: numbers spelt with more separators than this are read by [`read_digits`].
const ASCII_ROOM: usize = 32;

/// A number as written, reduced to what the parsers read: whether it was written with a
/// country code (`+`), and its digits. Held on the stack and filled in place: most numbers are
/// decided from it without a string.
///
/// The digits are stored a byte at a time as they are read, and a load of several of them soon
/// after waits for those stores to land (a store-forwarding stall, which cost more than the
/// rest of a mobile number's work). So what is asked of their first digits is answered from
/// the text where it can be ([`normalise`]), a `0086` prefix is dropped by moving `start`
/// rather than the digits, and the E.164 form is put together from single bytes.
struct Digits {
    plus: bool,
    /// Whether the digits start with 86, China's country code.
    cn: bool,
    /// The digits are `digits[start..end]`.
    start: usize,
    end: usize,
    digits: [u8; ASCII_ROOM],
}

impl Digits {
    const fn new() -> Self {
        Digits {
            plus: false,
            cn: false,
            start: 0,
            end: 0,
            digits: [0; ASCII_ROOM],
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start.min(self.end)..self.end]
    }

    fn count(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// `+86` and the national number that starts at digit `from`, onto `out`. Inlined: a
    /// call's saving and restoring of registers was a sixth of the writing.
    #[inline(always)]
    fn write_cn(&self, from: usize, out: &mut Vec<u8>) {
        let national = self.as_bytes().get(from..).unwrap_or_default();
        let from = self.start + from;
        // National numbers have 11 digits at most and start within the first four: 16 bytes
        // are written and the tail cut off, since a copy of a length known only at run time is
        // a call to memmove, which cost more than the rest of writing the number. The 16 bytes
        // are put together in registers from single bytes (see [`Digits`]).
        match self.digits.get(from..from + 13) {
            Some(window) if national.len() <= 13 => {
                let (mut low, mut high) = (u64::from_le_bytes(*b"+86\0\0\0\0\0"), 0u64);
                for (k, &d) in window.iter().enumerate() {
                    if k < 5 {
                        low |= u64::from(d) << (8 * (k + 3));
                    } else {
                        high |= u64::from(d) << (8 * (k - 5));
                    }
                }
                let end = out.len() + 3 + national.len();
                out.extend_from_slice(&(u128::from(high) << 64 | u128::from(low)).to_le_bytes());
                out.truncate(end);
            }
            _ => {
                out.extend_from_slice(b"+86");
                out.extend_from_slice(national);
            }
        }
    }

    /// The number as the full parser reads it: `+` and digits.
    fn write(&self, out: &mut String) {
        out.clear();
        if self.plus {
            out.push('+');
        }
        // Digits are ASCII: masked, each is seen to be one byte long.
        out.extend(self.as_bytes().iter().map(|&d| char::from(d & 0x7f)));
    }
}

/// Whether a byte can end a number without the ends needing a trim: printable ASCII other
/// than space.
fn unpadded(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
}

/// The `+` and digits of `text` into `n`, or why there are none. Separators (spaces, dashes,
/// dots, slashes, brackets) are skipped and full-width digits read as digits.
fn normalise(text: &str, n: &mut Digits) -> Result<(), Reason> {
    let t = match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(&a), Some(&z)) if unpadded(a) && unpadded(z) => text,
        // Full-width digits at both ends: no whitespace character is written with a first
        // byte 0xEF (U+F000 to U+FFFF) or ends in 0x90 to 0x99.
        (Some(0xef), Some(0x90..=0x99)) => text,
        _ => text.trim(),
    };
    let read = match t.as_bytes().first() {
        None => return Err(Reason::Empty),
        Some(0xef) => full_width_digits(t.as_bytes(), n),
        Some(_) => ascii_digits(t.as_bytes(), n),
    };
    if !read {
        read_digits(t, n)?;
    }
    // Whether the digits start with `prefix`: from the text when it starts with that many
    // ASCII digits (after a `+`), which are then the first digits; else (separators or
    // full-width digits among the first few) from the digits themselves, compared one by one,
    // since a load of several at once would wait for the stores that wrote them (see
    // [`Digits`]). Every byte of the text's head is tested, not stopping at the first that is
    // not a digit: where that falls varies from one spelling to the next, which makes a branch
    // on it hard to predict (measured 1% faster, within the noise).
    let written = t.strip_prefix('+').unwrap_or(t).as_bytes();
    let leads = |n: &Digits, prefix: &[u8]| match written.get(..prefix.len()) {
        Some(head) if head == prefix => true,
        Some(head) if head.iter().fold(true, |all, b| all & b.is_ascii_digit()) => false,
        _ => n.count() >= prefix.len() && n.as_bytes().iter().zip(prefix).all(|(d, p)| d == p),
    };
    if !n.plus && leads(n, b"0086") {
        // 0086 13812345678 → +8613812345678.
        (n.plus, n.cn, n.start) = (true, true, 2);
    } else if !n.plus && n.count() == 13 && leads(n, b"861") {
        // (86) 13812345678: the country code of a mobile number without its plus.
        (n.plus, n.cn) = (true, true);
    } else {
        n.cn = n.plus && leads(n, b"86");
    }
    Ok(())
}

/// What [`ascii_digits`] adds up for each byte: 1 for a digit, 0 for a separator, and
/// [`NOT_ASCII_NUMBER`] for anything else, `+` included and every byte of a non-ASCII
/// character. A number of at most [`ASCII_ROOM`] bytes keeps its count of digits in the low
/// byte of the sum, and it has a byte that cannot be in one when the sum reaches the flag.
const ASCII_STEP: [u16; 256] = {
    let mut step = [NOT_ASCII_NUMBER; 256];
    let mut i = 0;
    while i < 256 {
        step[i] = match i as u8 {
            b'0'..=b'9' => 1,
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t' => 0,
            _ => NOT_ASCII_NUMBER,
        };
        i += 1;
    }
    step
};
const NOT_ASCII_NUMBER: u16 = 0x100;

/// Reads an ASCII number into `n` as [`read_digits`] would when that gives no error, and says
/// whether it could: separators fall at different places in different spellings, and a
/// mispredicted branch costs more than a byte, so each byte is written and counted without
/// one, by a single sum that holds both the count of digits and whether any byte was not a
/// digit or separator. `false` for anything else (other characters, a `+` after the first
/// byte, no digits or too many), which `read_digits` then reads to say why.
fn ascii_digits(bytes: &[u8], n: &mut Digits) -> bool {
    let (plus, rest) = match bytes.split_first() {
        Some((b'+', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if rest.len() > ASCII_ROOM {
        return false;
    }
    let mut sum = 0usize;
    for &b in rest {
        // A byte is written where the next digit goes; a separator is then written over.
        n.digits[sum % ASCII_ROOM] = b;
        sum += usize::from(ASCII_STEP[usize::from(b)]);
    }
    let len = sum & 0xff;
    n.plus = plus;
    n.end = len;
    sum < usize::from(NOT_ASCII_NUMBER) && (1..=MAX_DIGITS).contains(&len)
}

/// Reads a number written in full-width digits alone (U+FF10 to U+FF19, as Chinese input
/// methods type them) into `n`, and says whether it was one; without a branch per digit, as
/// [`ascii_digits`]. `false` for anything else, which [`read_digits`] then reads.
fn full_width_digits(bytes: &[u8], n: &mut Digits) -> bool {
    let digits = bytes.chunks_exact(3);
    if !digits.remainder().is_empty() || digits.len() > MAX_DIGITS {
        return false;
    }
    let mut bad = 0u8;
    for (slot, c) in n.digits.iter_mut().zip(digits) {
        let d = c[2].wrapping_sub(0x90);
        bad |= (c[0] ^ 0xef) | (c[1] ^ 0xbc) | u8::from(d > 9);
        *slot = b'0' + (d & 15);
    }
    n.plus = false;
    n.end = bytes.len() / 3;
    bad == 0 && n.end > 0
}

/// The `+` and digits of trimmed `text` into `n`, character by character. Out of line, as
/// [`parse_in_full`].
#[inline(never)]
fn read_digits(t: &str, n: &mut Digits) -> Result<(), Reason> {
    *n = Digits::new();
    let bytes = t.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Most spellings are ASCII: bytes, without decoding characters or folding widths.
        let c = if b < 0x80 {
            i += 1;
            char::from(b)
        } else if let [0xef, 0xbc, d @ 0x90..=0x99, ..] = bytes[i..] {
            // A full-width digit (U+FF10 to U+FF19), the most common character here that is
            // not ASCII: read without decoding it.
            i += 3;
            char::from(b'0' + (d - 0x90))
        } else {
            let c = t[i..].chars().next().unwrap_or_default();
            i += c.len_utf8();
            crate::text::fold_width(c)
        };
        match c {
            '0'..='9' if n.end == MAX_DIGITS => return Err(Reason::TooLong),
            '0'..='9' => {
                n.digits[n.end] = c as u8;
                n.end += 1;
            }
            '+' if !n.plus && n.end == 0 => n.plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{2010}'..='\u{2015}' | '\u{a0}' => {}
            _ => return Err(Reason::NotPhone),
        }
    }
    if n.end == 0 {
        return Err(Reason::NotPhone);
    }
    Ok(())
}

/// Whether 11 digits (ASCII digits, as [`Digits`] holds) are a Chinese mobile number by their
/// prefix alone: `Some(true)` when libphonenumber's CN mobile pattern (the first of
/// [`CN_OTHER_TYPES`]) accepts every number with this prefix, `None` when another path must
/// tell. A bit set of prefixes rather than the pattern's table of states: three loads instead
/// of a walk, on the path most numbers take.
fn mobile_fast_path(national: &[u8]) -> Option<bool> {
    // Not checked again in release builds: a load of all eleven would wait for the byte
    // stores that wrote them.
    debug_assert!(national.iter().all(u8::is_ascii_digit), "{national:?}");
    if national.len() != 11 || national[0] != b'1' {
        return None;
    }
    // Looked up rather than matched: a branch on the digits would be mispredicted as often as
    // they differ from one number to the next.
    let at = usize::from(national[1].wrapping_sub(b'0')) * 10
        + usize::from(national[2].wrapping_sub(b'0'));
    (MOBILE_PREFIXES >> (at & 127) & 1 == 1).then_some(true)
}

/// Bit `10 * a + b` is set when every 11-digit number starting `1ab` matches the CN mobile
/// pattern (`1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}`, the second branch of the
/// first of [`CN_OTHER_TYPES`]); a unit test checks it against the parser for every prefix.
const MOBILE_PREFIXES: u128 = {
    let mut bits = 0u128;
    let mut at = 0;
    while at < 100 {
        let ok = matches!(
            (b'0' + at / 10, b'0' + at % 10),
            (b'3' | b'8', _)
                | (b'4', b'5' | b'7')
                | (b'5' | b'9', b'0'..=b'3' | b'5'..=b'9')
                | (b'6', b'2' | b'5'..=b'7')
                | (b'7', b'0'..=b'3' | b'5'..=b'8')
        );
        if ok {
            bits |= 1 << at;
        }
        at += 1;
    }
    bits
};

/// libphonenumber's CN fixed-line pattern (metadata 9.0.33, as the `phonenumber` crate ships
/// it), its possible lengths, and the fewest digits any CN number type allows. Kept here rather
/// than read from the crate's metadata because loading that compiles every region's patterns,
/// about 100 ms a process, which Chinese mobiles and landlines never need; a unit test checks
/// all three against the metadata.
const CN_FIXED_LINE: &str = include_str!("cn_fixed_line.txt");
const CN_FIXED_LINE_LENGTHS: [usize; 5] = [7, 8, 9, 10, 11];
const CN_SHORTEST: usize = 7;

/// [`CN_FIXED_LINE`] as tables of states over digits, built once: a national number is read
/// in one lookup per two digits, without a regular-expression search's set-up per call (which
/// cost more than the walk, for numbers of 11 digits at most).
///
/// The states are drawn from regex-automata's lazy DFA for the pattern, anchored and reporting
/// every match, so that a state accepts exactly when the digits read so far match the whole
/// pattern, as libphonenumber matches a national number. The pattern has 243 live states, so a
/// state is a byte and a row of the tables is indexed without a bounds check: each step of
/// the walk waits only on the load before it. `None` (no fast path, the full parser decides)
/// if the pattern did not compile, or its states did not fit the DFA's cache or a byte.
struct DigitDfa {
    /// Per state, a row of 128 (digit pairs 00 to 99 used): the state after the two digits.
    /// State 0 is dead and stays so.
    pairs: Box<[u8; 256 * 128]>,
    /// Per state, a row of 16 (digits 0 to 9 used): the state after the digit.
    single: Box<[u8; 256 * 16]>,
    /// The state after the first four digits (0000 to 9999) from the start: a lookup that
    /// does not wait on an earlier one, in place of the first two steps of the walk.
    first_four: Box<[u8; 10_000]>,
    /// Per state, whether the digits that led to it are a whole match.
    accepts: [bool; 256],
    start: u8,
}

impl DigitDfa {
    fn build(pattern: &str) -> Option<DigitDfa> {
        use regex_automata::hybrid::dfa::DFA;
        use regex_automata::util::{start, syntax};
        use regex_automata::{Anchored, MatchKind};
        let dfa = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All))
            // Digits are ASCII here: `\d` need not hold every script's digits.
            .syntax(
                syntax::Config::new()
                    .ignore_whitespace(true)
                    .unicode(false)
                    .utf8(false),
            )
            .build(pattern)
            .ok()?;
        let mut cache = dfa.create_cache();
        let first = dfa
            .start_state(&mut cache, &start::Config::new().anchored(Anchored::Yes))
            .ok()?;
        // The lazy DFA's states in the order they are met: state k of the tables is
        // lazy[k - 1] (0 is dead). Lazy ids are stable only while the cache is not cleared:
        // checked at the end.
        let mut lazy = vec![first];
        let mut ids = std::collections::HashMap::from([(first, 1u8)]);
        let mut single = Box::new([0u8; 256 * 16]);
        let mut accepts = [false; 256];
        let mut i = 0;
        while i < lazy.len() {
            let (sid, k) = (lazy[i], i + 1);
            accepts[k] = dfa.next_eoi_state(&mut cache, sid).ok()?.is_match();
            for d in 0..10u8 {
                let t = dfa.next_state(&mut cache, sid, b'0' + d).ok()?;
                if t.is_dead() {
                    continue;
                }
                if t.is_quit() || t.is_unknown() {
                    return None;
                }
                single[k * 16 + usize::from(d)] = match ids.get(&t) {
                    Some(&to) => to,
                    None => {
                        lazy.push(t);
                        let to = u8::try_from(lazy.len()).ok()?;
                        ids.insert(t, to);
                        to
                    }
                };
            }
            i += 1;
        }
        if cache.clear_count() != 0 {
            return None;
        }
        let mut pairs = Box::new([0u8; 256 * 128]);
        for s in 0..256 {
            for (d1, &mid) in single[s * 16..s * 16 + 10].iter().enumerate() {
                for d2 in 0..10 {
                    pairs[s * 128 + d1 * 10 + d2] = single[usize::from(mid) * 16 + d2];
                }
            }
        }
        let start = 1;
        let mut first_four = Box::new([0u8; 10_000]);
        for (at, state) in first_four.iter_mut().enumerate() {
            let mid = pairs[(usize::from(start) << 7) | (at / 100)];
            *state = pairs[(usize::from(mid) << 7) | (at % 100)];
        }
        Some(DigitDfa {
            pairs,
            single,
            first_four,
            accepts,
            start,
        })
    }

    /// Whether `digits` (ASCII digits, as [`Digits`] holds) match the whole pattern.
    fn full_match(&self, digits: &[u8]) -> bool {
        // Not checked again in release builds, as in `mobile_fast_path`.
        debug_assert!(digits.iter().all(u8::is_ascii_digit), "{digits:?}");
        // Masked indices stay inside their row (and the row inside the table) whatever the
        // bytes, so no lookup is checked: for digits the masks change nothing.
        let digit = |b: u8| usize::from(b.wrapping_sub(b'0') & 15);
        let (mut state, rest) = match digits {
            [a, b, c, d, rest @ ..] => {
                let at = digit(*a) * 1000 + digit(*b) * 100 + digit(*c) * 10 + digit(*d);
                (self.first_four[at.min(9_999)], rest)
            }
            _ => (self.start, digits),
        };
        let mut two = rest.chunks_exact(2);
        for pair in &mut two {
            let at = (digit(pair[0]) * 10 + digit(pair[1])) & 127;
            state = self.pairs[usize::from(state) << 7 | at];
        }
        if let [last] = two.remainder() {
            state = self.single[usize::from(state) << 4 | digit(*last)];
        }
        self.accepts[usize::from(state)]
    }
}

static CN_FIXED_LINE_DFA: LazyLock<Option<DigitDfa>> =
    LazyLock::new(|| DigitDfa::build(CN_FIXED_LINE));

/// Whether a Chinese national number (area code without its 0, then the subscriber number)
/// is a fixed line as libphonenumber's descriptor decides it (the whole number matches the
/// pattern, and is of a possible length). `false` leaves the number to the full parser.
fn landline_fast_path(national: &[u8]) -> bool {
    let Some(dfa) = CN_FIXED_LINE_DFA.as_ref() else {
        return false;
    };
    national.first() != Some(&b'0')
        && CN_FIXED_LINE_LENGTHS.contains(&national.len())
        && dfa.full_match(national)
}

/// The E.164 form of a phone number read in `region`, or why it is not valid.
pub fn std_phone(text: &str, region: Id, buf: &mut String) -> Result<String, Reason> {
    let mut e164 = Vec::with_capacity(16);
    std_phone_into(text, region, buf, &mut e164)?;
    // The form is ASCII: `+` and digits.
    Ok(String::from_utf8_lossy(&e164).into_owned())
}

/// [`std_phone`] appending the E.164 form to `out`, and nothing when the number is not
/// valid: a column writes its values straight into its bytes, and reads a row left empty as a
/// null (`Utf8Out` in the parent module), so nothing may be written before an error.
pub fn std_phone_into(
    text: &str,
    region: Id,
    buf: &mut String,
    out: &mut Vec<u8>,
) -> Result<(), Reason> {
    let mut number = Digits::new();
    normalise(text, &mut number)?;
    let digits = number.as_bytes();
    // Where the national number of a Chinese number starts: after +86, or as written in
    // region CN.
    let national = match (number.plus, number.cn) {
        (true, true) => Some(2),
        (false, _) if region == Id::CN => Some(0),
        _ => None,
    };
    if let Some(from) = national {
        if mobile_fast_path(&digits[from..]) == Some(true) {
            number.write_cn(from, out);
            return Ok(());
        }
        // A landline is written with its area code's 0 at home, without it after +86.
        let landline = match number.plus {
            true => Some(from),
            false => (digits.get(from) == Some(&b'0')).then_some(from + 1),
        };
        if let Some(from) = landline
            && landline_fast_path(&digits[from..])
        {
            number.write_cn(from, out);
            return Ok(());
        }
    }
    if !number.plus && too_short(number.count(), region) {
        return Err(Reason::TooShort);
    }
    // A +86 number of one to four digits: every way the parser reads it ends "too short",
    // but for 0000, which it calls no number (a test tries them all).
    if number.plus && number.cn && (3..=6).contains(&number.count()) && digits[2..] != *b"0000" {
        return Err(Reason::TooShort);
    }
    // Any other Chinese number, by the tables of CN's descriptors where they can tell.
    if let Some(from) = national {
        match cn_national(&digits[from..]) {
            Some(Cn::Valid { skip }) => {
                number.write_cn(from + skip, out);
                return Ok(());
            }
            Some(Cn::Invalid) if number.plus => {
                return Err(not_valid_with_code(86));
            }
            Some(Cn::Invalid) => return Err(not_valid_in(Id::CN)),
            None => {}
        }
    }
    parse_in_full(&number, region, buf, out)
}

/// libphonenumber's CN number types other than fixed lines (metadata 9.0.33, as the crate
/// ships it: mobile, toll-free, premium-rate and shared-cost), each with the lengths it
/// allows. A unit test checks them against the metadata, and that CN has no other types.
const CN_OTHER_TYPES: [(&str, &[usize]); 4] = [
    (
        r"1740[0-5]\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}",
        &[11],
    ),
    (r"(?:(?:10|21)8|8)00\d{7}", &[10, 12]),
    (r"16[08]\d{5}", &[8]),
    (
        r"10(?:10\d{4}|96\d{3,4})|400\d{7}|950\d{7,8}|(?:2[0-57-9]|3(?:[157]\d|35|49|9[1-68])|
          4(?:[17]\d|2[179]|[35][1-9]|6[47-9]|8[23])|5(?:[1357]\d|2[37]|4[36]|6[1-46]|80|9[1-9])|
          6(?:3[1-5]|6[0238]|9[12])|7(?:01|[1579]\d|2[248]|3[014-9]|4[3-6]|6[023689])|
          8(?:1[236-8]|2[5-7]|[37]\d|5[14-9]|8[36-8]|9[1-8])|
          9(?:0[1-3689]|1[1-79]|[379]\d|4[13]|5[1-5]))96\d{3,4}",
        &[7, 8, 9, 10, 11],
    ),
];

/// CN's general descriptor (metadata 9.0.33): every valid CN number matches it as well as a
/// type's. It lists no lengths, so it allows any. Checked against the metadata by the same
/// test as [`CN_OTHER_TYPES`].
const CN_GENERAL: (&str, &[usize]) = (
    r"(?:(?:1[03-689]|2\d)\d\d|6)\d{8}|1\d{10}|[126]\d{6}(?:\d(?:\d{2})?)?|86\d{5,6}|
      (?:[3-579]\d|8[0-57-9])\d{5,9}",
    &[],
);

/// A descriptor's table of states and the lengths it allows (any, when it lists none).
type Descriptor = (DigitDfa, &'static [usize]);

/// CN's general descriptor and every CN number type as tables of states that accept digits
/// when they *start* with a match of the pattern, which is how the `phonenumber` crate
/// matches a descriptor (`Descriptor::is_match` takes a match found at the start, not a
/// match of the whole), with the lengths each allows. `None` if a table could not be built.
static CN_BY_START: LazyLock<Option<(Descriptor, Vec<Descriptor>)>> = LazyLock::new(|| {
    let table = |(pattern, lengths): (&str, &'static [usize])| {
        Some((DigitDfa::build(&format!(r"(?:{pattern})\d*"))?, lengths))
    };
    let types = std::iter::once((CN_FIXED_LINE, &CN_FIXED_LINE_LENGTHS[..]))
        .chain(CN_OTHER_TYPES)
        .map(table)
        .collect::<Option<_>>()?;
    Some((table(CN_GENERAL)?, types))
});

/// What the parser makes of a Chinese national number, decided without it.
#[derive(Debug, PartialEq)]
enum Cn {
    /// Valid, as `+86` and the digits after the first `skip` (a trunk 0).
    Valid {
        skip: usize,
    },
    Invalid,
}

/// How the parser reads the digits of a Chinese number after `+86`, or as written at home,
/// when that is sure without it; `None` leaves them to the parser. The parser drops a trunk
/// 0 when seven digits or more are left, and calls the rest valid when it is of CN's general
/// descriptor and of one of its types. Digits the parser would read as something else are
/// left to it: `00` (an international call), `86` (the country code again), and `11`, `12`
/// or `179` (carrier codes, which it drops). This spares the parser's metadata (70 ms to load,
/// once a process) and its 10-20 µs a number; a unit test checks the two agree.
fn cn_national(digits: &[u8]) -> Option<Cn> {
    let (general, types) = CN_BY_START.as_ref()?;
    let read_otherwise = |d: &[u8]| {
        [&b"00"[..], b"86", b"11", b"12", b"179"]
            .iter()
            .any(|p| d.starts_with(p))
    };
    // The parser refuses more than 16 digits as too long.
    if read_otherwise(digits) || digits.len() > 16 {
        return None;
    }
    let national = match digits {
        [b'0', rest @ ..] if rest.len() >= CN_SHORTEST => rest,
        [b'0', ..] => return None,
        _ => digits,
    };
    // Written as +86 and the national number, the number must read back the same; and
    // fewer digits than any CN number has are left to the parser, whose reasons for them vary.
    if national.len() < CN_SHORTEST || national.first() == Some(&b'0') || read_otherwise(national) {
        return None;
    }
    let is = |(dfa, lengths): &Descriptor| {
        (lengths.is_empty() || lengths.contains(&national.len())) && dfa.full_match(national)
    };
    Some(if is(general) && types.iter().any(is) {
        Cn::Valid {
            skip: digits.len() - national.len(),
        }
    } else {
        Cn::Invalid
    })
}

/// The parser's reading of a number no fast path decides: out of line, so that the fast paths
/// do not pay for the parser's registers and stack at every call.
#[inline(never)]
fn parse_in_full(
    number: &Digits,
    region: Id,
    buf: &mut String,
    out: &mut Vec<u8>,
) -> Result<(), Reason> {
    number.write(buf);
    out.extend_from_slice(full_parse(buf, region)?.as_bytes());
    Ok(())
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

/// Why a number written without a country code is not valid in `region`.
fn not_valid_in(region: Id) -> Reason {
    Reason::Invalid(format!("region {}", region.as_ref()))
}

/// Why a number written with country code `code` is not valid.
fn not_valid_with_code(code: u16) -> Reason {
    Reason::Invalid(format!("country code +{code}"))
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
        return Err(if number.starts_with('+') {
            not_valid_with_code(n.code().value())
        } else {
            not_valid_in(region)
        });
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
        _ => Err(not_valid_with_code(n.code().value())),
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
        assert_eq!(cn("+86 10 1234 5678").as_deref(), Ok("+861012345678"));
        assert_eq!(cn("0086 755 8888 6666").as_deref(), Ok("+8675588886666"));
        assert_eq!(
            cn("０１０-１２３４５６７８").as_deref(),
            Ok("+861012345678")
        );
        assert_eq!(cn("+1 415 555 2671").as_deref(), Ok("+14155552671"));
        assert_eq!(
            std_phone("(415) 555-2671", region("us").unwrap(), &mut String::new()).as_deref(),
            Ok("+14155552671")
        );
    }

    /// The CN number types kept in this file are libphonenumber's, and CN has no others.
    #[test]
    fn clean_cn_number_types_kept_here_are_the_crates() {
        let cn = phonenumber::metadata::DATABASE.by_id("CN").unwrap();
        let d = cn.descriptors();
        let squeeze = |p: &str| p.split_whitespace().collect::<String>();
        for ((pattern, lengths), desc) in std::iter::once(&CN_GENERAL).chain(&CN_OTHER_TYPES).zip([
            Some(d.general()),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
        ]) {
            let desc = desc.unwrap();
            assert_eq!(squeeze(pattern), squeeze(desc.national_number().as_str()));
            let allowed: Vec<usize> = desc.possible_length().iter().map(|&n| n.into()).collect();
            assert_eq!(&allowed[..], *lengths);
        }
        assert!(d.voip().is_none() && d.personal_number().is_none() && d.pager().is_none());
        assert!(d.uan().is_none() && d.voicemail().is_none());
        assert!(CN_BY_START.is_some());
    }

    /// Chinese numbers of every kind, at home and after +86, give what the parser gives; and
    /// most that no other fast path decides are decided without it.
    #[test]
    fn cn_numbers_decided_without_the_parser_are_as_the_parser_decides() {
        let mut numbers: Vec<String> = Vec::new();
        for area in (10..=999).step_by(7) {
            for subscriber in [
                "80094279", "0000000", "1234567", "96123", "4001234", "88886666",
            ] {
                numbers.push(format!("0{area}{subscriber}"));
            }
        }
        for head in [
            "400", "800", "10800", "21800", "950", "168", "160", "1740", "1741", "1749",
        ] {
            for tail in ["1234567", "12345678", "123456", "0000000", "9999999"] {
                numbers.push(format!("{head}{tail}"));
                numbers.push(format!("0{head}{tail}"));
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        // From seven digits: fewer are refused as too short before any of this.
        for len in 7..=18 {
            for _ in 0..400 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let digits = format!("{:018}", (x >> 8) % 1_000_000_000_000_000_000);
                numbers.push(format!("{}{}", x % 10, &digits[..len - 1]));
            }
        }
        let (mut decided, mut rest) = (0, Vec::new());
        for n in &numbers {
            for text in [n.clone(), format!("+86{n}")] {
                assert_eq!(cn(&text), full_parse(&text, Id::CN), "{text}");
            }
            // Left to the parser only for the prefixes it reads otherwise, before or after a
            // trunk 0, and for lengths it refuses.
            let other = |d: &str| {
                ["00", "86", "11", "12", "179"]
                    .iter()
                    .any(|p| d.starts_with(p))
            };
            match cn_national(n.as_bytes()) {
                Some(_) => decided += 1,
                None if other(n) || n.strip_prefix('0').is_some_and(other) => {}
                None if n.len() > 16 || n.len() < 8 => {}
                None => rest.push(n),
            }
        }
        assert_eq!(cn_national(b"01080094279"), Some(Cn::Invalid));
        assert_eq!(cn_national(b"4001234567"), Some(Cn::Valid { skip: 0 }));
        assert_eq!(cn_national(b"04001234567"), Some(Cn::Valid { skip: 1 }));
        assert_eq!(cn("400-123-4567").as_deref(), Ok("+864001234567"));
        assert!(
            rest.is_empty() && decided > 4000,
            "{decided} decided; left: {rest:?}"
        );
    }

    /// `+86` or `0086` and up to four digits are too short, without the parser, as the
    /// parser says (and `+86` alone, or `+86 0000`, is what it says).
    #[test]
    fn short_numbers_after_86_are_too_short_as_the_parser_says() {
        for len in 0..=5u32 {
            // Every national number up to four digits, every seventh of five; spelt four
            // ways up to three digits, two ways beyond.
            let step = if len <= 4 { 1 } else { 7 };
            let prefixes = if len <= 3 {
                &["+86", "0086", "+86 ", "(+86) "][..]
            } else {
                &["+86", "0086"][..]
            };
            for k in (0..10usize.pow(len)).step_by(step) {
                let national = format!("{k:0w$}", w = len as usize);
                let national = if len == 0 { "" } else { &national[..] };
                for prefix in prefixes {
                    let text = format!("{prefix}{national}");
                    let digits = format!("+86{national}");
                    assert_eq!(cn(&text), full_parse(&digits, Id::CN), "{text}");
                }
            }
        }
    }

    /// Numbers in full-width digits are read a digit per three bytes when that is all they
    /// are, and character by character otherwise: with full-width separators, other
    /// full-width characters, or spaces at either end.
    #[test]
    fn full_width_numbers_with_anything_else_are_read_character_by_character() {
        for text in [
            "１３８１２３４５６７８",
            "１３８－１２３４－５６７８",
            "１３８（１２３４）５６７８",
            "　１３８１２３４５６７８　",
            " １３８１２３４５６７８\t",
            "００８６１３８１２３４５６７８",
            "８６１３８１２３４５６７８",
        ] {
            assert_eq!(cn(text).as_deref(), Ok("+8613812345678"), "{text}");
        }
        let why = |t: &str| cn(t).unwrap_err().to_string();
        assert_eq!(why("１３８１２３４５６７８Ａ"), "not a phone number");
        assert_eq!(why("Ａ１３８１２３４５６７８"), "not a phone number");
        assert_eq!(
            why("１３８１２３４５６７８９"),
            "not a valid number for region CN"
        );
        assert_eq!(why(&"１".repeat(21)), "too long");
        assert_eq!(why("\u{ff10}\u{ff1a}"), "not a phone number");
    }

    /// Numbers written one after another into one buffer, as a column writes them: each
    /// number's bytes are exactly its E.164 form, with nothing of the 16 bytes copied left over.
    #[test]
    fn numbers_appended_to_one_buffer_are_each_their_own() {
        let mut out = Vec::new();
        let mut ends = Vec::new();
        for text in [
            "13812345678",
            "12345",
            "010-12345678",
            "+86 755 8888 6666",
            "+1 415 555 2671",
        ] {
            let _ = std_phone_into(text, Id::CN, &mut String::new(), &mut out);
            ends.push(out.len());
        }
        assert_eq!(
            out,
            b"+8613812345678+861012345678+8675588886666+14155552671"
        );
        assert_eq!(ends, [14, 14, 27, 41, 53]);
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

    /// The table of states accepts exactly what the pattern matches whole, for every number
    /// of up to 5 digits and a spread of longer ones.
    #[test]
    fn clean_cn_fixed_line_states_are_the_pattern() {
        let re = regex::bytes::RegexBuilder::new(&format!("^(?:{CN_FIXED_LINE})$"))
            .ignore_whitespace(true)
            .build()
            .unwrap();
        let dfa = CN_FIXED_LINE_DFA.as_ref().expect("the pattern's states");
        let mut numbers: Vec<String> = (0..=5u32)
            .flat_map(|len| (0..10u64.pow(len)).map(move |n| format!("{n:0w$}", w = len as usize)))
            .collect();
        // Longer numbers from a fixed sequence (a linear congruential generator).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 7..=12 {
            for _ in 0..20_000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                numbers.push(format!("{:0w$}", x % 10u64.pow(len), w = len as usize));
            }
        }
        let mut matched = 0;
        for n in &numbers {
            let whole = re.is_match(n.as_bytes());
            assert_eq!(dfa.full_match(n.as_bytes()), whole, "{n}");
            matched += usize::from(whole);
        }
        assert!(matched > 5_000, "{matched}");
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
        assert!(!landline_fast_path(b"101234567890"));
        assert!(landline_fast_path(b"75588886666"));
        assert!(!landline_fast_path(b"0755"));
    }
}
