//! `bgnbd_fit(frequency, recency, T)`: fits the BG/NBD model over the rows it aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::{DOC_SECTION, bgnbd, bgnbd_params_type, coerce_numeric, floats};

/// Shared instance of `bgnbd_fit`.
pub fn bgnbd_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| Arc::new(AggregateUDF::new_from_impl(BgNbdFitFunc::default())))
        .clone()
}

/// The fit needs every customer at once, so the accumulator keeps the (x, t_x, T) triples;
/// at 24 bytes a customer, a million customers take 24 MB.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdFitFunc {
    signature: Signature,
}

impl Default for BgNbdFitFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the BG/NBD model of repeat buying (Fader, Hardie & Lee 2005) by maximum likelihood over \
         the rows it aggregates, one row per customer. Returns a struct {r, alpha, a, b, log_likelihood, \
         converged}; pass it to bgnbd_expected_purchases and bgnbd_p_alive. Rows with a NULL or a \
         negative value, or recency above T, are left out. converged is false when the optimiser \
         stopped before the likelihood settled.",
        "bgnbd_fit(frequency, recency, T)",
    )
    .with_argument("frequency", "Repeat purchases: the number of purchase periods after the first.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "SELECT bgnbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary;\n-- {r: 0.2426, alpha: 4.4136, a: 0.7929, b: 2.4259, log_likelihood: -9582.43, converged: true}",
    )
    .build()
});

impl AggregateUDFImpl for BgNbdFitFunc {
    fn name(&self) -> &str {
        "bgnbd_fit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!(
                "bgnbd_fit takes 3 arguments (frequency, recency, T), got {}",
                arg_types.len()
            );
        }
        coerce_numeric(self.name(), arg_types, 0)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(bgnbd_params_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<FitAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
        Ok(["x", "t_x", "t"]
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format!("{}[{n}]", args.name),
                    list.clone(),
                    true,
                ))
            })
            .collect())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[derive(Debug, Default)]
struct FitAccumulator {
    rows: Vec<(f64, f64, f64)>,
}

impl FitAccumulator {
    fn add(&mut self, x: &Float64Array, t_x: &Float64Array, t: &Float64Array) {
        for i in 0..x.len() {
            if x.is_valid(i) && t_x.is_valid(i) && t.is_valid(i) {
                let (x, t_x, t) = (x.value(i), t_x.value(i), t.value(i));
                if x >= 0.0 && t_x >= 0.0 && t_x <= t && t > 0.0 {
                    self.rows.push((x, t_x, t));
                }
            }
        }
    }
}

impl Accumulator for FitAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(
            &floats(&values[0])?,
            &floats(&values[1])?,
            &floats(&values[2])?,
        );
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fit = bgnbd::fit(&self.rows);
        let value = |f: fn(&bgnbd::Fit) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from(vec![fit.as_ref().map(f)]))
        };
        let DataType::Struct(fields) = bgnbd_params_type() else {
            return plan_err!("bgnbd_fit: the parameters type is not a struct");
        };
        let columns: Vec<ArrayRef> = vec![
            value(|f| f.params.r),
            value(|f| f.params.alpha),
            value(|f| f.params.a),
            value(|f| f.params.b),
            value(|f| f.log_likelihood),
            Arc::new(BooleanArray::from(vec![fit.as_ref().map(|f| f.converged)])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            fields, columns, None,
        )?)))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.rows.capacity() * size_of::<(f64, f64, f64)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let column = |f: fn(&(f64, f64, f64)) -> f64| {
            let values: Vec<ScalarValue> = self
                .rows
                .iter()
                .map(|r| ScalarValue::Float64(Some(f(r))))
                .collect();
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64))
        };
        Ok(vec![column(|r| r.0), column(|r| r.1), column(|r| r.2)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states
            .iter()
            .filter_map(|s| s.as_any().downcast_ref::<ListArray>())
            .collect();
        if lists.len() != 3 {
            return plan_err!("bgnbd_fit: unexpected state");
        }
        for row in 0..lists[0].len() {
            if lists.iter().all(|l| l.is_valid(row)) {
                let x = floats(&lists[0].value(row))?;
                let t_x = floats(&lists[1].value(row))?;
                let t = floats(&lists[2].value(row))?;
                self.add(&x, &t_x, &t);
            }
        }
        Ok(())
    }
}
