//! Session settings under the `persona.` prefix (`SET persona.as_of = '2024-06-30'`).
//!
//! They live in DataFusion's `ConfigOptions` as an extension, so they travel with the session
//! to every function invocation (`ScalarFunctionArgs::config_options`) and, on a cluster, with
//! the query. Values are checked when set, so a bad date fails at `SET`, not in a later query.

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, plan_err};

/// The `persona.*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaOptions {
    /// The date every profile is computed as of, `YYYY-MM-DD`; read in SQL through `as_of()`.
    pub as_of: Option<String>,
    /// Default region for phone numbers and addresses (ISO 3166 alpha-2).
    pub region: String,
    /// The language of labels (segments, tiers, tags): `zh` or `en`.
    pub lang: Lang,
    /// How RFM scores are computed.
    pub rfm_method: RfmMethod,
    /// Break points for the `breaks` method.
    pub rfm_breaks: RfmBreaks,
    /// Loyalty points per completed order.
    pub loyalty_points_per_order: f64,
    /// Loyalty points per unit of money spent.
    pub loyalty_points_per_unit: f64,
    /// Loyalty levels as `name:min_points` pairs in ascending order; empty for the default
    /// levels in the session's language.
    pub loyalty_levels: Vec<(String, f64)>,
    /// Weights of purchases, carts and views in the recommendations' co-occurrence.
    pub recs_purchase_weight: f64,
    pub recs_cart_weight: f64,
    pub recs_view_weight: f64,
    /// The file `id_key` keeps text ids in.
    pub id_dictionary: String,
    /// How `std_date` reads `05-03-2024` and `03/05/2024`: month first or day first.
    pub date_order: DateOrder,
    /// Whether partial aggregations by one integer key run on a direct-mapped table (the
    /// engine's `DenseAggregateExec`) rather than DataFusion's hash table.
    pub dense_grouping: bool,
    /// Whether views that aggregate, join or window (models) are computed once per session and
    /// as-of date and read from memory afterwards (true), or planned again at every reference.
    pub model_cache: bool,
}

impl Default for PersonaOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Label language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// The order of day and month in dates like `05-03-2024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// Month first, as in the US: `03/05/2024` is 5 March.
    Mdy,
    /// Day first, as in most of Europe: `05-03-2024` is 5 March.
    Dmy,
}

impl DateOrder {
    /// Parses `mdy` or `dmy`, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "mdy" => Some(DateOrder::Mdy),
            "dmy" => Some(DateOrder::Dmy),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DateOrder::Mdy => "mdy",
            DateOrder::Dmy => "dmy",
        }
    }
}

/// RFM scoring methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RfmMethod {
    /// Scores 1..5 by rank: 1 + floor(5 (rank − 1) / n), ties sharing the lowest rank.
    Quintile,
    /// Scores 1..4 the same way.
    Quartile,
    /// 2 when at least as good as the mean, 1 otherwise.
    Mean,
    /// 1 + the number of break points passed.
    Breaks,
}

impl RfmMethod {
    /// Parses a method name, case-insensitively.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "quintile" => Ok(RfmMethod::Quintile),
            "quartile" => Ok(RfmMethod::Quartile),
            "mean" => Ok(RfmMethod::Mean),
            "breaks" => Ok(RfmMethod::Breaks),
            _ => plan_err!(
                "persona.rfm.method must be 'quintile', 'quartile', 'mean' or 'breaks', got '{}'",
                text.trim()
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RfmMethod::Quintile => "quintile",
            RfmMethod::Quartile => "quartile",
            RfmMethod::Mean => "mean",
            RfmMethod::Breaks => "breaks",
        }
    }
}

/// Ascending break points for recency (days), frequency (orders) and monetary value.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmBreaks {
    pub r: Vec<f64>,
    pub f: Vec<f64>,
    pub m: Vec<f64>,
}

impl Default for RfmBreaks {
    fn default() -> Self {
        RfmBreaks {
            r: vec![30.0, 90.0, 180.0, 365.0],
            f: vec![2.0, 3.0, 5.0, 8.0],
            m: vec![100.0, 300.0, 1000.0, 3000.0],
        }
    }
}

impl RfmBreaks {
    /// Parses `r:30,90,180,365;f:2,3,5,8;m:100,300,1000,3000`; dimensions left out keep their
    /// defaults. Each list must be ascending, with one to four points.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = RfmBreaks::default();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((dim, list)) = part.split_once(':') else {
                return plan_err!(
                    "persona.rfm.breaks must look like 'r:30,90,180,365;f:2,3,5,8;m:100,300,1000,3000', got '{text}'"
                );
            };
            let points: Vec<f64> = list
                .split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .or_else(|_| plan_err!("persona.rfm.breaks: '{list}' is not a list of numbers"))?;
            if points.is_empty() || points.len() > 4 || points.windows(2).any(|w| w[0] >= w[1]) {
                return plan_err!(
                    "persona.rfm.breaks: the {dim} break points must be one to four ascending numbers, got '{list}'"
                );
            }
            match dim.trim().to_ascii_lowercase().as_str() {
                "r" => out.r = points,
                "f" => out.f = points,
                "m" => out.m = points,
                other => {
                    return plan_err!(
                        "persona.rfm.breaks: unknown dimension '{other}'; use r, f and m"
                    );
                }
            }
        }
        Ok(out)
    }

    fn render(&self) -> String {
        let list = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        format!(
            "r:{};f:{};m:{}",
            list(&self.r),
            list(&self.f),
            list(&self.m)
        )
    }
}

impl PersonaOptions {
    /// The defaults: region CN, Chinese labels, quintile RFM scores, 10 points an order and
    /// 1 point per unit spent.
    pub fn new() -> Self {
        Self {
            as_of: None,
            region: "CN".to_string(),
            lang: Lang::Zh,
            rfm_method: RfmMethod::Quintile,
            rfm_breaks: RfmBreaks::default(),
            loyalty_points_per_order: 10.0,
            loyalty_points_per_unit: 1.0,
            loyalty_levels: Vec::new(),
            recs_purchase_weight: 1.0,
            recs_cart_weight: 0.5,
            recs_view_weight: 0.2,
            id_dictionary: String::new(),
            date_order: DateOrder::Mdy,
            dense_grouping: true,
            model_cache: true,
        }
    }

    /// The as-of date as days since the Unix epoch, if set.
    pub fn as_of_days(&self) -> Option<i32> {
        self.as_of.as_deref().and_then(|s| parse_date_days(s).ok())
    }

    /// The loyalty levels in force: the configured ones, or the defaults in the session's
    /// language.
    pub fn loyalty_levels(&self) -> Vec<(String, f64)> {
        if !self.loyalty_levels.is_empty() {
            return self.loyalty_levels.clone();
        }
        let names: [&str; 4] = match self.lang {
            Lang::Zh => ["普通会员", "银卡会员", "金卡会员", "钻石会员"],
            Lang::En => ["Member", "Silver", "Gold", "Diamond"],
        };
        names
            .iter()
            .zip([0.0, 1_000.0, 5_000.0, 20_000.0])
            .map(|(n, p)| (n.to_string(), p))
            .collect()
    }
}

/// Every setting: its key under `persona.`, and its description.
const SETTINGS: [(&str, &str); 15] = [
    (
        "as_of",
        "The date every profile is computed as of (YYYY-MM-DD); as_of() returns it.",
    ),
    (
        "region",
        "Default region for phone numbers and addresses (ISO 3166 alpha-2).",
    ),
    (
        "lang",
        "Language of segment, tier and tag labels: zh (default) or en.",
    ),
    (
        "rfm.method",
        "RFM scoring: quintile (default), quartile, mean or breaks.",
    ),
    (
        "rfm.breaks",
        "Break points for rfm.method = breaks, as 'r:30,90,180,365;f:2,3,5,8;m:100,300,1000,3000'.",
    ),
    (
        "loyalty.points_per_order",
        "Loyalty points per completed order (default 10).",
    ),
    (
        "loyalty.points_per_unit",
        "Loyalty points per unit of money spent (default 1).",
    ),
    (
        "loyalty.levels",
        "Loyalty levels as 'name:min_points,...' ascending; default 普通会员/银卡会员/金卡会员/钻石会员 at 0, 1000, 5000, 20000.",
    ),
    (
        "recs.purchase_weight",
        "Weight of a purchase in the recommendations' item co-occurrence (default 1).",
    ),
    (
        "recs.cart_weight",
        "Weight of an add-to-cart in the recommendations' item co-occurrence (default 0.5).",
    ),
    (
        "recs.view_weight",
        "Weight of a product view in the recommendations' item co-occurrence (default 0.2).",
    ),
    (
        "id_dictionary",
        "The file id_key keeps text ids in (default .persona/id_dictionary.txt in the project).",
    ),
    (
        "date_order",
        "How std_date reads 05-03-2024 and 03/05/2024: mdy (month first, default) or dmy (day first).",
    ),
    (
        "dense_grouping",
        "Whether GROUP BY one integer key aggregates through a table indexed by the key (true, default) or DataFusion's hash table (false).",
    ),
    (
        "model_cache",
        "Whether views that aggregate, join or window are computed once per session and as-of date and then read from memory (true, default), or computed again at every reference (false).",
    ),
];

fn parse_number(key: &str, value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => plan_err!("persona.{key} must be a number of at least 0, got '{value}'"),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => plan_err!("persona.{key} must be true or false, got '{value}'"),
    }
}

fn parse_levels(value: &str) -> Result<Vec<(String, f64)>> {
    let bad = || {
        plan_err!(
            "persona.loyalty.levels must look like 'Member:0,Silver:1000,Gold:5000', ascending, got '{value}'"
        )
    };
    let mut levels = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, min)) = part.rsplit_once(':') else {
            return bad();
        };
        let Ok(min) = min.trim().parse::<f64>() else {
            return bad();
        };
        levels.push((name.trim().to_string(), min));
    }
    if levels.windows(2).any(|w| w[0].1 >= w[1].1) {
        return bad();
    }
    Ok(levels)
}

impl ExtensionOptions for PersonaOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let trimmed = value.trim();
        match key {
            "as_of" => {
                if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("null") {
                    self.as_of = None;
                } else {
                    parse_date_days(trimmed)?;
                    self.as_of = Some(trimmed.to_string());
                }
            }
            "region" => {
                if trimmed.len() != 2 || !trimmed.chars().all(|c| c.is_ascii_alphabetic()) {
                    return plan_err!(
                        "persona.region must be a two-letter region code such as 'CN', got '{trimmed}'"
                    );
                }
                self.region = trimmed.to_ascii_uppercase();
            }
            "lang" => {
                self.lang = match trimmed.to_ascii_lowercase().as_str() {
                    "zh" | "cn" | "zh-cn" => Lang::Zh,
                    "en" => Lang::En,
                    _ => return plan_err!("persona.lang must be 'zh' or 'en', got '{trimmed}'"),
                }
            }
            "rfm.method" => self.rfm_method = RfmMethod::parse(trimmed)?,
            "rfm.breaks" => self.rfm_breaks = RfmBreaks::parse(trimmed)?,
            "loyalty.points_per_order" => {
                self.loyalty_points_per_order = parse_number(key, trimmed)?
            }
            "loyalty.points_per_unit" => self.loyalty_points_per_unit = parse_number(key, trimmed)?,
            "loyalty.levels" => self.loyalty_levels = parse_levels(trimmed)?,
            "recs.purchase_weight" => self.recs_purchase_weight = parse_number(key, trimmed)?,
            "recs.cart_weight" => self.recs_cart_weight = parse_number(key, trimmed)?,
            "recs.view_weight" => self.recs_view_weight = parse_number(key, trimmed)?,
            "id_dictionary" => self.id_dictionary = trimmed.to_string(),
            "date_order" => {
                let Some(order) = DateOrder::parse(trimmed) else {
                    return plan_err!("persona.date_order must be 'mdy' or 'dmy', got '{trimmed}'");
                };
                self.date_order = order;
            }
            "dense_grouping" => self.dense_grouping = parse_bool(key, trimmed)?,
            "model_cache" => self.model_cache = parse_bool(key, trimmed)?,
            _ => {
                let known: Vec<String> = SETTINGS
                    .iter()
                    .map(|(k, _)| format!("persona.{k}"))
                    .collect();
                return plan_err!(
                    "unknown setting 'persona.{key}'; persona's settings are {}",
                    known.join(", ")
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        SETTINGS
            .iter()
            .map(|(key, description)| {
                let value = match *key {
                    "as_of" => self.as_of.clone(),
                    "region" => Some(self.region.clone()),
                    "lang" => Some(self.lang.name().to_string()),
                    "rfm.method" => Some(self.rfm_method.name().to_string()),
                    "rfm.breaks" => Some(self.rfm_breaks.render()),
                    "loyalty.points_per_order" => Some(self.loyalty_points_per_order.to_string()),
                    "loyalty.points_per_unit" => Some(self.loyalty_points_per_unit.to_string()),
                    "recs.purchase_weight" => Some(self.recs_purchase_weight.to_string()),
                    "recs.cart_weight" => Some(self.recs_cart_weight.to_string()),
                    "recs.view_weight" => Some(self.recs_view_weight.to_string()),
                    "id_dictionary" => Some(self.id_dictionary.clone()),
                    "date_order" => Some(self.date_order.name().to_string()),
                    "dense_grouping" => Some(self.dense_grouping.to_string()),
                    "model_cache" => Some(self.model_cache.to_string()),
                    _ => Some(
                        self.loyalty_levels()
                            .iter()
                            .map(|(n, p)| format!("{n}:{p}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                };
                ConfigEntry {
                    key: format!("persona.{key}"),
                    value,
                    description,
                }
            })
            .collect()
    }
}

impl ConfigExtension for PersonaOptions {
    const PREFIX: &'static str = "persona";
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, with a message that says what was expected.
pub fn parse_date_days(s: &str) -> Result<i32> {
    let bad = || plan_err!("persona.as_of must be a date like '2024-06-30', got '{s}'");
    let mut parts = s.trim().splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return bad();
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return bad();
    };
    match days_from_civil(y, m, d) {
        Some(days) => Ok(days),
        None => bad(),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` when the date does not exist.
/// (Howard Hinnant's `days_from_civil`.)
pub fn days_from_civil(y: i32, m: u32, d: u32) -> Option<i32> {
    if !(1..=12).contains(&m) || d == 0 || !(1..=9999).contains(&y) {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_len[(m - 1) as usize] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2024, 2, 29), Some(19_782));
        assert_eq!(days_from_civil(2023, 2, 29), None);
        assert_eq!(days_from_civil(2024, 13, 1), None);
    }

    #[test]
    fn setting_a_bad_as_of_is_refused_with_the_value() {
        let mut o = PersonaOptions::new();
        let err = o.set("as_of", "2024-13-01").unwrap_err().to_string();
        assert!(err.contains("'2024-13-01'"), "{err}");
        o.set("as_of", "2024-06-30").unwrap();
        assert_eq!(o.as_of_days(), Some(19_904));
    }

    #[test]
    fn clean_date_order_is_mdy_or_dmy() {
        let mut o = PersonaOptions::new();
        assert_eq!(o.date_order, DateOrder::Mdy);
        o.set("date_order", " DMY ").unwrap();
        assert_eq!(o.date_order, DateOrder::Dmy);
        let err = o.set("date_order", "ymd").unwrap_err().to_string();
        assert!(err.contains("'mdy' or 'dmy'"), "{err}");
        assert_eq!(o.date_order, DateOrder::Dmy);
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn rfm_breaks_parse_and_reject_unordered_points() {
        let b = RfmBreaks::parse("r:7,30;m:50,100,200").unwrap();
        assert_eq!(b.r, vec![7.0, 30.0]);
        assert_eq!(b.f, RfmBreaks::default().f);
        assert!(RfmBreaks::parse("f:3,2").is_err());
        assert!(RfmBreaks::parse("x:1").is_err());
    }

    #[test]
    fn every_setting_round_trips_through_its_entry() {
        let mut o = PersonaOptions::new();
        o.set("loyalty.levels", "A:0,B:10").unwrap();
        o.set("lang", "en").unwrap();
        for e in o.entries() {
            let key = e.key.strip_prefix("persona.").unwrap().to_string();
            if let Some(v) = e.value {
                let mut again = o.clone();
                again.set(&key, &v).unwrap();
                assert_eq!(again, o, "{key}");
            }
        }
    }
}
