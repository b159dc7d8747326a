//! `std_city`: the short Chinese name of a prefecture-level city or province-level unit, from
//! the bundled table of China's administrative divisions (`datasets/divisions/`).
//!
//! The canonical name is the division's common short name: the full name without its suffix
//! 市, 省, 自治区, 特别行政区, 地区, 盟 or 自治州, and for autonomous regions and prefectures
//! without the ethnic names too (`广西壮族自治区` → `广西`, `延边朝鲜族自治州` → `延边`).

use std::collections::HashMap;
use std::sync::LazyLock;

static CSV: &str = include_str!("../../../datasets/divisions/china_divisions.csv");

/// Latin names two divisions share, and the one they mean here (the better-known city).
const PREFERRED: [(&str, &str); 3] = [("suzhou", "苏州"), ("fuzhou", "福州"), ("shanxi", "山西")];

/// Suffixes a name may carry, longest first.
const SUFFIXES: [&str; 7] = ["特别行政区", "自治区", "自治州", "地区", "省", "市", "盟"];

struct Divisions {
    /// Every name (full, short, short + 市, lower-case Latin without spaces or apostrophes) to
    /// its short name; `None` for an ambiguous Latin name.
    names: HashMap<String, Option<&'static str>>,
    /// Province-level units: full and short names, and whether the city is the unit itself
    /// (municipalities, Hong Kong, Macau).
    provinces: Vec<(&'static str, &'static str, bool)>,
}

static DIVISIONS: LazyLock<Divisions> = LazyLock::new(|| {
    let mut names: HashMap<String, Option<&'static str>> = HashMap::new();
    let mut latin: HashMap<String, Vec<&'static str>> = HashMap::new();
    let mut provinces = Vec::new();
    for line in CSV.lines().skip(1) {
        let f: Vec<&'static str> = line.split(',').collect();
        let [code, name, short, _province, pinyin, english] = f[..] else {
            continue;
        };
        names.insert(name.to_string(), Some(short));
        names.entry(short.to_string()).or_insert(Some(short));
        names.entry(format!("{short}市")).or_insert(Some(short));
        if code.len() == 2 {
            let whole = matches!(short, "北京" | "上海" | "天津" | "重庆" | "香港" | "澳门");
            provinces.push((name, short, whole));
        }
        for l in [pinyin, english] {
            let key = latin_key(l);
            let list = latin.entry(key).or_default();
            if !list.contains(&short) {
                list.push(short);
            }
        }
    }
    for (key, list) in latin {
        let target = match list[..] {
            [one] => Some(one),
            _ => PREFERRED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
        };
        names.entry(key).or_insert(target);
    }
    // Common English names besides those in the table.
    for (key, short) in [
        ("macao", "澳门"),
        ("peking", "北京"),
        ("canton", "广州"),
        ("xian", "西安"),
    ] {
        names.insert(key.to_string(), Some(short));
    }
    // Longest names first, so 内蒙古自治区 is tried before 内蒙古.
    provinces.sort_by_key(|(name, _, _): &(&str, &str, bool)| std::cmp::Reverse(name.len()));
    Divisions { names, provinces }
});

/// Lower case without spaces, apostrophes, hyphens and dots: `Xi'an` → `xian`.
fn latin_key(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '\'' | '-' | '.' | '’'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The short name of a city or province, or `None` when it is not one.
pub fn std_city(text: &str, buf: &mut String) -> Option<&'static str> {
    if text.len() > 256 {
        return None;
    }
    let mut scratch = String::new();
    let clean = super::text::std_text(text, &mut scratch);
    buf.clear();
    buf.extend(
        clean
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '\'' | '-' | '.' | '’' | '·'))
            .map(|c| c.to_ascii_lowercase()),
    );
    if buf.is_empty() {
        return None;
    }
    let d = &*DIVISIONS;
    lookup(d, buf).or_else(|| {
        if buf.is_ascii() {
            for suffix in ["city", "province", "shi", "sheng"] {
                if let Some(stem) = buf.strip_suffix(suffix)
                    && let Some(hit) = lookup(d, stem)
                {
                    return Some(hit);
                }
            }
            return None;
        }
        // 广东省深圳市 → 深圳市; 北京市朝阳区 → 北京.
        for (full, short, whole) in &d.provinces {
            for prefix in [*full, *short] {
                if let Some(rest) = buf.strip_prefix(prefix)
                    && !rest.is_empty()
                {
                    if let Some(hit) = lookup(d, rest).or_else(|| city_prefix(d, rest)) {
                        return Some(hit);
                    }
                    if *whole {
                        return Some(short);
                    }
                }
            }
        }
        city_prefix(d, buf)
    })
}

/// A name as it is, or without one of the suffixes.
fn lookup(d: &Divisions, name: &str) -> Option<&'static str> {
    if let Some(hit) = d.names.get(name) {
        return *hit;
    }
    SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|stem| !stem.is_empty())
        .and_then(|stem| d.names.get(stem).copied().flatten())
}

/// The city a text starts with, written in full with its 市 (`深圳市南山区` → `深圳`).
fn city_prefix(d: &Divisions, text: &str) -> Option<&'static str> {
    let end = text.find('市')?;
    lookup(d, &text[..end + '市'.len_utf8()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city(t: &str) -> Option<&'static str> {
        std_city(t, &mut String::new())
    }

    #[test]
    fn clean_cities_in_every_spelling() {
        for t in [
            "深圳",
            "深圳市",
            "广东省深圳市",
            "广东深圳",
            "广东省深圳市南山区",
            "Shenzhen",
            "shenzhen",
            "SHENZHEN",
            " 深圳 ",
            "Shenzhen City",
            "ｓｈｅｎｚｈｅｎ",
        ] {
            assert_eq!(city(t), Some("深圳"), "{t}");
        }
        for (t, want) in [
            ("北京市", "北京"),
            ("Beijing", "北京"),
            ("Peking", "北京"),
            ("北京市朝阳区", "北京"),
            ("广东省", "广东"),
            ("广东", "广东"),
            ("Guangdong", "广东"),
            ("Guangdong Province", "广东"),
            ("内蒙古自治区", "内蒙古"),
            ("Inner Mongolia", "内蒙古"),
            ("广西壮族自治区", "广西"),
            ("新疆维吾尔自治区", "新疆"),
            ("延边朝鲜族自治州", "延边"),
            ("Xi'an", "西安"),
            ("xian", "西安"),
            ("Harbin", "哈尔滨"),
            ("Urumqi", "乌鲁木齐"),
            ("Hong Kong", "香港"),
            ("香港特别行政区", "香港"),
            ("Macao", "澳门"),
            ("Macau", "澳门"),
            ("Tibet", "西藏"),
            ("Shaanxi", "陕西"),
            ("Shanxi", "山西"),
            ("Suzhou", "苏州"),
            ("宿州", "宿州"),
            ("六盘水", "六盘水"),
            ("吉林市", "吉林"),
        ] {
            assert_eq!(city(t), Some(want), "{t}");
        }
        for t in ["", "  ", "Atlantis", "火星", "Taizhou", "😀", "市", "省"] {
            assert_eq!(city(t), None, "{t}");
        }
    }

    #[test]
    fn clean_divisions_table_is_whole() {
        let d = &*DIVISIONS;
        assert_eq!(d.provinces.len(), 34);
        assert_eq!(CSV.lines().count(), 1 + 34 + 333);
        // Every division's full and short name maps to its short name.
        for line in CSV.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(city(f[1]), Some(f[2]), "{line}");
            assert_eq!(city(f[2]), Some(f[2]), "{line}");
        }
    }
}
