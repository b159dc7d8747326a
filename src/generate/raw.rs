//! `persona gen --raw`: the same customers as raw, messy source exports, with every injected
//! defect recorded, so cleaning and identity stitching can be checked against the truth.
//!
//! - `raw/crm_customers.csv`: CRM export; phones, e-mails, dates, genders and cities in many
//!   spellings; about 8% of people entered twice under a second CRM id; a few bad rows.
//! - `raw/orders.csv`: order export with mixed time formats, amounts such as `¥1,234.50`,
//!   statuses in Chinese or English, a few exact duplicate rows and unreadable values.
//! - `raw/web_events.ndjson`: app and web events by CRM id or anonymous device; a few lines
//!   that are not JSON.
//! - `raw/social_comments.ndjson`: comments by social handle, some with a phone or e-mail.
//! - `raw/feedback.csv`: ratings and comments per order number.
//! - `truth/`: `customers.parquet` (the clean values), `crm_map.csv` (crm_id → customer_id),
//!   `defects.csv` (file, line, kind of every injected defect).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::model::{Customer, DAY_US, World, civil_from_days};
use super::rng::Rng;
use super::vocab::{CHANNELS, CITIES, province_full};
use crate::error::{PersonaError, Result};

const S_RAW: u64 = 101;

/// A text file written line by line, renamed into place when complete.
struct Out {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    w: BufWriter<std::fs::File>,
    /// Lines written, the header included.
    lines: u64,
}

impl Out {
    fn create(path: &Path) -> Result<Self> {
        let tmp = path.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(|e| PersonaError::io(&tmp, &e))?;
        Ok(Out {
            path: path.to_path_buf(),
            tmp,
            w: BufWriter::new(f),
            lines: 0,
        })
    }

    fn line(&mut self, s: &str) -> Result<u64> {
        self.w
            .write_all(s.as_bytes())
            .and_then(|_| self.w.write_all(b"\n"))
            .map_err(|e| PersonaError::io(&self.path, &e))?;
        self.lines += 1;
        Ok(self.lines)
    }

    fn finish(mut self) -> Result<()> {
        self.w
            .flush()
            .map_err(|e| PersonaError::io(&self.path, &e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| PersonaError::io(&self.path, &e))
    }
}

/// Quotes a CSV field when it needs it.
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A bijection on ten-digit numbers, so CRM ids reveal nothing about who is a duplicate.
fn crm_id(record: u64) -> String {
    format!(
        "{:010}",
        (record.wrapping_mul(7_919_000_003) + 1_234_567) % 10_000_000_000
    )
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn messy_phone(r: &mut Rng, e164: &str) -> String {
    let n = &e164[3..];
    match r.below(8) {
        0 => n.to_string(),
        1 => format!("{} {} {}", &n[..3], &n[3..7], &n[7..]),
        2 => format!("{}-{}-{}", &n[..3], &n[3..7], &n[7..]),
        3 => format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]),
        4 => format!("0086-{n}"),
        5 => format!("(+86){n}"),
        6 => fullwidth(n),
        _ => e164.to_string(),
    }
}

fn messy_email(r: &mut Rng, e: &str) -> String {
    match r.below(5) {
        0 => e.to_ascii_uppercase(),
        1 => format!("  {e} "),
        2 => {
            let (u, d) = e.split_once('@').unwrap_or((e, ""));
            format!(
                "{}{}@{}",
                u[..1].to_ascii_uppercase(),
                &u[1..],
                d.to_ascii_uppercase()
            )
        }
        _ => e.to_string(),
    }
}

fn messy_date(r: &mut Rng, day: i32) -> String {
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days(day);
    match r.below(6) {
        0 => format!("{y}/{m}/{d}"),
        1 => format!("{y}年{m}月{d}日"),
        2 => format!("{y}{m:02}{d:02}"),
        3 => format!("{y}.{m:02}.{d:02}"),
        4 => format!("{} {d}, {y}", MON[(m - 1) as usize]),
        _ => format!("{y}-{m:02}-{d:02}"),
    }
}

fn messy_timestamp(r: &mut Rng, ts_us: i64) -> String {
    let day = ts_us.div_euclid(DAY_US) as i32;
    let secs = ts_us.rem_euclid(DAY_US) / 1_000_000;
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let (y, m, d) = civil_from_days(day);
    // Epoch values are UTC; the others are Beijing wall-clock time, as exports usually are.
    let epoch = ts_us / 1_000_000 - 8 * 3600;
    match r.below(6) {
        0 => format!("{y}/{m}/{d} {h:02}:{mi:02}"),
        1 => format!("{y}年{m}月{d}日 {h}时{mi}分"),
        2 => epoch.to_string(),
        3 => (epoch * 1000).to_string(),
        4 => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}+08:00"),
        _ => format!("{y}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
    }
}

fn messy_gender(r: &mut Rng, female: Option<bool>) -> &'static str {
    match female {
        None => r.pick::<&str>(&["", "未知", "unknown"]),
        Some(true) => r.pick::<&str>(&["女", "F", "female", "2", "Female"]),
        Some(false) => r.pick::<&str>(&["男", "M", "male", "1", "Male"]),
    }
}

fn messy_city(r: &mut Rng, city: usize) -> String {
    let (zh, province, en, _) = CITIES[city];
    match r.below(6) {
        0 => format!("{zh}市"),
        1 => en.to_string(),
        2 => en.to_ascii_lowercase(),
        3 => format!(" {zh} "),
        4 if zh != province => format!("{}{zh}市", province_full(province)),
        _ => zh.to_string(),
    }
}

fn messy_amount(r: &mut Rng, cents: i64) -> String {
    let (yuan, fen) = (cents / 100, cents % 100);
    let grouped = {
        let s = yuan.to_string();
        let mut g = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                g.push(',');
            }
            g.push(ch);
        }
        g
    };
    match r.below(5) {
        0 => format!("¥{grouped}.{fen:02}"),
        1 => format!("RMB {yuan}.{fen:02}"),
        2 => format!("{yuan}.{fen:02}元"),
        _ => format!("{yuan}.{fen:02}"),
    }
}

fn messy_status(r: &mut Rng, status: &str) -> &'static str {
    let zh = r.chance(0.4);
    match (status, zh) {
        ("completed", true) => "已完成",
        ("refunded", true) => "已退款",
        ("cancelled", true) => "已取消",
        ("shipped", true) => "已发货",
        ("completed", false) => r.pick::<&str>(&["completed", "COMPLETED", "Completed"]),
        ("refunded", false) => "refunded",
        ("cancelled", false) => "cancelled",
        _ => "shipped",
    }
}

/// The project of a raw export: each source with its cleaning, rules, deduplication and identity
/// keys for `persona ingest`, and the truth as plain tables.
const RAW_TOML: &str = include_str!("raw_persona.toml");

/// Writes the raw sources and the truth for `world` into `out`.
pub fn write(world: &World, out: &Path) -> Result<()> {
    let raw = out.join("raw");
    let truth = out.join("truth");
    for d in [&raw, &truth] {
        std::fs::create_dir_all(d).map_err(|e| PersonaError::io(d, &e))?;
    }
    let mut crm = Out::create(&raw.join("crm_customers.csv"))?;
    let mut orders = Out::create(&raw.join("orders.csv"))?;
    let mut events = Out::create(&raw.join("web_events.ndjson"))?;
    let mut social = Out::create(&raw.join("social_comments.ndjson"))?;
    let mut feedback = Out::create(&raw.join("feedback.csv"))?;
    let mut map = Out::create(&truth.join("crm_map.csv"))?;
    let mut defects = Out::create(&truth.join("defects.csv"))?;
    crm.line("crm_id,name,gender,birthday,mobile,email,city,register_time,source_channel")?;
    orders.line("order_no,crm_id,order_time,amount,status,channel")?;
    feedback.line("feedback_id,order_no,rating,nps,comment,submitted")?;
    map.line("crm_id,customer_id,is_duplicate")?;
    defects.line("file,line,kind")?;
    let mut defect = |file: &str, line: u64, kind: &str| {
        defects.line(&format!("{file},{line},{kind}")).map(|_| ())
    };

    let mut next_duplicate = world.customers;
    let mut clean: Vec<Customer> = Vec::with_capacity(world.customers as usize);
    for id in 1..=world.customers {
        let c = world.customer(id as i64);
        let mut r = Rng::stream(world.seed, S_RAW, id);
        let primary = crm_id(id - 1);
        let mut ids = vec![primary.clone()];
        let copies = if r.chance(0.08) { 2 } else { 1 };
        for copy in 0..copies {
            let this_id = if copy == 0 {
                primary.clone()
            } else {
                next_duplicate += 1;
                let d = crm_id(next_duplicate - 1);
                ids.push(d.clone());
                d
            };
            map.line(&format!("{this_id},{id},{}", copy > 0))?;
            let signup_ts = c.latent.signup as i64 * DAY_US
                + 9 * 3_600_000_000
                + r.below(36_000) as i64 * 1_000_000;
            let mut fields = vec![
                this_id.clone(),
                csv(&c.name),
                messy_gender(&mut r, c.female).to_string(),
                // `Mar 5, 2024` holds a comma: quoted, as any CSV writer would.
                c.birth
                    .map(|b| csv(&messy_date(&mut r, b)))
                    .unwrap_or_default(),
                messy_phone(&mut r, &c.phone),
                c.email
                    .as_deref()
                    .map(|e| messy_email(&mut r, e))
                    .unwrap_or_default(),
                csv(&messy_city(&mut r, c.city)),
                messy_timestamp(&mut r, signup_ts),
                CHANNELS[c.channel].0.to_string(),
            ];
            // A second entry of a person often lacks the e-mail or has another channel.
            if copy > 0 && r.chance(0.3) {
                fields[5].clear();
            }
            let kind = if r.chance(0.01) {
                match r.below(4) {
                    0 => {
                        fields[3] = "1990-13-45".into();
                        Some("bad_date")
                    }
                    1 => {
                        fields[4] = format!("{}", r.below(100_000));
                        Some("bad_phone")
                    }
                    2 => {
                        fields.push("extra".into());
                        Some("ragged_row")
                    }
                    _ => {
                        fields[5] = "not-an-email".into();
                        Some("bad_email")
                    }
                }
            } else {
                None
            };
            let line = crm.line(&fields.join(","))?;
            if let Some(k) = kind {
                defect("raw/crm_customers.csv", line, k)?;
            }
            if copy > 0 {
                defect("raw/crm_customers.csv", line, "duplicate_person")?;
            }
        }

        let all_orders = world.orders(&c);
        for o in &all_orders {
            let who = ids[r.below(ids.len() as u64) as usize].clone();
            let mut amount = messy_amount(&mut r, o.gross_cents - o.discount_cents);
            let mut time = messy_timestamp(&mut r, o.ts);
            let bad = if r.chance(0.004) {
                amount = "N/A".into();
                Some("bad_amount")
            } else if r.chance(0.003) {
                time = "2024-02-30 25:61".into();
                Some("bad_timestamp")
            } else {
                None
            };
            let text = format!(
                "SO{:012},{who},{},{},{},{}",
                o.id,
                csv(&time),
                csv(&amount),
                messy_status(&mut r, o.status),
                o.channel
            );
            let line = orders.line(&text)?;
            if let Some(k) = bad {
                defect("raw/orders.csv", line, k)?;
            }
            if r.chance(0.01) {
                let dup = orders.line(&text)?;
                defect("raw/orders.csv", dup, "exact_duplicate")?;
            }
        }

        let mut buf = String::new();
        for e in world.events(&c) {
            buf.clear();
            let uid = e
                .customer
                .map(|_| format!("\"{}\"", ids[0]))
                .unwrap_or_else(|| "null".into());
            let sku = e
                .product
                .map(|p| world.products[p].id.to_string())
                .unwrap_or_else(|| "null".into());
            let _ = write!(
                buf,
                "{{\"ts\":{},\"uid\":{uid},\"device\":\"{}\",\"session\":\"{:016x}\",\"event\":\"{}\",\"sku\":{sku},\"platform\":\"{}\"}}",
                e.ts / 1000 - 8 * 3_600_000,
                c.devices[e.device].0,
                e.session,
                e.kind,
                c.devices[e.device].1
            );
            if r.chance(0.002) {
                buf.truncate(buf.len() / 2);
                let line = events.line(&buf)?;
                defect("raw/web_events.ndjson", line, "malformed_json")?;
            } else {
                events.line(&buf)?;
            }
        }

        for (k, s) in world.comments(&c).iter().enumerate() {
            // The id makes handles unique: two people must never share one.
            let handle = format!(
                "@{}{}",
                c.email
                    .as_deref()
                    .and_then(|e| e.split('@').next())
                    .unwrap_or("fan"),
                c.id
            );
            let contact = match r.below(3) {
                0 => format!(",\"phone\":\"{}\"", messy_phone(&mut r, &c.phone)),
                1 if c.email.is_some() => format!(
                    ",\"email\":\"{}\"",
                    c.email.as_deref().unwrap_or_default().trim()
                ),
                _ => String::new(),
            };
            let text = s.text.replace('\\', "\\\\").replace('"', "\\\"");
            social.line(&format!(
                "{{\"post_id\":\"{}-{k}\",\"platform\":\"{}\",\"handle\":\"{handle}\"{contact},\"text\":\"{text}\",\"likes\":{},\"shares\":{},\"created\":\"{}\"}}",
                c.id, s.platform, s.likes, s.shares, messy_timestamp(&mut r, s.ts)
            ))?;
        }

        for f in world.feedback(&c, &all_orders) {
            feedback.line(&format!(
                "FB{:010},SO{:012},{},{},{},{}",
                f.order,
                f.order,
                f.rating,
                f.nps.map(|n| n.to_string()).unwrap_or_default(),
                csv(f.text.as_deref().unwrap_or("")),
                csv(&messy_timestamp(&mut r, f.ts))
            ))?;
        }
        clean.push(c);
    }
    for o in [crm, orders, events, social, feedback, map, defects] {
        o.finish()?;
    }
    write_truth_customers(&clean, &truth.join("customers.parquet"))?;
    let toml = RAW_TOML;
    let path = out.join("persona.toml");
    std::fs::write(&path, toml).map_err(|e| PersonaError::io(&path, &e))
}

fn write_truth_customers(customers: &[Customer], path: &Path) -> Result<()> {
    use std::sync::Arc;

    use datafusion::arrow::array::{Date32Builder, Int64Builder, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    let mut id = Int64Builder::new();
    let mut crm = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut gender = StringBuilder::new();
    let mut birth = Date32Builder::new();
    let mut phone = StringBuilder::new();
    let mut email = StringBuilder::new();
    let mut city = StringBuilder::new();
    let mut signup = Date32Builder::new();
    for c in customers {
        id.append_value(c.id);
        crm.append_value(crm_id(c.id as u64 - 1));
        name.append_value(&c.name);
        gender.append_option(c.female.map(|f| if f { "F" } else { "M" }));
        birth.append_option(c.birth);
        phone.append_value(&c.phone);
        email.append_option(c.email.as_deref());
        city.append_value(CITIES[c.city].0);
        signup.append_value(c.latent.signup);
    }
    let schema = Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("crm_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, true),
        Field::new("birth_date", DataType::Date32, true),
        Field::new("phone", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, false),
        Field::new("signup_date", DataType::Date32, false),
    ]);
    let batch = datafusion::arrow::array::RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(id.finish()),
            Arc::new(crm.finish()),
            Arc::new(name.finish()),
            Arc::new(gender.finish()),
            Arc::new(birth.finish()),
            Arc::new(phone.finish()),
            Arc::new(email.finish()),
            Arc::new(city.finish()),
            Arc::new(signup.finish()),
        ],
    )
    .expect("columns match the schema");
    super::write_parquet(path, &batch)
}
