//! Dates and times as people and spreadsheets write them: ISO 8601, `2024/3/5`, `2024.03.05`,
//! `05-03-2024` / `03/05/2024` (day or month first by the order asked for), `20240305`,
//! `2024年3月5日 14时30分`, `Mar 5, 2024`, `5 Mar 2024`, epoch seconds and milliseconds, and
//! Excel serial days.
//!
//! [`parse`] reads one value into a [`Parsed`] without allocating (it works on the bytes, and
//! only width-folds `２０２４年` into a buffer when the text holds full-width characters), or
//! says why it is not a date ([`Reason`]).

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use crate::config::{DateOrder, days_from_civil};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// The largest Excel serial day: 9999-12-31.
pub const MAX_EXCEL_SERIAL: u32 = 2_958_465;
/// Longer text is not a date (and is not read).
const MAX_LEN: usize = 64;

/// A value read from text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parsed {
    /// A calendar date, with the time of day (microseconds) and the UTC offset (seconds) when
    /// they were written.
    Local {
        days: i32,
        micros: Option<i64>,
        offset: Option<i32>,
    },
    /// An instant (epoch seconds or milliseconds), microseconds since 1970-01-01 UTC.
    Instant(i64),
}

/// Why a text is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Empty,
    Unrecognised,
    TooLong,
    Year(i64),
    Month(u32),
    Day { day: u32, year: i32, month: u32 },
    Time { hour: u32, minute: u32, second: u32 },
    Offset,
    ExcelLeapBug,
    ExcelRange,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Reason::Empty => f.write_str("empty"),
            Reason::Unrecognised => f.write_str("not a date: unrecognised format"),
            Reason::TooLong => f.write_str("not a date: too long"),
            Reason::Year(y) => write!(f, "year {y} out of range"),
            Reason::Month(m) => write!(f, "month {m} out of range"),
            Reason::Day { day, year, month } => {
                write!(f, "day {day} out of range for {year:04}-{month:02}")
            }
            Reason::Time {
                hour,
                minute,
                second,
            } => write!(f, "time {hour:02}:{minute:02}:{second:02} out of range"),
            Reason::Offset => f.write_str("time zone offset out of range"),
            Reason::ExcelLeapBug => {
                f.write_str("Excel serial 60 is 1900-02-29, which does not exist")
            }
            Reason::ExcelRange => {
                write!(f, "Excel serial day out of range (1 to {MAX_EXCEL_SERIAL})")
            }
        }
    }
}

impl Parsed {
    /// The date: as written for a written date, in `zone` for an instant.
    pub fn date(self, zone: &Zone) -> Option<i32> {
        match self {
            Parsed::Local { days, .. } => Some(days),
            Parsed::Instant(us) => {
                let local = us + i64::from(zone.offset_at_utc(us)?) * MICROS_PER_SECOND;
                i32::try_from(local.div_euclid(MICROS_PER_DAY)).ok()
            }
        }
    }

    /// The UTC instant in microseconds; a time without an offset is local time in `zone`.
    pub fn instant(self, zone: &Zone) -> Option<i64> {
        match self {
            Parsed::Instant(us) => Some(us),
            Parsed::Local {
                days,
                micros,
                offset,
            } => {
                let local = i64::from(days) * MICROS_PER_DAY + micros.unwrap_or(0);
                let offset = match offset {
                    Some(o) => o,
                    None => zone.offset_at_local(local)?,
                };
                Some(local - i64::from(offset) * MICROS_PER_SECOND)
            }
        }
    }
}

/// A time zone: a fixed offset or an IANA zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Fixed(i32),
    Named(Tz),
}

impl Zone {
    /// `+08:00`, `+0800`, `+08`, `-05:30`, `UTC`, `Z` or an IANA name such as `Asia/Shanghai`.
    pub fn parse(text: &str) -> Option<Zone> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc")
            || t.eq_ignore_ascii_case("z")
            || t.eq_ignore_ascii_case("gmt")
        {
            return Some(Zone::Fixed(0));
        }
        let mut c = Cursor::new(t.as_bytes());
        if let Some(o) = c.offset()
            && c.done()
        {
            return Some(Zone::Fixed(o));
        }
        t.parse::<Tz>().ok().map(Zone::Named)
    }

    fn offset_at_utc(&self, micros: i64) -> Option<i32> {
        match self {
            Zone::Fixed(o) => Some(*o),
            Zone::Named(tz) => {
                let utc = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
                Some(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
            }
        }
    }

    fn offset_at_local(&self, micros: i64) -> Option<i32> {
        match self {
            Zone::Fixed(o) => Some(*o),
            Zone::Named(tz) => {
                let local = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
                // In a gap (clocks jumping forward) the offset from before the jump.
                let offset = match tz.offset_from_local_datetime(&local) {
                    chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => o,
                    chrono::LocalResult::None => tz.offset_from_utc_datetime(&local),
                };
                Some(offset.fix().local_minus_utc())
            }
        }
    }
}

/// The default zone of naive times: Asia/Shanghai.
pub const DEFAULT_ZONE: Zone = Zone::Named(Tz::Asia__Shanghai);

/// Reads a date or date-time. `buf` is scratch space for width folding.
pub fn parse(text: &str, order: DateOrder, buf: &mut String) -> Result<Parsed, Reason> {
    let mut t = text.trim();
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    if t.len() > MAX_LEN {
        return Err(Reason::TooLong);
    }
    if !t.is_ascii()
        && t.chars()
            .any(|c| matches!(c as u32, 0xFF01..=0xFF5E | 0x3000))
    {
        buf.clear();
        buf.extend(t.chars().map(crate::text::fold_width));
        t = buf.trim();
    }
    let b = t.as_bytes();
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && b[0].is_ascii_digit()
        && let Some(r) = number(t)
    {
        return r;
    }
    let mut c = Cursor::new(b);
    let (days, rest) = if b[0].is_ascii_digit() {
        match numeric_date(&mut c, order) {
            Err(Reason::Unrecognised) if b.iter().any(u8::is_ascii_alphabetic) => {
                c = Cursor::new(b);
                day_month_name(&mut c)?
            }
            r => r?,
        }
    } else {
        named_month_date(&mut c)?
    };
    if rest {
        let (micros, offset) = time_part(&mut c)?;
        Ok(Parsed::Local {
            days,
            micros,
            offset,
        })
    } else {
        Ok(Parsed::Local {
            days,
            micros: None,
            offset: None,
        })
    }
}

/// A plain number: `20240305`, epoch seconds (10 digits) or milliseconds (13), or an Excel
/// serial day (up to 7 digits, or with a fraction). `None` when it is none of these shapes.
fn number(t: &str) -> Option<Result<Parsed, Reason>> {
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) if !f.contains('.') => (i, Some(f)),
        Some(_) => return None,
        None => (t, None),
    };
    match (int.len(), frac) {
        (8, None) => {
            let n = |r: std::ops::Range<usize>| int[r].parse::<u32>().unwrap_or(0);
            Some(ymd(n(0..4) as i32, n(4..6), n(6..8)).map(local_date))
        }
        (10, None) => {
            let s: i64 = int.parse().ok()?;
            Some(Ok(Parsed::Instant(s * MICROS_PER_SECOND)))
        }
        (13, None) => {
            let ms: i64 = int.parse().ok()?;
            Some(Ok(Parsed::Instant(ms * 1_000)))
        }
        (1..=7, _) => Some(excel(int, frac.unwrap_or(""))),
        _ => None,
    }
}

fn local_date(days: i32) -> Parsed {
    Parsed::Local {
        days,
        micros: None,
        offset: None,
    }
}

/// Excel's serial day in the 1900 date system: 1 is 1900-01-01, and 60 the 1900-02-29 that
/// Lotus 1-2-3 invented (and Excel kept), so from 61 on a serial is one more than the days
/// since 1899-12-31. A fraction is the time of day.
fn excel(int: &str, frac: &str) -> Result<Parsed, Reason> {
    let serial: u32 = int.parse().map_err(|_| Reason::Unrecognised)?;
    if serial == 0 || serial > MAX_EXCEL_SERIAL {
        return Err(Reason::ExcelRange);
    }
    if serial == 60 {
        return Err(Reason::ExcelLeapBug);
    }
    // 1899-12-30 is day −25569; before the invented day the serials are one day further on.
    let base = if serial < 60 { -25_568 } else { -25_569 };
    let mut days = base + serial as i32;
    let micros = if frac.is_empty() {
        None
    } else {
        // The fraction of a day, rounded to the microsecond: read up to 15 digits exactly.
        let digits = &frac[..frac.len().min(15)];
        let f: f64 = format!("0.{digits}")
            .parse()
            .map_err(|_| Reason::Unrecognised)?;
        let mut us = (f * MICROS_PER_DAY as f64).round() as i64;
        if us >= MICROS_PER_DAY {
            us -= MICROS_PER_DAY;
            days += 1;
            if serial == MAX_EXCEL_SERIAL {
                return Err(Reason::ExcelRange);
            }
        }
        Some(us)
    };
    Ok(Parsed::Local {
        days,
        micros,
        offset: None,
    })
}

/// The days of a date, or why it does not exist.
fn ymd(y: i32, m: u32, d: u32) -> Result<i32, Reason> {
    if !(1..=9999).contains(&y) {
        return Err(Reason::Year(y.into()));
    }
    if !(1..=12).contains(&m) {
        return Err(Reason::Month(m));
    }
    days_from_civil(y, m, d).ok_or(Reason::Day {
        day: d,
        year: y,
        month: m,
    })
}

/// A byte cursor.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.i += 1;
        }
        self.i - start
    }

    /// A run of 1..=max digits: its value and length.
    fn digits(&mut self, max: usize) -> Option<(u32, usize)> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i - start < max
            && let Some(c) = self.peek().filter(u8::is_ascii_digit)
        {
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        let n = self.i - start;
        (n > 0).then_some((v, n))
    }

    /// An ASCII word, lower-cased into `out`: its length.
    fn word<'o>(&mut self, out: &'o mut [u8; 12]) -> &'o [u8] {
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_alphabetic) {
            if n < out.len() {
                out[n] = c.to_ascii_lowercase();
            }
            n += 1;
            self.i += 1;
        }
        &out[..n.min(out.len())]
    }

    /// `+08:00`, `+0800`, `+08`, `-05:30`: seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.i += 1;
        let (h, n) = self.digits(2)?;
        let m = if n == 2 {
            self.eat(b':');
            self.digits(2)
                .filter(|(_, n)| *n == 2)
                .map_or(0, |(m, _)| m)
        } else {
            0
        };
        (h <= 18 && m <= 59).then(|| sign * (h as i32 * 3600 + m as i32 * 60))
    }
}

/// `2024-03-05`, `2024/3/5`, `2024.03.05`, `05-03-2024`, `2024年3月5日`: the days, and
/// whether text follows (a time).
fn numeric_date(c: &mut Cursor, order: DateOrder) -> Result<(i32, bool), Reason> {
    let (a, an) = c.digits(4).ok_or(Reason::Unrecognised)?;
    if an == 4 && c.eat_str("年") {
        let (m, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
        if !c.eat_str("月") {
            return Err(Reason::Unrecognised);
        }
        let (d, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
        if !(c.eat_str("日") || c.eat_str("号") || c.done()) {
            return Err(Reason::Unrecognised);
        }
        let days = ymd(a as i32, m, d)?;
        return Ok((days, !c.done()));
    }
    let sep = c.peek().filter(|s| matches!(s, b'-' | b'/' | b'.'));
    let Some(sep) = sep else {
        return Err(Reason::Unrecognised);
    };
    c.i += 1;
    let (b, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
    if !c.eat(sep) {
        return Err(Reason::Unrecognised);
    }
    let days = if an == 4 {
        let (d, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
        ymd(a as i32, b, d)?
    } else {
        let (y, yn) = c.digits(4).ok_or(Reason::Unrecognised)?;
        if yn != 4 {
            return Err(Reason::Unrecognised);
        }
        match order {
            DateOrder::Mdy => ymd(y as i32, a, b)?,
            DateOrder::Dmy => ymd(y as i32, b, a)?,
        }
    };
    if c.peek().is_some_and(|x| x.is_ascii_digit()) {
        return Err(Reason::Unrecognised);
    }
    Ok((days, !c.done()))
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `jan`, `january`, `sept`: the month number.
fn month_name(w: &[u8]) -> Option<u32> {
    if w.len() < 3 {
        return None;
    }
    let w = std::str::from_utf8(w).ok()?;
    let w = if w == "sept" { "sep" } else { w };
    MONTHS
        .iter()
        .position(|m| m.starts_with(w))
        .map(|i| i as u32 + 1)
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `Mar 5, 2024`, `March 5 2024`, `Tue, 5 Mar 2024` (dates starting with the day go to
/// [`day_month_name`]).
fn named_month_date(c: &mut Cursor) -> Result<(i32, bool), Reason> {
    let mut w = [0u8; 12];
    let word = c.word(&mut w);
    if word.len() >= 3 {
        let s = std::str::from_utf8(word).unwrap_or("");
        if WEEKDAYS.iter().any(|d| d.starts_with(s)) {
            c.eat(b',');
            c.spaces();
            if c.peek().is_some_and(|x| x.is_ascii_digit()) {
                return day_month_name(c);
            }
            return named_month_date(c);
        }
    }
    let m = month_name(word).ok_or(Reason::Unrecognised)?;
    c.eat(b'.');
    if c.spaces() == 0 && !c.eat(b'-') {
        return Err(Reason::Unrecognised);
    }
    let (d, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
    ordinal_suffix(c);
    c.eat(b',');
    separator_then_year(c, m, d)
}

/// The end of a date with a month name: a separator (spaces, `-`, or the comma just read),
/// then a four-digit year.
fn separator_then_year(c: &mut Cursor, m: u32, d: u32) -> Result<(i32, bool), Reason> {
    if c.spaces() == 0 && !c.eat(b'-') && c.b[c.i - 1] != b',' {
        return Err(Reason::Unrecognised);
    }
    let (y, yn) = c.digits(4).ok_or(Reason::Unrecognised)?;
    if yn != 4 {
        return Err(Reason::Unrecognised);
    }
    let days = ymd(y as i32, m, d)?;
    Ok((days, !c.done()))
}

fn ordinal_suffix(c: &mut Cursor) {
    for s in ["st", "nd", "rd", "th"] {
        if c.eat_str(s) {
            return;
        }
    }
}

/// `5 Mar 2024`, `05-Mar-2024`, `5th March, 2024`.
fn day_month_name(c: &mut Cursor) -> Result<(i32, bool), Reason> {
    let (d, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
    ordinal_suffix(c);
    if c.spaces() == 0 && !c.eat(b'-') {
        return Err(Reason::Unrecognised);
    }
    let mut w = [0u8; 12];
    let m = month_name(c.word(&mut w)).ok_or(Reason::Unrecognised)?;
    c.eat(b'.');
    c.eat(b',');
    separator_then_year(c, m, d)
}

/// What follows a date: `T14:30:00`, ` 14:30`, ` 14时30分15秒`, with fractional seconds and an
/// offset (`Z`, `+08:00`, ` UTC`). The time of day in microseconds and the offset in seconds.
fn time_part(c: &mut Cursor) -> Result<(Option<i64>, Option<i32>), Reason> {
    if !c.eat(b'T') && !c.eat(b't') && c.spaces() == 0 {
        return Err(Reason::Unrecognised);
    }
    c.spaces();
    let (h, _) = c.digits(2).ok_or(Reason::Unrecognised)?;
    let (mut mi, mut s, mut us) = (0, 0, 0i64);
    if c.eat(b':') {
        mi = c
            .digits(2)
            .filter(|(_, n)| *n == 2)
            .ok_or(Reason::Unrecognised)?
            .0;
        if c.eat(b':') {
            s = c
                .digits(2)
                .filter(|(_, n)| *n == 2)
                .ok_or(Reason::Unrecognised)?
                .0;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                while c.peek().is_some_and(|x| x.is_ascii_digit()) {
                    c.i += 1;
                }
                let frac = &c.b[start..c.i];
                if frac.is_empty() {
                    return Err(Reason::Unrecognised);
                }
                for k in 0..6 {
                    us = us * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
                }
            }
        }
    } else if c.eat_str("时") || c.eat_str("点") {
        if let Some((m, _)) = c.digits(2) {
            mi = m;
            if !c.eat_str("分") {
                return Err(Reason::Unrecognised);
            }
            if let Some((sec, _)) = c.digits(2) {
                s = sec;
                if !c.eat_str("秒") {
                    return Err(Reason::Unrecognised);
                }
            }
        }
    } else {
        return Err(Reason::Unrecognised);
    }
    if h > 23 || mi > 59 || s > 59 {
        return Err(Reason::Time {
            hour: h,
            minute: mi,
            second: s,
        });
    }
    let micros = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)) * MICROS_PER_SECOND + us;
    c.spaces();
    let offset = if c.done() {
        None
    } else if c.eat(b'Z') || c.eat(b'z') {
        Some(0)
    } else if c.eat_str("UTC") || c.eat_str("GMT") {
        if c.done() {
            Some(0)
        } else {
            Some(c.offset().ok_or(Reason::Offset)?)
        }
    } else if matches!(c.peek(), Some(b'+' | b'-')) {
        Some(c.offset().ok_or(Reason::Offset)?)
    } else {
        return Err(Reason::Unrecognised);
    };
    if !c.done() {
        return Err(Reason::Unrecognised);
    }
    Ok((Some(micros), offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

    /// A `NaiveDateTime` of days and microseconds, for tests and callers that want chrono.
    fn naive(days: i32, micros: i64) -> Option<NaiveDateTime> {
        let date = NaiveDate::from_ymd_opt(1970, 1, 1)?
            .checked_add_signed(chrono::Duration::days(days.into()))?;
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            (micros / MICROS_PER_SECOND) as u32,
            ((micros % MICROS_PER_SECOND) * 1000) as u32,
        )?;
        Some(date.and_time(time))
    }

    fn date(text: &str, order: DateOrder) -> Result<String, Reason> {
        let p = parse(text, order, &mut String::new())?;
        let days = p.date(&DEFAULT_ZONE).unwrap();
        Ok(naive(days, 0).unwrap().date().to_string())
    }

    fn mdy(text: &str) -> Result<String, Reason> {
        date(text, DateOrder::Mdy)
    }

    fn ts(text: &str, zone: Zone) -> String {
        let us = parse(text, DateOrder::Mdy, &mut String::new())
            .unwrap()
            .instant(&zone)
            .unwrap();
        naive(
            us.div_euclid(MICROS_PER_DAY) as i32,
            us.rem_euclid(MICROS_PER_DAY),
        )
        .unwrap()
        .to_string()
    }

    #[test]
    fn clean_every_listed_date_format() {
        for text in [
            "2024-03-05",
            "2024-03-05T14:30:00+08:00",
            "2024-03-05 14:30:00",
            "2024-03-05T14:30:00Z",
            "2024-03-05T14:30:00.123456-05:00",
            "2024/3/5",
            "2024.03.05",
            "03/05/2024",
            "03-05-2024",
            "20240305",
            "2024年3月5日",
            "2024年03月05日 14时30分",
            "2024年3月5日 14时30分15秒",
            "2024年3月5日 14:30",
            "２０２４年３月５日",
            "Mar 5, 2024",
            "March 5, 2024",
            "march 5 2024",
            "5 Mar 2024",
            "05-Mar-2024",
            "Tue, 5 Mar 2024 14:30:00 GMT",
            "2024/3/5 14:30",
            "  2024-03-05  ",
            "45356",
            "45356.604166667",
        ] {
            assert_eq!(mdy(text).as_deref(), Ok("2024-03-05"), "{text}");
        }
        assert_eq!(
            date("05-03-2024", DateOrder::Dmy).as_deref(),
            Ok("2024-03-05")
        );
        assert_eq!(
            date("05/03/2024", DateOrder::Dmy).as_deref(),
            Ok("2024-03-05")
        );
        assert_eq!(mdy("05-03-2024").as_deref(), Ok("2024-05-03"));
    }

    #[test]
    fn clean_epochs_are_instants() {
        // 2024-03-05 06:30:00 UTC = 14:30 in Shanghai.
        assert_eq!(ts("1709620200", DEFAULT_ZONE), "2024-03-05 06:30:00");
        assert_eq!(ts("1709620200123", DEFAULT_ZONE), "2024-03-05 06:30:00.123");
        // The date of an instant is its date in the zone: 23:30 UTC is the next day in +08.
        assert_eq!(mdy("1709681400").as_deref(), Ok("2024-03-06"));
    }

    #[test]
    fn clean_times_become_utc() {
        assert_eq!(
            ts("2024-03-05 14:30:00", DEFAULT_ZONE),
            "2024-03-05 06:30:00"
        );
        assert_eq!(
            ts("2024-03-05T14:30:00+08:00", Zone::Fixed(0)),
            "2024-03-05 06:30:00"
        );
        assert_eq!(
            ts("2024-03-05T14:30:00Z", DEFAULT_ZONE),
            "2024-03-05 14:30:00"
        );
        assert_eq!(
            ts("2024-03-05 14:30", Zone::parse("UTC").unwrap()),
            "2024-03-05 14:30:00"
        );
        assert_eq!(
            ts("2024-03-05 14:30", Zone::parse("-05:00").unwrap()),
            "2024-03-05 19:30:00"
        );
        // New York in winter (EST) and summer (EDT).
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(ts("2024-01-05 12:00", ny), "2024-01-05 17:00:00");
        assert_eq!(ts("2024-07-05 12:00", ny), "2024-07-05 16:00:00");
        assert_eq!(ts("2024-03-05", DEFAULT_ZONE), "2024-03-04 16:00:00");
        assert_eq!(
            ts("2024年3月5日 14时30分15秒", Zone::Fixed(0)),
            "2024-03-05 14:30:15"
        );
        assert!(Zone::parse("Mars/Olympus").is_none());
        // A written date keeps its date whatever its offset.
        assert_eq!(
            mdy("2024-03-05T23:30:00-05:00").as_deref(),
            Ok("2024-03-05")
        );
    }

    #[test]
    fn clean_excel_serials_follow_the_1900_system() {
        assert_eq!(mdy("1").as_deref(), Ok("1900-01-01"));
        assert_eq!(mdy("59").as_deref(), Ok("1900-02-28"));
        assert_eq!(mdy("60"), Err(Reason::ExcelLeapBug));
        assert_eq!(mdy("61").as_deref(), Ok("1900-03-01"));
        assert_eq!(mdy("25569").as_deref(), Ok("1970-01-01"));
        assert_eq!(mdy("2958465").as_deref(), Ok("9999-12-31"));
        assert_eq!(mdy("0"), Err(Reason::ExcelRange));
        assert_eq!(mdy("2958466"), Err(Reason::ExcelRange));
        assert_eq!(ts("45356.5", Zone::Fixed(0)), "2024-03-05 12:00:00");
        assert_eq!(ts("45356.75", Zone::Fixed(0)), "2024-03-05 18:00:00");
        assert_eq!(
            ts("45356.999999999999", Zone::Fixed(0)),
            "2024-03-06 00:00:00"
        );
    }

    #[test]
    fn clean_impossible_dates_say_why() {
        let why = |t: &str| mdy(t).unwrap_err().to_string();
        assert_eq!(why(""), "empty");
        assert_eq!(why("   "), "empty");
        assert_eq!(why("2023-02-29"), "day 29 out of range for 2023-02");
        assert_eq!(why("2024-02-30"), "day 30 out of range for 2024-02");
        assert_eq!(why("2024-13-01"), "month 13 out of range");
        assert_eq!(why("13/05/2024"), "month 13 out of range");
        assert_eq!(why("2024-03-05 25:61"), "time 25:61:00 out of range");
        assert_eq!(why("0000-01-01"), "year 0 out of range");
        assert_eq!(why("hello"), "not a date: unrecognised format");
        assert_eq!(why("2024-03-05 garbage"), "not a date: unrecognised format");
        assert_eq!(why("123456789"), "not a date: unrecognised format");
        assert_eq!(why("1.2.3"), "not a date: unrecognised format");
        assert_eq!(why("Foo 5, 2024"), "not a date: unrecognised format");
        assert_eq!(why(&"9".repeat(10_000)), "not a date: too long");
        assert_eq!(
            why("2024-03-05T14:30:00+99:00"),
            "time zone offset out of range"
        );
        for garbage in [
            "😀",
            "年月日",
            "2024年",
            "2024-",
            "T",
            "-",
            ".",
            "2024-03-05T",
            "May",
            "٣/٥/٢٠٢٤",
        ] {
            assert!(mdy(garbage).is_err(), "{garbage}");
        }
    }
}
