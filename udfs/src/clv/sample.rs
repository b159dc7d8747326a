//! The accumulator the model fits share: the fit needs every customer at once, so it keeps the
//! rows (as flat `f64` tuples; 24 bytes a customer for BG/NBD) and hands them to the fit when
//! the aggregate is evaluated. Partial states travel as one list column per input.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::Accumulator;

use super::floats;

/// Collects rows of `width` numbers that pass `keep`, then evaluates with `finish`.
#[derive(Debug)]
pub struct SampleAccumulator {
    width: usize,
    rows: Vec<f64>,
    keep: fn(&[f64]) -> bool,
    finish: fn(&[f64], usize) -> Result<ScalarValue>,
}

impl SampleAccumulator {
    pub fn new(
        width: usize,
        keep: fn(&[f64]) -> bool,
        finish: fn(&[f64], usize) -> Result<ScalarValue>,
    ) -> Self {
        SampleAccumulator {
            width,
            rows: Vec::new(),
            keep,
            finish,
        }
    }

    fn add(&mut self, columns: &[Float64Array]) {
        let mut row = vec![0.0; self.width];
        for i in 0..columns[0].len() {
            if columns.iter().all(|c| c.is_valid(i)) {
                for (k, c) in columns.iter().enumerate() {
                    row[k] = c.value(i);
                }
                if (self.keep)(&row) {
                    self.rows.extend_from_slice(&row);
                }
            }
        }
    }
}

/// The state fields: one `List<Float64>` per input.
pub fn state_fields(name: &str, inputs: &[&str]) -> Vec<FieldRef> {
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
    inputs
        .iter()
        .map(|n| Arc::new(Field::new(format!("{name}[{n}]"), list.clone(), true)))
        .collect()
}

impl Accumulator for SampleAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns = values.iter().map(floats).collect::<Result<Vec<_>>>()?;
        self.add(&columns);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        // Rows arrive in whatever order the partitions finish, and a fit sums over them (its
        // starting point, its likelihood): in one canonical order the same data give the same
        // bits, so a refresh of unchanged data writes the same bytes.
        let w = self.width.max(1);
        let mut order: Vec<usize> = (0..self.rows.len() / w).collect();
        let row = |i: usize| &self.rows[i * w..(i + 1) * w];
        order.sort_unstable_by(|&a, &b| {
            row(a)
                .iter()
                .zip(row(b))
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let sorted: Vec<f64> = order.iter().flat_map(|&i| row(i).iter().copied()).collect();
        (self.finish)(&sorted, self.width)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.rows.capacity() * size_of::<f64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // One list per input, built as a Float64 array directly: a million customers make a
        // million values per list, too many to go through a ScalarValue each.
        let n = self.rows.len() / self.width;
        Ok((0..self.width)
            .map(|k| {
                let values: Float64Array = self
                    .rows
                    .chunks_exact(self.width)
                    .map(|r| r[k])
                    .collect::<Vec<f64>>()
                    .into();
                let list = ListArray::new(
                    Arc::new(Field::new_list_field(DataType::Float64, true)),
                    OffsetBuffer::from_lengths([n]),
                    Arc::new(values),
                    None,
                );
                ScalarValue::List(Arc::new(list))
            })
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states
            .iter()
            .filter_map(|s| s.as_any().downcast_ref::<ListArray>())
            .collect();
        if lists.len() != self.width {
            return exec_err!(
                "unexpected partial state: {} lists for {} inputs",
                lists.len(),
                self.width
            );
        }
        for row in 0..lists[0].len() {
            if lists.iter().all(|l| l.is_valid(row)) {
                let columns = lists
                    .iter()
                    .map(|l| floats(&l.value(row)))
                    .collect::<Result<Vec<_>>>()?;
                self.add(&columns);
            }
        }
        Ok(())
    }
}

/// A one-row struct of nullable Float64 fields and a trailing `converged` Boolean.
pub fn fit_struct(fields: &[&str], values: Option<(Vec<f64>, bool)>) -> Result<ScalarValue> {
    use datafusion::arrow::array::{BooleanArray, StructArray};
    let mut columns: Vec<ArrayRef> = fields
        .iter()
        .enumerate()
        .map(|(i, _)| {
            Arc::new(Float64Array::from(vec![values.as_ref().map(|v| v.0[i])])) as ArrayRef
        })
        .collect();
    columns.push(Arc::new(BooleanArray::from(vec![
        values.as_ref().map(|v| v.1),
    ])));
    let mut struct_fields: Vec<Field> = fields
        .iter()
        .map(|f| Field::new(*f, DataType::Float64, true))
        .collect();
    struct_fields.push(Field::new("converged", DataType::Boolean, true));
    Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
        struct_fields.into(),
        columns,
        None,
    )?)))
}

/// The struct type [`fit_struct`] builds for `fields`.
pub fn fit_struct_type(fields: &[&str]) -> DataType {
    let mut struct_fields: Vec<Field> = fields
        .iter()
        .map(|f| Field::new(*f, DataType::Float64, true))
        .collect();
    struct_fields.push(Field::new("converged", DataType::Boolean, true));
    DataType::Struct(struct_fields.into())
}
