//! Free text (`std_text`), e-mail addresses (`std_email`) and gender codes (`std_gender`).

use unicode_normalization::UnicodeNormalization;

/// Zero-width characters that std_text drops: zero-width space, non-joiner and joiner, word
/// joiner, and the byte-order mark.
fn zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Whether text is already clean apart from normalisation: only single spaces between words,
/// no other whitespace, no control or zero-width characters.
fn clean_chars(text: &str) -> bool {
    if text.starts_with(' ') || text.ends_with(' ') {
        return false;
    }
    let mut space = false;
    for c in text.chars() {
        if c == ' ' {
            if space {
                return false;
            }
            space = true;
        } else if c.is_whitespace() || c.is_control() || zero_width(c) {
            return false;
        } else {
            space = false;
        }
    }
    true
}

/// What [`shape`] finds in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Clean already: characters that NFKC keeps (ASCII, CJK ideographs, the ideographic
    /// comma and full stop), single spaces between words, no control characters.
    Clean,
    /// Only those and the full-width forms of ASCII and the ideographic space, which NFKC
    /// maps one to one and which compose with nothing; some to map or drop.
    Simple,
    /// Anything else: for the general normaliser.
    Other,
}

/// The high bit of each byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `x` in each byte of a word.
const fn bytes(x: u8) -> u64 {
    u64::from_le_bytes([x; 8])
}

/// How a word of eight ASCII bytes looks to [`shape`]: whether it holds a control character
/// (below 0x20, or DEL), and the high bit of each byte that is a space.
fn ascii_word(w: u64) -> (bool, u64) {
    // With every high bit clear no byte carries into the next: a byte plus 0x60 reaches 0x80
    // when it is 0x20 or more, a byte plus 1 when it is DEL.
    let control =
        w.wrapping_add(bytes(0x60)) & HIGH != HIGH || w.wrapping_add(bytes(1)) & HIGH != 0;
    // The spaces are the zero bytes of `w ^ spaces`, found exactly (no carries either).
    let x = w ^ bytes(b' ');
    let spaces = !((x & bytes(0x7f)).wrapping_add(bytes(0x7f)) | x | bytes(0x7f));
    (control, spaces)
}

/// The last `b.len() - i` (fewer than eight) bytes of `b` as a word, with letters after them.
/// Read as one word when `b` has eight bytes, without copying them into an array first: a
/// load of eight bytes just stored one by one waits for the stores to land.
fn last_word(b: &[u8], i: usize) -> u64 {
    let n = b.len() - i;
    let letters = bytes(b'a') << (8 * n);
    match b.last_chunk::<8>() {
        // The bytes before `i` shifted out at the bottom.
        Some(last) => (u64::from_le_bytes(*last) >> (8 * (8 - n))) | letters,
        None => b[i..].iter().rev().fold(0, |w, &c| (w << 8) | u64::from(c)) | letters,
    }
}

/// The [`Shape`] of `text`, from one pass over its bytes. Most customer text is ASCII or
/// Chinese, whose characters are one byte or three, so this reads them without decoding
/// `char`s or consulting Unicode's tables (NFKC's quick check costs about as much as the rest
/// of std_text together), and ASCII eight bytes at a time.
fn shape(text: &str) -> Shape {
    let b = text.as_bytes();
    let mut clean = true;
    // A space here would be leading, or the second of two.
    let mut after_space = true;
    let mut i = 0;
    while i < b.len() {
        // The next eight bytes, or the last few with letters after them.
        let (word, n) = match b[i..].first_chunk::<8>() {
            Some(w) => (u64::from_le_bytes(*w), 8),
            None => (last_word(b, i), b.len() - i),
        };
        if word & HIGH == 0 {
            let (control, spaces) = ascii_word(word);
            clean &= !control
                // Two spaces in a row within the word, or a space after one before it.
                && spaces & (spaces << 8) == 0
                && !(after_space && spaces & 0x80 != 0);
            after_space = (spaces >> (8 * n - 1)) & 1 != 0;
            i += n;
            continue;
        }
        let c = b[i];
        if (0xE5..=0xE9).contains(&c) {
            // U+5000 to U+9FFF: CJK ideographs, most characters of Chinese text, seen by
            // their first byte.
            after_space = false;
            i += 3;
        } else if c < 0x80 {
            if c == b' ' {
                clean &= !after_space;
                after_space = true;
            } else {
                clean &= c >= 0x20 && c != 0x7f;
                after_space = false;
            }
            i += 1;
        } else if (0xE0..0xF0).contains(&c) && i + 2 < b.len() {
            let cp = (u32::from(c & 0x0F) << 12)
                | (u32::from(b[i + 1] & 0x3F) << 6)
                | u32::from(b[i + 2] & 0x3F);
            match cp {
                0x4E00..=0x9FFF | 0x3001 | 0x3002 => {}
                0xFF01..=0xFF5E | 0x3000 => clean = false,
                _ => return Shape::Other,
            }
            after_space = false;
            i += 3;
        } else {
            return Shape::Other;
        }
    }
    // A trailing space.
    clean &= b.last() != Some(&b' ');
    if clean { Shape::Clean } else { Shape::Simple }
}

/// NFKC, zero-width and control characters dropped, whitespace runs as one space, trimmed.
/// Returns the text itself when it is already clean, else writes the clean form into `out`.
pub fn std_text<'a>(text: &'a str, out: &'a mut String) -> &'a str {
    out.clear();
    match shape(text) {
        Shape::Clean => text,
        // ASCII, and Chinese text with full-width letters, digits and spaces: NFKC maps those
        // one to one, without the general normaliser's buffering.
        Shape::Simple => {
            collapse_simple(text, out);
            out
        }
        Shape::Other
            if unicode_normalization::is_nfkc_quick(text.chars())
                == unicode_normalization::IsNormalized::Yes
                && clean_chars(text) =>
        {
            text
        }
        Shape::Other => {
            collapse(nfkc(text), out);
            out
        }
    }
}

/// NFKC of `text` without its control (other than whitespace) and zero-width characters.
/// They are dropped before normalising: one between a letter and a combining mark keeps them
/// apart in NFKC, and once dropped a second std_text would compose them (found by the
/// clean_text fuzz target).
pub(super) fn nfkc(text: &str) -> impl Iterator<Item = char> + '_ {
    // Tabs and line breaks are controls too, but whitespace: kept, to become spaces.
    text.chars()
        .filter(|&c| !(zero_width(c) || c.is_control() && !c.is_whitespace()))
        .nfkc()
}

/// `chars` appended to `out` without control and zero-width characters, each run of
/// whitespace as one space, and none at either end.
pub(super) fn collapse(chars: impl Iterator<Item = char>, out: &mut String) {
    let start = out.len();
    let mut pending_space = false;
    for c in chars {
        if c.is_whitespace() {
            pending_space = out.len() > start;
        } else if !(zero_width(c) || c.is_control()) {
            if std::mem::take(&mut pending_space) {
                out.push(' ');
            }
            out.push(c);
        }
    }
}

/// [`collapse`] of the NFKC form of [`Shape::Simple`] text, appended to `out`: its characters
/// are ASCII or three bytes long (CJK ideographs, the ideographic comma, full stop and space,
/// the full-width forms of ASCII), so none needs decoding into a `char`, and the output is
/// never longer than the text. Runs of characters that NFKC keeps (words) are copied whole;
/// the rest a character at a time, as `char`s rather than bytes, which would have to be
/// checked as UTF-8 again at a cost above that of writing them.
fn collapse_simple(text: &str, out: &mut String) {
    // A local string, whose length can stay in a register, given back at the end.
    let mut s = std::mem::take(out);
    s.reserve(text.len());
    let start = s.len();
    let mut pending_space = false;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let run = i;
        while let Some(kept) = kept_as_is(b, i) {
            i += kept;
        }
        if i > run {
            if std::mem::take(&mut pending_space) {
                s.push(' ');
            }
            // Whole characters (shape saw to that): the slice is always there.
            s.push_str(text.get(run..i).unwrap_or_default());
            continue;
        }
        // A character NFKC changes or that collapsing drops: its length, and its NFKC form
        // when that is ASCII.
        let (len, ascii) = match b[i] {
            c @ 0..0x80 => (1, Some(c)),
            _ => match b.get(i..i + 3) {
                // U+3000, the ideographic space.
                Some([0xE3, 0x80, 0x80]) => (3, Some(b' ')),
                // U+FF01..=U+FF5E, full-width ASCII: EF BC 81..BF and EF BD 80..9E, for
                // 0x21..=0x5F and 0x60..=0x7E.
                Some([0xEF, 0xBC, low]) => (3, Some(low - 0x60)),
                Some([0xEF, 0xBD, low]) => (3, Some(low - 0x20)),
                // Cut short: only text that is not Simple could end so.
                _ => (3, None),
            },
        };
        match ascii {
            // char::is_whitespace among ASCII: tab, line feed, vertical tab, form feed,
            // carriage return and space.
            Some(b'\t'..=b'\r' | b' ') => pending_space = s.len() > start,
            // Other controls are dropped.
            Some(0..0x20 | 0x7f) => {}
            Some(a) => {
                if std::mem::take(&mut pending_space) {
                    s.push(' ');
                }
                // Masked so that the compiler sees a one-byte character.
                s.push(char::from(a & 0x7f));
            }
            None => {}
        }
        i += len;
    }
    *out = s;
}

/// The length of the character at `i` of Simple text when NFKC keeps it and collapsing keeps
/// it as it is (printable ASCII other than space, a CJK ideograph, the ideographic comma and
/// full stop), else `None`.
fn kept_as_is(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        0x21..=0x7e => Some(1),
        0x80.. => match b.get(i..i + 3)? {
            [0xE3, 0x80, 0x80] | [0xEF, 0xBC | 0xBD, _] => None,
            _ => Some(3),
        },
        _ => None,
    }
}

/// Trimmed, lower-cased (after full-width letters and the full-width @ are made ASCII) and
/// checked: one @, a local part of letters, digits and `!#$%&'*+/=?^_`{|}~.-` without a dot at
/// either end or two in a row, a domain of at least two labels of letters, digits and hyphens
/// (none at a label's ends) whose last label is not all digits, 254 characters at most.
pub fn std_email(text: &str, out: &mut String) -> bool {
    out.clear();
    for c in text.trim().chars() {
        let c = crate::text::fold_width(c);
        if !c.is_ascii() || c.is_ascii_control() || c == ' ' {
            return false;
        }
        out.push(c.to_ascii_lowercase());
        if out.len() > 254 {
            return false;
        }
    }
    let Some((local, domain)) = out.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&c));
    if !local_ok || !domain.contains('.') {
        return false;
    }
    let mut labels = domain.split('.').peekable();
    while let Some(label) = labels.next() {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-');
        if !ok || (labels.peek().is_none() && label.bytes().all(|c| c.is_ascii_digit())) {
            return false;
        }
    }
    true
}

/// `M`, `F` or neither for the ways CRMs and forms write gender.
pub fn std_gender(text: &str) -> Option<&'static str> {
    let mut buf = [0u8; 32];
    let t = text.trim();
    if t.len() > buf.len() {
        return None;
    }
    let mut n = 0;
    for c in t.chars() {
        let c = crate::text::fold_width(c).to_ascii_lowercase();
        let mut tmp = [0u8; 4];
        let s = c.encode_utf8(&mut tmp);
        if n + s.len() > buf.len() {
            return None;
        }
        buf[n..n + s.len()].copy_from_slice(s.as_bytes());
        n += s.len();
    }
    let key = std::str::from_utf8(&buf[..n]).ok()?.trim_end_matches('.');
    match key {
        "男" | "男性" | "男士" | "男生" | "先生" | "m" | "male" | "man" | "boy" | "mr" | "1" => {
            Some("M")
        }
        "女" | "女性" | "女士" | "女生" | "小姐" | "太太" | "f" | "female" | "woman" | "girl"
        | "mrs" | "ms" | "miss" | "2" => Some("F"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters whose NFKC form is themselves or one ASCII character, and that compose with
    /// nothing: ASCII, the CJK Unified Ideographs, the ideographic comma and full stop, the
    /// full-width forms of ASCII and the ideographic space.
    fn cjk_or_full_width(c: char) -> bool {
        c.is_ascii()
            || matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3001}' | '\u{3002}' | '\u{FF01}'..='\u{FF5E}' | '\u{3000}')
    }

    #[test]
    fn a_control_character_before_a_combining_mark_fuzz_crash_98626e43() {
        let (mut a, mut b) = (String::new(), String::new());
        let once = std_text("A\0\u{302}x", &mut a).to_string();
        assert_eq!(once, "\u{C2}x");
        assert_eq!(std_text(&once, &mut b), once);
    }

    /// Text the shortcuts do not take (here for its é) turned a tab into nothing instead of a
    /// space: the general path dropped it with the control characters.
    #[test]
    fn a_tab_beside_other_letters_is_a_space_regression() {
        assert_eq!(text("café\tau\nlait"), "café au lait");
        assert_eq!(text("0\t0"), "0 0");
    }

    fn text(t: &str) -> String {
        std_text(t, &mut String::new()).to_string()
    }

    #[test]
    fn clean_text_is_nfkc_with_single_spaces() {
        assert_eq!(text("hello world"), "hello world");
        assert_eq!(text("  hello \t\n world  "), "hello world");
        assert_eq!(text("ＡＢＣ１２３"), "ABC123");
        assert_eq!(text("深圳\u{3000}\u{3000}南山"), "深圳 南山");
        assert_eq!(text("a\u{200B}b\u{FEFF}c\u{2060}d"), "abcd");
        assert_eq!(text("a\u{a0}\u{a0}b"), "a b");
        assert_eq!(text("a\u{0}b\u{7}c"), "abc");
        assert_eq!(text("ﬁ ①"), "fi 1");
        assert_eq!(text("😀  😀"), "😀 😀");
        assert_eq!(text(""), "");
        assert_eq!(text(" \u{200B} "), "");
        // Clean ASCII comes back as it is, without a copy.
        let mut buf = String::new();
        let s = "already clean";
        assert!(std::ptr::eq(std_text(s, &mut buf), s));
        let s = "深圳市 南山区";
        assert!(std::ptr::eq(std_text(s, &mut buf), s));
        assert_eq!(text("深圳市\u{3000}南山区"), "深圳市 南山区");
        assert_eq!(text("ｅ\u{301}"), "é");
    }

    /// The byte scan sorts every character of the Basic Multilingual Plane as the character
    /// tests do, alone and between words.
    #[test]
    fn the_byte_scan_agrees_with_the_character_tests() {
        // A char range skips the surrogates.
        for c in '\0'..='\u{FFFF}' {
            for text in [c.to_string(), format!("a{c}b"), format!("深{c}圳")] {
                let clean = unicode_normalization::is_nfkc_quick(text.chars())
                    == unicode_normalization::IsNormalized::Yes
                    && clean_chars(&text);
                let expected = match (text.chars().all(cjk_or_full_width), clean) {
                    (true, true) => Shape::Clean,
                    (true, false) => Shape::Simple,
                    (false, _) => Shape::Other,
                };
                assert_eq!(shape(&text), expected, "{c:?} in {text:?}");
            }
        }
        for (text, expected) in [
            ("", Shape::Clean),
            ("a b", Shape::Clean),
            (" a", Shape::Simple),
            ("a ", Shape::Simple),
            ("a  b", Shape::Simple),
            ("深圳 南山", Shape::Clean),
            ("深圳  南山", Shape::Simple),
            ("é", Shape::Other),
        ] {
            assert_eq!(shape(text), expected, "{text:?}");
        }
    }

    /// Every string of letters and spaces up to 17 bytes, and of letters, spaces, a control
    /// character and a Chinese one up to 7 characters: spaces at each place a word of eight
    /// bytes can start or end, and words cut short by a character that is not ASCII.
    #[test]
    fn the_word_scan_finds_spaces_across_words() {
        fn strings(alphabet: &[char], max: usize) -> Vec<String> {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        }
        let mut texts = strings(&['a', ' '], 17);
        texts.extend(strings(&['a', ' ', '\u{1}', '深'], 7));
        for text in texts {
            let expected = if clean_chars(&text) {
                Shape::Clean
            } else {
                Shape::Simple
            };
            assert_eq!(shape(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_cjk_and_full_width_shortcut_is_nfkc() {
        let mut chars: Vec<char> = ('\u{FF01}'..='\u{FF5E}').collect();
        chars.extend([
            '\u{3000}', '\u{3001}', '\u{3002}', '深', '圳', '\u{4E00}', '\u{9FFF}', 'a', ' ', '1',
        ]);
        // Every ASCII character too, controls and whitespace among them.
        chars.extend((0..0x80u8).map(char::from));
        for c in chars {
            assert!(cjk_or_full_width(c));
            for t in [format!("a{c}b"), format!("{c}{c}深"), format!(" {c}")] {
                // Appended after what is there.
                let (mut simple, mut general) = ("x".to_string(), "x".to_string());
                collapse_simple(&t, &mut simple);
                collapse(nfkc(&t), &mut general);
                assert_eq!(simple, general, "{t:?}");
            }
        }
        assert_eq!(text("  ＡＢＣ　公司，深圳。 "), "ABC 公司,深圳。");
        // Outside the shortcut: the normaliser.
        assert!(!cjk_or_full_width('\u{F900}') && !cjk_or_full_width('\u{301}'));
        assert_eq!(text("ｅ\u{301}　豈"), "é 豈");
    }

    #[test]
    fn clean_emails_are_checked_and_lower_cased() {
        let e = |t: &str| {
            let mut out = String::new();
            std_email(t, &mut out).then_some(out)
        };
        assert_eq!(
            e(" Zhang.Wei@Example.COM ").as_deref(),
            Some("zhang.wei@example.com")
        );
        assert_eq!(
            e("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ").as_deref(),
            Some("zhang@example.com")
        );
        assert_eq!(
            e("a+tag@mail.example.co.uk").as_deref(),
            Some("a+tag@mail.example.co.uk")
        );
        for bad in [
            "",
            "zhang",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a@example",
            "a@.example.com",
            "a@example.com.",
            "a@-example.com",
            "a@exa_mple.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "a@1.2.3.4",
            "张三@example.com",
            "😀@example.com",
        ] {
            assert_eq!(e(bad), None, "{bad}");
        }
        assert_eq!(e(&format!("{}@example.com", "a".repeat(250))), None);
    }

    #[test]
    fn clean_genders() {
        for m in [
            "男", "男性", "M", "m", "male", "Male", "MAN", "1", "先生", " 男 ", "Ｍ", "Mr.",
        ] {
            assert_eq!(std_gender(m), Some("M"), "{m}");
        }
        for f in [
            "女", "女性", "F", "f", "female", "Female", "woman", "2", "女士", "Ms",
        ] {
            assert_eq!(std_gender(f), Some("F"), "{f}");
        }
        for x in [
            "未知",
            "unknown",
            "",
            "0",
            "3",
            "男女",
            "😀",
            &"男".repeat(100),
        ] {
            assert_eq!(std_gender(x), None, "{x}");
        }
    }
}
