//! `rfm_segment(r, f, m [, preset])`: the segment of a customer's RFM scores, by a preset's
//! first-match rules, labelled in `persona.lang`.
//!
//! Scores are first put on one 1..5 scale from the number of levels the session's method
//! gives (5 for quintiles, 4 for quartiles, 2 for the mean split, the break count + 1 for
//! breaks), so every preset works under every method.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::rfm_score::levels;
use super::{DOC_SECTION, options};
use crate::args::{constant_text, floats, is_text};
use crate::config::Lang;
use crate::user_defined_udf;

user_defined_udf!(
    RfmSegmentFunc,
    rfm_segment_udf,
    Volatility::Stable,
    "`rfm_segment`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The segment of RFM scores (from customer_rfm) under a preset, labelled in persona.lang \
         ('zh' or 'en'). Scores are read on a 1..5 scale (scores of other methods are stretched \
         onto it), fm is (f + m) / 2, and the first matching rule wins.\n\n\
         classic: 1 Champions (r >= 4, fm >= 4); 2 Can't Lose Them (r <= 1, fm >= 4); \
         3 At Risk (r <= 2, fm >= 3); 4 Loyal (r >= 3, fm >= 3); 5 New Customers (r >= 4, fm < 2); \
         6 Potential Loyalist (r >= 4); 7 Promising (r >= 3, fm < 2); 8 Need Attention (r >= 3); \
         9 About To Sleep (r >= 2); 10 Hibernating (fm >= 2); 11 Lost.\n\n\
         cn8: R, F and M each high (score above 3) or low, giving 重要价值客户 (R F M high), \
         重要发展客户 (R M high), 重要保持客户 (F M high), 重要挽留客户 (M high), 一般价值客户 (R F high), \
         一般发展客户 (R high), 一般保持客户 (F high), 一般挽留客户 (none high).\n\n\
         tier: 1 潜在客户 / Potential when the scores are NULL (never bought); 2 流失风险客户 / \
         Churn Risk (r <= 2); 3 高价值客户 / High Value (f >= 4, m >= 4); 4 潜在客户 / Potential \
         (f <= 2); 5 普通客户 / Regular.",
        "rfm_segment(r, f, m [, preset])",
    )
    .with_argument("r", "Recency score.")
    .with_argument("f", "Frequency score.")
    .with_argument("m", "Monetary score.")
    .with_argument("preset", "'classic' (default), 'cn8' or 'tier'.")
    .with_sql_example(
        "SET persona.lang = 'en';\nSELECT rfm_segment(5, 5, 4), rfm_segment(1, 1, 4, 'cn8'), rfm_segment(1, 5, 5, 'tier');\n-- Champions | Important Retain | Churn Risk",
    )
    .build()
});

/// A preset.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Preset {
    Classic,
    Cn8,
    Tier,
}

/// Labels of the classic segments, in rule order, as (English, Chinese).
const CLASSIC: [(&str, &str); 11] = [
    ("Champions", "冠军客户"),
    ("Can't Lose Them", "不能流失客户"),
    ("At Risk", "风险客户"),
    ("Loyal", "忠诚客户"),
    ("New Customers", "新客户"),
    ("Potential Loyalist", "潜在忠诚客户"),
    ("Promising", "有潜力客户"),
    ("Need Attention", "需要关注客户"),
    ("About To Sleep", "即将沉睡客户"),
    ("Hibernating", "休眠客户"),
    ("Lost", "流失客户"),
];

/// The cn8 classes indexed by (R high, F high, M high) as bits 4, 2, 1.
const CN8: [(&str, &str); 8] = [
    ("General Retain", "一般挽留客户"),
    ("Important Retain", "重要挽留客户"),
    ("General Maintain", "一般保持客户"),
    ("Important Maintain", "重要保持客户"),
    ("General Development", "一般发展客户"),
    ("Important Development", "重要发展客户"),
    ("General Value", "一般价值客户"),
    ("Important Value", "重要价值客户"),
];

/// The tiers: high value, regular, potential, churn risk.
pub const TIERS: [(&str, &str); 4] = [
    ("High Value", "高价值客户"),
    ("Regular", "普通客户"),
    ("Potential", "潜在客户"),
    ("Churn Risk", "流失风险客户"),
];

fn classic(r: f64, f: f64, m: f64) -> usize {
    let fm = (f + m) / 2.0;
    match () {
        _ if r >= 4.0 && fm >= 4.0 => 0,
        _ if r <= 1.0 && fm >= 4.0 => 1,
        _ if r <= 2.0 && fm >= 3.0 => 2,
        _ if r >= 3.0 && fm >= 3.0 => 3,
        _ if r >= 4.0 && fm < 2.0 => 4,
        _ if r >= 4.0 => 5,
        _ if r >= 3.0 && fm < 2.0 => 6,
        _ if r >= 3.0 => 7,
        _ if r >= 2.0 => 8,
        _ if fm >= 2.0 => 9,
        _ => 10,
    }
}

fn cn8(r: f64, f: f64, m: f64) -> usize {
    usize::from(r > 3.0) * 4 + usize::from(f > 3.0) * 2 + usize::from(m > 3.0)
}

fn tier(r: f64, f: f64, m: f64) -> usize {
    match () {
        _ if r <= 2.0 => 3,
        _ if f >= 4.0 && m >= 4.0 => 0,
        _ if f <= 2.0 => 2,
        _ => 1,
    }
}

/// A score on `levels` levels stretched onto 1..5.
fn stretch(score: f64, levels: u32) -> f64 {
    if levels <= 1 {
        return 5.0;
    }
    1.0 + (score - 1.0) * 4.0 / f64::from(levels - 1)
}

impl ScalarUDFImpl for RfmSegmentFunc {
    fn name(&self) -> &str {
        "rfm_segment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(3..=4).contains(&arg_types.len()) {
            return plan_err!(
                "rfm_segment takes 3 or 4 arguments (r, f, m [, preset]), got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                3 if is_text(t) => Ok(DataType::Utf8),
                3 => plan_err!("rfm_segment: the preset must be 'classic', 'cn8' or 'tier'"),
                _ if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                _ => plan_err!(
                    "Unexpected argument type to 'rfm_segment' at position {}, expected a score, got {t}",
                    i + 1
                ),
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let preset = match args.args.get(3) {
            None => Preset::Classic,
            Some(a) => match constant_text(self.name(), "the preset", a)?.as_deref() {
                None | Some("classic") => Preset::Classic,
                Some("cn8") => Preset::Cn8,
                Some("tier") => Preset::Tier,
                Some(other) => {
                    return exec_err!(
                        "rfm_segment: unknown preset '{other}'; the presets are 'classic', 'cn8' and 'tier'"
                    );
                }
            },
        };
        let o = options(&args.config_options);
        let scale: Vec<u32> = ['r', 'f', 'm']
            .iter()
            .map(|&d| levels(o.rfm_method, &o.rfm_breaks, d))
            .collect();
        let zh = o.lang == Lang::Zh;
        let pick = |labels: &[(&'static str, &'static str)], i: usize| -> &'static str {
            if zh { labels[i].1 } else { labels[i].0 }
        };
        let arrays: Vec<ArrayRef> = crate::args::arrays(&args.args[..3], args.number_rows)?;
        let cols = arrays.iter().map(floats).collect::<Result<Vec<_>>>()?;
        let out: StringArray = (0..args.number_rows)
            .map(|i| {
                if !cols.iter().all(|c| c.is_valid(i)) {
                    return (preset == Preset::Tier).then(|| pick(&TIERS, 2));
                }
                let [r, f, m] = std::array::from_fn(|k| stretch(cols[k].value(i), scale[k]));
                Some(match preset {
                    Preset::Classic => pick(&CLASSIC, classic(r, f, m)),
                    Preset::Cn8 => pick(&CN8, cn8(r, f, m)),
                    Preset::Tier => pick(&TIERS, tier(r, f, m)),
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_classic_segment_is_reachable_on_the_grid() {
        let mut seen = [false; 11];
        for r in 1..=5 {
            for fm in 1..=5 {
                seen[classic(f64::from(r), f64::from(fm), f64::from(fm))] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
    }

    #[test]
    fn stretched_scales_meet_at_the_ends() {
        assert_eq!(stretch(1.0, 2), 1.0);
        assert_eq!(stretch(2.0, 2), 5.0);
        assert_eq!(stretch(4.0, 4), 5.0);
        assert_eq!(stretch(3.0, 5), 3.0);
    }
}
