//! `std_amount`: money as people write it (`¥1,234.50`, `1.2万`, `RMB 300`, `(12.30)`) as an
//! exact Decimal128(18, 2), rounded half away from zero to the cent.

/// The largest amount: Decimal128(18, 2) holds 18 digits.
pub const MAX_CENTS: i128 = 999_999_999_999_999_999;

/// Currency words and signs in front of or after the number.
const CURRENCY_PREFIXES: [&str; 8] = ["人民币", "rmb", "cny", "us$", "usd", "¥", "￥", "$"];
const CURRENCY_SUFFIXES: [&str; 7] = ["人民币", "rmb", "cny", "usd", "元", "块", "圆"];
/// Multipliers after the number.
const MULTIPLIERS: [(&str, u32); 6] = [
    ("万", 4),
    ("亿", 8),
    ("千", 3),
    ("k", 3),
    ("w", 4),
    ("百", 2),
];

/// The amount in cents, or `None` when the text is not an amount.
pub fn std_amount(text: &str) -> Option<i128> {
    if text.len() > 128 {
        return None;
    }
    let mut buf = String::with_capacity(text.len());
    for c in text.chars() {
        let c = crate::text::fold_width(c);
        if !c.is_whitespace() {
            buf.push(c.to_ascii_lowercase());
        }
    }
    let mut t = buf.as_str();
    let mut negative = false;
    if let Some(inner) = t.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        negative = true;
        t = inner;
    }
    let mut signed = false;
    if let Some(rest) = t.strip_prefix('-') {
        negative = !negative;
        signed = true;
        t = rest;
    }
    if let Some(p) = CURRENCY_PREFIXES.iter().find(|p| t.starts_with(**p)) {
        t = &t[p.len()..];
    }
    if !signed && let Some(rest) = t.strip_prefix('-') {
        negative = !negative;
        t = rest;
    }
    if let Some(s) = CURRENCY_SUFFIXES.iter().find(|s| t.ends_with(**s)) {
        t = &t[..t.len() - s.len()];
    }
    let mut shift = 0;
    if let Some((s, k)) = MULTIPLIERS.iter().find(|(s, _)| t.ends_with(*s)) {
        t = &t[..t.len() - s.len()];
        shift = *k;
    }
    let cents = cents(t, shift)?;
    Some(if negative { -cents } else { cents })
}

/// `1,234.567` shifted `shift` places left, in cents rounded half away from zero.
fn cents(t: &str, shift: u32) -> Option<i128> {
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    if (int.is_empty() && frac.is_empty()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Thousands separators: groups of three after the first.
    let mut groups = int.split(',');
    let first = groups.next().unwrap_or("");
    if !first.bytes().all(|c| c.is_ascii_digit()) || (first.is_empty() && int.contains(',')) {
        return None;
    }
    let mut digits: Vec<u8> = first.bytes().collect();
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.extend(g.bytes());
    }
    let int_len = digits.len() + shift as usize + 2;
    digits.extend(frac.bytes());
    let mut value: i128 = 0;
    for i in 0..int_len {
        let d = digits.get(i).map_or(0, |c| i128::from(c - b'0'));
        value = value.checked_mul(10)?.checked_add(d)?;
        if value > MAX_CENTS {
            return None;
        }
    }
    if digits.get(int_len).is_some_and(|c| *c >= b'5') {
        value += 1;
    }
    (value <= MAX_CENTS).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_amounts_in_every_spelling() {
        for (t, cents) in [
            ("¥1,234.50", 123_450),
            ("￥1,234.50", 123_450),
            ("1234.5", 123_450),
            ("1.2万", 1_200_000),
            ("1.2万元", 1_200_000),
            ("3亿", 30_000_000_000),
            ("RMB 300", 30_000),
            ("CNY300", 30_000),
            ("300元", 30_000),
            ("$3.5k", 350_000),
            ("3.5K", 350_000),
            ("-12.30", -1_230),
            ("(12.30)", -1_230),
            ("¥-5", -500),
            ("-¥5", -500),
            ("１２３４．５", 123_450),
            (".5", 50),
            ("5.", 500),
            ("0.005", 1),
            ("-0.005", -1),
            ("0.0049", 0),
            ("1.235", 124),
            ("12,345,678.999", 1_234_567_900),
            ("9999999999999999.99", 999_999_999_999_999_999),
        ] {
            assert_eq!(std_amount(t), Some(cents), "{t}");
        }
        for t in [
            "N/A",
            "",
            "abc",
            "1.2.3",
            "1,23",
            ",123",
            "12a",
            "--5",
            "万",
            "¥",
            "()",
            "😀",
            "99999999999999999",
            "1e5",
        ] {
            assert_eq!(std_amount(t), None, "{t}");
        }
        assert_eq!(std_amount(&"9".repeat(10_000)), None);
    }
}
