//! Deduplication, the latest-row rule and the duplicate-key check as one pass over sorted rows.
//!
//! Written as SQL, these are `ROW_NUMBER() OVER (PARTITION BY key ORDER BY …)` and
//! `first_value(…) OVER (…)`. DataFusion's window operator keeps its state per partition, keyed
//! by a vector of `ScalarValue`s, and slices every column per partition: with one or two rows per
//! key (an order number, a CRM id, a fingerprint of the whole row) that bookkeeping cost more
//! than reading, cleaning and writing the source together. Here the rows are sorted once by
//! DataFusion's external sort (which spills under the memory limit), and one streaming pass
//! compares each row's group with the previous kept-eligible row's in Arrow's row format.
//!
//! What each rule keeps, as the SQL it replaces defined it (only rows that passed the checks,
//! `_reject IS NULL`, take part; the others go to the rejects as they are):
//!
//! - `latest`: sorted by key, `latest_by` descending (NULLs last), file and line descending:
//!   the first row of each key is kept, the others are merged.
//! - a key with `exact` (or `none`): sorted by key, file and line. Within a key, a row equal in
//!   every curated column to an earlier one (the same 128-bit fingerprint, see [`RowKey`]) is
//!   merged (`exact` only); the first row is kept; any other row is a reject, "duplicate key"
//!   naming the first row's line.
//! - no key, `exact`: sorted by file and line, the fingerprints met so far kept in a hash set
//!   (16 bytes a row, charged to the memory pool): a row whose fingerprint is in it is merged.
//!   When the pool refuses the set, the rows are ranked again the slow way: sorted by the
//!   fingerprint, file and line (the first of equal rows is kept), then by file and line again.
//! - no key, `none`: every checked row is kept.
//!
//! The kept rows come out in the order the curated file wants: key, file and line, or file and
//! line without a key ([`Ranking::resort`] says when they must be sorted again).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder,
    RecordBatch,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::config::Dedup;

use super::{ident, strings};

/// A row the checks or the duplicate-key rule rejected: file, line, where its text sits in the
/// decoded file (none for rows of the previous curated table), and the reason.
pub struct RuleReject {
    pub file: String,
    pub line: i64,
    pub range: Option<(u64, u64)>,
    pub reason: String,
}

/// What the pass counted, and the rows it rejected.
#[derive(Default)]
pub struct Outcome {
    pub kept: u64,
    pub merged: u64,
    pub rejects: Vec<RuleReject>,
    /// The memory pool refused the fingerprint set: rank again with [`Ranking::new`] without
    /// a pool.
    pub refused: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Keep every checked row.
    All,
    /// The first row of each group (the key, or the fingerprint when there is no key).
    FirstOfGroup,
    /// A key: identical rows merged (`exact`) or not (`none`), other rows rejected.
    UniqueKey { exact: bool },
    /// No key, `exact`, in file order: a row whose fingerprint was met before is merged.
    Unseen,
}

/// How a source's checked rows are sorted and ranked.
pub struct Ranking {
    rule: Rule,
    /// The curated columns, then `_file`, `_line`: what the kept rows carry.
    cols: Vec<String>,
    /// The columns (of the sorted rows) that make a group.
    group: Vec<String>,
    /// The keys as the duplicate-key reason names them.
    key_names: String,
    /// The SQL that sorts the checked rows for the pass.
    pub sql: String,
    /// The memory pool the fingerprint set is charged to ([`Rule::Unseen`]).
    pool: Option<Arc<dyn MemoryPool>>,
    /// Whether the kept rows must be sorted by file and line again (no key).
    pub resort: bool,
}

/// The fingerprint column of the sorted rows.
const FINGERPRINT: &str = "__persona_rk";

impl Ranking {
    /// The ranking for a source whose checked rows are `checked` (SQL with the curated columns
    /// `cols`, then `_file`, `_line`, `_offset`, `_len`, `_reject`). With `pool`, exact
    /// deduplication without a key keeps the fingerprints in memory charged to it; without, it
    /// sorts by them.
    pub fn new(
        checked: &str,
        cols: &[String],
        keys: &[String],
        dedup: Dedup,
        latest_by: Option<&str>,
        pool: Option<Arc<dyn MemoryPool>>,
    ) -> Self {
        let list = |names: &[String]| names.iter().map(|c| ident(c)).collect::<Vec<_>>();
        let key_list = list(keys).join(", ");
        let fingerprint = format!(
            "{}({}) AS {FINGERPRINT}",
            RowKey::NAME,
            list(cols).join(", ")
        );
        let (rule, group, extra, order, resort) = match (dedup, keys.is_empty()) {
            (Dedup::Latest, _) => (
                Rule::FirstOfGroup,
                keys.to_vec(),
                None,
                format!(
                    "{key_list}, {} DESC NULLS LAST, _file DESC, _line DESC",
                    ident(latest_by.unwrap_or_default())
                ),
                false,
            ),
            (Dedup::Exact | Dedup::None, false) => (
                Rule::UniqueKey {
                    exact: dedup == Dedup::Exact,
                },
                keys.to_vec(),
                (dedup == Dedup::Exact).then_some(fingerprint),
                format!("{key_list}, _file, _line"),
                false,
            ),
            (Dedup::Exact, true) if pool.is_some() => (
                Rule::Unseen,
                Vec::new(),
                Some(fingerprint),
                "_file, _line".to_string(),
                false,
            ),
            (Dedup::Exact, true) => (
                Rule::FirstOfGroup,
                vec![FINGERPRINT.to_string()],
                Some(fingerprint),
                format!("{FINGERPRINT}, _file, _line"),
                true,
            ),
            (Dedup::None, true) => (
                Rule::All,
                Vec::new(),
                None,
                "_file, _line".to_string(),
                false,
            ),
        };
        let extra = extra.map(|e| format!(", {e}")).unwrap_or_default();
        let sql = format!(
            "SELECT {}, _file, _line, _offset, _len, _reject{extra} FROM ({checked}) AS c ORDER BY {order}",
            list(cols).join(", ")
        );
        let mut kept_cols = cols.to_vec();
        kept_cols.extend(["_file".to_string(), "_line".to_string()]);
        Ranking {
            rule,
            cols: kept_cols,
            group,
            key_names: keys.join(", "),
            sql,
            pool,
            resort,
        }
    }

    /// Ranks the sorted rows of `input` as they stream by: the returned stream carries the
    /// kept rows (curated columns, `_file`, `_line`); the counts and the rejects are in the
    /// returned [`Outcome`] once the stream has ended.
    pub fn rank(
        &self,
        input: SendableRecordBatchStream,
    ) -> DfResult<(SendableRecordBatchStream, Arc<Mutex<Outcome>>)> {
        let schema = input.schema();
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| {
                DataFusionError::Internal(format!("ingest: the sorted rows lack column {name}"))
            })
        };
        let kept: Vec<usize> = self
            .cols
            .iter()
            .map(|c| index(c))
            .collect::<DfResult<_>>()?;
        let out_schema: SchemaRef = Arc::new(schema.project(&kept)?);
        let group: Vec<usize> = self
            .group
            .iter()
            .map(|c| index(c))
            .collect::<DfResult<_>>()?;
        let converter = RowConverter::new(
            group
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        let fingerprint = match self.rule {
            Rule::UniqueKey { exact: true } | Rule::Unseen => Some(index(FINGERPRINT)?),
            _ => None,
        };
        let unseen = match (&self.pool, self.rule) {
            (Some(pool), Rule::Unseen) => Some(Fingerprints::new(
                MemoryConsumer::new("ingest: fingerprints of the rows kept").register(pool),
            )),
            _ => None,
        };
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let mut pass = Pass {
            rule: self.rule,
            kept,
            group,
            converter,
            fingerprint,
            file: index("_file")?,
            line: index("_line")?,
            offset: index("_offset")?,
            len: index("_len")?,
            reject: index("_reject")?,
            key_names: self.key_names.clone(),
            last: None,
            first: None,
            seen: HashSet::new(),
            unseen,
            outcome: outcome.clone(),
        };
        let stream = input.map(move |batch| pass.batch(&batch?));
        Ok((
            Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)),
            outcome,
        ))
    }
}

/// The state carried from one sorted batch to the next.
struct Pass {
    rule: Rule,
    kept: Vec<usize>,
    group: Vec<usize>,
    converter: RowConverter,
    fingerprint: Option<usize>,
    file: usize,
    line: usize,
    offset: usize,
    len: usize,
    reject: usize,
    key_names: String,
    /// The group of the last row that passed the checks, from an earlier batch.
    last: Option<OwnedRow>,
    /// The file and line of the current group's first row, from an earlier batch.
    first: Option<(String, i64)>,
    /// The fingerprints met in the current group (`UniqueKey { exact: true }`).
    seen: HashSet<[u8; 16]>,
    /// Every fingerprint kept so far ([`Rule::Unseen`]).
    unseen: Option<Fingerprints>,
    outcome: Arc<Mutex<Outcome>>,
}

/// Where the previous checked row's group is: in this batch, or carried from an earlier one.
#[derive(Clone, Copy)]
enum Prev {
    None,
    Carried,
    At(usize),
}

impl Pass {
    fn batch(&mut self, batch: &RecordBatch) -> DfResult<RecordBatch> {
        let n = batch.num_rows();
        let rejects = batch.column(self.reject);
        let files = strings(batch.column(self.file))?;
        let lines = batch.column(self.line).as_primitive::<Int64Type>();
        let rows: Option<Rows> = if self.group.is_empty() {
            None
        } else {
            let cols: Vec<ArrayRef> = self
                .group
                .iter()
                .map(|&i| batch.column(i).clone())
                .collect();
            Some(self.converter.convert_columns(&cols)?)
        };
        let prints = self
            .fingerprint
            .map(|i| batch.column(i).as_fixed_size_binary().clone());
        let mut keep = Vec::with_capacity(n);
        let mut new_rejects: Vec<(usize, Option<String>)> = Vec::new();
        let mut merged = 0u64;
        let mut prev = if self.last.is_some() {
            Prev::Carried
        } else {
            Prev::None
        };
        // The current group's first row, when it is in this batch.
        let mut first_at: Option<usize> = None;
        for i in 0..n {
            if rejects.is_valid(i) {
                keep.push(false);
                new_rejects.push((i, None));
                continue;
            }
            let same = match (&rows, prev) {
                (None, _) => false,
                (Some(_), Prev::None) => false,
                (Some(r), Prev::Carried) => self.last.as_ref().is_some_and(|l| l.row() == r.row(i)),
                (Some(r), Prev::At(j)) => r.row(j) == r.row(i),
            };
            prev = Prev::At(i);
            match self.rule {
                Rule::All => keep.push(true),
                Rule::Unseen => {
                    let (Some(p), Some(set)) = (&prints, self.unseen.as_mut()) else {
                        return Err(DataFusionError::Internal(
                            "ingest: no fingerprints to rank by".into(),
                        ));
                    };
                    let new = set.insert(fingerprint_at(p, i)?).inspect_err(|_| {
                        self.outcome
                            .lock()
                            .expect("the ingest outcome lock")
                            .refused = true;
                    })?;
                    keep.push(new);
                    merged += !new as u64;
                }
                Rule::FirstOfGroup => {
                    keep.push(!same);
                    merged += same as u64;
                }
                Rule::UniqueKey { exact } => {
                    if !same {
                        self.seen.clear();
                        first_at = Some(i);
                        self.first = None;
                    }
                    let fresh = match &prints {
                        Some(p) => self.seen.insert(fingerprint_at(p, i)?.to_le_bytes()),
                        None => true,
                    };
                    if !same {
                        keep.push(true);
                    } else if exact && !fresh {
                        keep.push(false);
                        merged += 1;
                    } else {
                        keep.push(false);
                        let (file, line) = match first_at {
                            Some(j) => (files.value(j).to_string(), lines.value(j)),
                            None => self.first.clone().unwrap_or_default(),
                        };
                        new_rejects.push((
                            i,
                            Some(format!(
                                "duplicate key: line {line} of {file} has the same {} with other values",
                                self.key_names
                            )),
                        ));
                    }
                }
            }
        }
        // Carry the last checked row's group, and its group's first row, to the next batch.
        if let (Some(r), Prev::At(j)) = (&rows, prev) {
            self.last = Some(r.row(j).owned());
        }
        if let Some(j) = first_at {
            self.first = Some((files.value(j).to_string(), lines.value(j)));
        }
        if self.seen.capacity() > 4096 && self.seen.len() < 64 {
            // One large group left a large table; groups after it are small again.
            self.seen = HashSet::new();
        }

        let offsets = batch.column(self.offset).as_primitive::<Int64Type>();
        let lens = batch.column(self.len).as_primitive::<Int64Type>();
        let kept_rows = keep.iter().filter(|k| **k).count() as u64;
        let reasons = strings(rejects)?;
        let mut outcome = self.outcome.lock().expect("the ingest outcome lock");
        outcome.kept += kept_rows;
        outcome.merged += merged;
        for (i, reason) in new_rejects {
            let reason = match reason {
                Some(r) => r,
                None => reasons.value(i).to_string(),
            };
            outcome.rejects.push(RuleReject {
                file: files.value(i).to_string(),
                line: lines.value(i),
                range: (!offsets.is_null(i))
                    .then(|| (offsets.value(i) as u64, lens.value(i) as u64)),
                reason,
            });
        }
        drop(outcome);
        let projected = batch.project(&self.kept)?;
        Ok(filter_record_batch(&projected, &BooleanArray::from(keep))?)
    }
}

fn slot(fp: u128) -> usize {
    (fp ^ (fp >> 64)) as usize
}

fn fingerprint_at(prints: &FixedSizeBinaryArray, i: usize) -> DfResult<u128> {
    let bytes: [u8; 16] = prints
        .value(i)
        .try_into()
        .map_err(|_| DataFusionError::Internal("ingest: a fingerprint is not 16 bytes".into()))?;
    Ok(u128::from_le_bytes(bytes))
}

/// A set of 128-bit fingerprints, open addressing with linear probing, charged to the memory
/// pool as it grows. The fingerprints are SipHash outputs, uniform in every bit, so their two
/// halves folded together are the slot; 0 marks an empty slot (the fingerprint 0 itself is a
/// flag).
struct Fingerprints {
    slots: Vec<u128>,
    len: usize,
    zero: bool,
    reservation: MemoryReservation,
}

impl Fingerprints {
    fn new(reservation: MemoryReservation) -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            zero: false,
            reservation,
        }
    }

    /// Adds `fp`; whether it was new. Fails when the pool refuses the memory to grow.
    fn insert(&mut self, fp: u128) -> DfResult<bool> {
        if fp == 0 {
            return Ok(!std::mem::replace(&mut self.zero, true));
        }
        // At most 3/4 full, so probes stay short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow()?;
        }
        let mask = self.slots.len() - 1;
        let mut at = slot(fp) & mask;
        loop {
            match self.slots[at] {
                0 => {
                    self.slots[at] = fp;
                    self.len += 1;
                    return Ok(true);
                }
                x if x == fp => return Ok(false),
                _ => at = (at + 1) & mask,
            }
        }
    }

    fn grow(&mut self) -> DfResult<()> {
        let capacity = (self.slots.len() * 2).max(1 << 16);
        let bytes = capacity * size_of::<u128>();
        // The old table and the new one are both held while the fingerprints move.
        self.reservation.try_grow(bytes)?;
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        let mask = capacity - 1;
        for fp in old.iter().copied().filter(|&fp| fp != 0) {
            let mut at = slot(fp) & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = fp;
        }
        self.reservation.shrink(old.len() * size_of::<u128>());
        Ok(())
    }
}

/// `__persona_row_key(a, b, …)`: a 128-bit fingerprint of a row's values, equal for rows equal
/// in every argument (NULLs equal, as in `PARTITION BY`). The values are put in Arrow's row
/// format, which encodes every type and NULL without ambiguity, and hashed with SipHash-1-3
/// (128 bits): two different rows share a fingerprint with a chance of about 2^-128 a pair.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowKey {
    signature: Signature,
}

impl RowKey {
    pub const NAME: &'static str = "__persona_row_key";
}

impl Default for RowKey {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RowKey {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::FixedSizeBinary(16))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use std::hash::Hasher;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let fields = arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        let rows = RowConverter::new(fields)?.convert_columns(&arrays)?;
        let mut out = FixedSizeBinaryBuilder::with_capacity(rows.num_rows(), 16);
        for row in rows.iter() {
            let mut h = siphasher::sip128::SipHasher13::new_with_keys(0x7065_7273, 0x006f_6e61);
            h.write(row.as_ref());
            out.append_value(siphasher::sip128::Hasher128::finish128(&h).as_bytes())?;
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::catalog::MemTable;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    #[test]
    fn fingerprints_remember_every_value_across_growth() {
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
        let mut set = Fingerprints::new(MemoryConsumer::new("t").register(&pool));
        // Values that share their low bits probe past each other.
        let values: Vec<u128> = (0..200_000u128).map(|i| (i << 64) | (i % 7)).collect();
        for &v in &values {
            assert!(set.insert(v).unwrap(), "{v} is new");
        }
        for &v in &values {
            assert!(!set.insert(v).unwrap(), "{v} was met");
        }
        assert!(!set.insert(0).unwrap(), "0 was met (the first value)");
        assert_eq!(pool.reserved(), set.slots.len() * 16);
    }

    #[test]
    fn fingerprint_set_refused_by_a_small_pool() {
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(2 << 20));
        let mut set = Fingerprints::new(MemoryConsumer::new("t").register(&pool));
        let refused = (1..1_000_000u128)
            .map(|v| set.insert(v << 1))
            .find(|r| r.is_err());
        assert!(
            refused.is_some(),
            "a 2 MB pool cannot hold a million fingerprints"
        );
    }

    /// Exact deduplication without a key gives the same rows whether the fingerprints are kept
    /// in memory or sorted by.
    #[tokio::test]
    async fn exact_without_key_same_rows_in_memory_or_sorted() {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::new_from_impl(RowKey::default()));
        let n = 5000i64;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("_file", DataType::Utf8, false),
            Field::new("_line", DataType::Int64, false),
            Field::new("_offset", DataType::Int64, true),
            Field::new("_len", DataType::Int64, true),
            Field::new("_reject", DataType::Utf8, true),
        ]));
        // Values repeat every 37 lines; every 11th row is a reject and NULLs are values.
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| (i % 37 != 5).then_some(i % 37)),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| if i < n / 2 { "b.csv" } else { "a.csv" }),
                )),
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(Int64Array::from_iter_values((0..n).map(|_| 1))),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 11 == 0).then_some("bad")),
                )),
            ],
        )
        .unwrap();
        let parts = vec![vec![batch.slice(0, 3000)], vec![batch.slice(3000, 2000)]];
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let checked = "SELECT a, _file, _line, _offset, _len, _reject FROM t";
        let mut results = Vec::new();
        for pool in [Some(ctx.runtime_env().memory_pool.clone()), None] {
            let ranking = Ranking::new(checked, &["a".to_string()], &[], Dedup::Exact, None, pool);
            let sorted = ctx.sql(&ranking.sql).await.unwrap();
            let (kept, outcome) = ranking
                .rank(sorted.execute_stream().await.unwrap())
                .unwrap();
            let batches: Vec<RecordBatch> = kept.map(|b| b.unwrap()).collect().await;
            let mut rows: Vec<(String, i64)> = Vec::new();
            for b in &batches {
                let f = b.column(1).as_string::<i32>();
                let l = b.column(2).as_primitive::<Int64Type>();
                rows.extend((0..b.num_rows()).map(|i| (f.value(i).to_string(), l.value(i))));
            }
            if !ranking.resort {
                assert!(rows.is_sorted(), "kept rows in file and line order");
            }
            rows.sort();
            let o = outcome.lock().unwrap();
            results.push((rows, o.kept, o.merged, o.rejects.len()));
        }
        assert_eq!(results[0], results[1]);
        // 37 distinct values, each kept once (in a.csv, which sorts first), the rest merged.
        let (rows, kept, merged, rejects) = &results[0];
        assert_eq!((rows.len(), *kept), (37, 37));
        assert_eq!(*rejects as i64, (n + 10) / 11);
        assert_eq!(*kept + *merged + *rejects as u64, n as u64);
        assert!(rows.iter().all(|(f, _)| f == "a.csv"));
    }
}
