//! Session settings under the `persona.` prefix (`SET persona.as_of = '2024-06-30'`).
//!
//! They live in DataFusion's `ConfigOptions` as an extension, so they travel with the session
//! to every function invocation (`ScalarFunctionArgs::config_options`) and, on a cluster, with
//! the query. Values are checked when set, so a bad date fails at `SET`, not in a later query.

use std::any::Any;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, plan_err};

/// The `persona.*` settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonaOptions {
    /// The date every profile is computed as of, `YYYY-MM-DD`; read in SQL through `as_of()`.
    pub as_of: Option<String>,
    /// Default region for phone numbers and addresses (ISO 3166 alpha-2).
    pub region: String,
}

impl PersonaOptions {
    /// Options with the default region, `CN`.
    pub fn new() -> Self {
        Self {
            as_of: None,
            region: "CN".to_string(),
        }
    }

    /// The as-of date as days since the Unix epoch, if set.
    pub fn as_of_days(&self) -> Option<i32> {
        self.as_of.as_deref().and_then(|s| parse_date_days(s).ok())
    }
}

const AS_OF_DOC: &str =
    "The date every profile is computed as of (YYYY-MM-DD); as_of() returns it.";
const REGION_DOC: &str = "Default region for phone numbers and addresses (ISO 3166 alpha-2).";

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
        match key {
            "as_of" => {
                let value = value.trim();
                if value.is_empty() || value.eq_ignore_ascii_case("null") {
                    self.as_of = None;
                } else {
                    parse_date_days(value)?;
                    self.as_of = Some(value.to_string());
                }
            }
            "region" => {
                let value = value.trim();
                if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                    return plan_err!(
                        "persona.region must be a two-letter region code such as 'CN', got '{value}'"
                    );
                }
                self.region = value.to_ascii_uppercase();
            }
            _ => {
                return plan_err!(
                    "unknown setting 'persona.{key}'; persona's settings are persona.as_of and persona.region"
                );
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "persona.as_of".into(),
                value: self.as_of.clone(),
                description: AS_OF_DOC,
            },
            ConfigEntry {
                key: "persona.region".into(),
                value: Some(self.region.clone()),
                description: REGION_DOC,
            },
        ]
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
}
