//! Aggregation by one integer key through a direct-mapped table: a "perfect hash" aggregate,
//! as DuckDB and ClickHouse use for small key ranges.
//!
//! Profiling is grouping by customer: RFM, retention, funnels and the 360 view all aggregate
//! millions of rows into a group per customer id, a dense integer. DataFusion's
//! `GroupValuesPrimitive` hashes every key into a table of (group, hash) pairs and compares
//! it with the stored key, which at a million customers is three cache misses per row and a
//! third of a funnel's time. Here the key minus the smallest key seen indexes a table of group
//! ids directly: one access per row, no hashing.
//!
//! [`DenseGroupBy`] replaces each `AggregateExec` in `Partial`, `Final` or `FinalPartitioned`
//! mode that groups by a single integer expression with a [`DenseAggregateExec`] that runs the
//! same accumulators. The partial stage, like DataFusion's, emits its groups early when the
//! memory pool refuses it more. A final stage cannot: refused, it hands its groups (as partial
//! states) and the rest of its input to DataFusion's final aggregation, which spills, and
//! passes that one's output on. Keys that span more than the input's statistics say (at least
//! 2^20, at most [`MAX_SLOTS`]) hand the groups to DataFusion's own group values, which go on
//! from there.
//!
//! Its arguments' comparisons of one column with constants are evaluated in one pass
//! ([`equalities`]); when the column is a timestamp truncated by the projection below, and
//! every use of the truncation is such a comparison, the projection is folded into the
//! aggregation and the truncation never computed.
//!
//! `SET persona.dense_grouping = false` plans DataFusion's aggregation instead.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, RecordBatch,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{
    ArrowNativeType, DataType, Date32Type, Field, Int8Type, Int16Type, Int32Type, Int64Type,
    Schema, SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, Statistics, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::EmptyRecordBatchStream;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::aggregates::{
    AggregateExec, AggregateMode, PhysicalGroupBy, aggregate_expressions,
};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::metrics::{Count, MetricBuilder};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements,
    InputOrderMode, PhysicalExpr, PlanProperties, StatisticsArgs, StatisticsContext, displayable,
};
use futures::{Stream, StreamExt};
use persona_udfs::PersonaOptions;
use persona_udfs::behavior::retention::takes_condition_masks;

mod equalities;

/// The most slots a dense table takes (4 bytes each): 64 MiB, 16.7M keys.
pub const MAX_SLOTS: i64 = 1 << 24;

/// The span of keys a dense table takes without statistics that say the keys need more.
const UNHINTED_SLOTS: i64 = 1 << 20;

/// The physical optimizer rule that plans [`DenseAggregateExec`]s; see the module docs.
#[derive(Debug, Default)]
pub struct DenseGroupBy;

impl PhysicalOptimizerRule for DenseGroupBy {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let enabled = config
            .extensions
            .get::<PersonaOptions>()
            .is_none_or(|o| o.dense_grouping);
        if !enabled {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            match DenseAggregateExec::try_new(agg)? {
                Some(dense) => Ok(Transformed::yes(Arc::new(dense) as Arc<dyn ExecutionPlan>)),
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "persona_dense_group_by"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A partial aggregation by one integer key on a direct-mapped table; see the module docs.
#[derive(Debug)]
pub struct DenseAggregateExec {
    /// The aggregation this one runs: its expressions, schema and properties.
    agg: Arc<AggregateExec>,
    /// How the accumulators' arguments are computed, shared by the partitions' streams.
    arguments: Arc<equalities::Arguments>,
    /// The span of the key's values in the input, from its statistics, when known.
    span_hint: Option<i64>,
    metrics: ExecutionPlanMetricsSet,
}

impl DenseAggregateExec {
    /// The dense form of `agg`, or None when it is not a partial aggregation by one integer
    /// key whose aggregates all run on group indices.
    pub fn try_new(agg: &AggregateExec) -> Result<Option<Self>> {
        let group_by = agg.group_expr();
        let supported = matches!(
            agg.mode(),
            AggregateMode::Partial | AggregateMode::Final | AggregateMode::FinalPartitioned
        ) && group_by.is_single()
            && group_by.expr().len() == 1
            && agg.limit_options().is_none()
            && agg.dynamic_expressions_produced().is_empty()
            && *agg.input_order_mode() == InputOrderMode::Linear
            && agg
                .aggr_expr()
                .iter()
                .all(|a| a.order_bys().is_empty() && a.groups_accumulator_supported());
        if !supported {
            return Ok(None);
        }
        if *agg.mode() == AggregateMode::Partial
            && let Some(dense) = Self::through_projection(agg)?
        {
            return Ok(Some(dense));
        }
        Self::plan(agg)
    }

    /// The stage it runs: `Partial`, `Final` or `FinalPartitioned`.
    pub fn mode(&self) -> &AggregateMode {
        self.agg.mode()
    }

    /// The dense form of a supported `agg`, or None when its key's type is not one it takes.
    fn plan(agg: &AggregateExec) -> Result<Option<Self>> {
        let group_by = agg.group_expr();
        let input_schema = agg.input().schema();
        let key = &group_by.expr()[0].0;
        let probe = Field::new("key", key.data_type(&input_schema)?, true);
        if interner(probe, None).is_none() {
            return Ok(None);
        }
        let span_hint = key
            .downcast_ref::<Column>()
            .and_then(|c| column_span(agg.input().as_ref(), c.index()));
        // `retention`'s fused conditions come as per-row masks (see `equalities`), unless a
        // FILTER clause picks its rows. A final stage's arguments are states, never fused.
        let partial = *agg.mode() == AggregateMode::Partial;
        let mask_states: Vec<bool> = agg
            .aggr_expr()
            .iter()
            .zip(agg.filter_expr())
            .map(|(a, filter)| partial && filter.is_none() && takes_condition_masks(a.fun()))
            .collect();
        let arguments = equalities::Arguments::new(
            aggregate_expressions(agg.aggr_expr(), agg.mode(), 1)?,
            &input_schema,
            &mask_states,
        );
        Ok(Some(Self {
            agg: Arc::new(agg.clone()),
            arguments: Arc::new(arguments),
            span_hint,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

impl DenseAggregateExec {
    /// The dense form of `agg` over the input of the projections it reads (one, or a chain
    /// of them), with the projected expressions in its own, when every value they compute is
    /// a truncated timestamp that `agg` only compares with constants looked up by day
    /// ([`equalities`]): `date_trunc('month', ts) AS m` is then never computed. None when the
    /// input is no such projection.
    fn through_projection(agg: &AggregateExec) -> Result<Option<Self>> {
        let Some(top) = agg.input().downcast_ref::<ProjectionExec>() else {
            return Ok(None);
        };
        // Each output of the chain as an expression over the input below it.
        let mut projected: Vec<Arc<dyn PhysicalExpr>> =
            top.expr().iter().map(|p| Arc::clone(&p.expr)).collect();
        let mut input = top.input();
        while let Some(below) = input.downcast_ref::<ProjectionExec>() {
            let exprs: Vec<_> = below.expr().iter().map(|p| Arc::clone(&p.expr)).collect();
            projected = projected
                .iter()
                .map(|e| inline(e, &exprs))
                .collect::<Result<_>>()?;
            input = below.input();
        }
        let computed = |expr: &Arc<dyn PhysicalExpr>| {
            let mut found = false;
            expr.apply(|e| {
                if let Some(c) = e.downcast_ref::<Column>() {
                    found |= projected[c.index()].downcast_ref::<Column>().is_none();
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .map(|_| found)
        };
        let inline = |expr: &Arc<dyn PhysicalExpr>| inline(expr, &projected);
        let (key, name) = &agg.group_expr().expr()[0];
        let filters = agg.filter_expr();
        if computed(key)?
            || filters
                .iter()
                .flatten()
                .any(|f| computed(f).unwrap_or(true))
        {
            return Ok(None);
        }
        let mut aggregates = Vec::with_capacity(agg.aggr_expr().len());
        for a in agg.aggr_expr() {
            let args = a.expressions().iter().map(inline).collect::<Result<_>>()?;
            match a.with_new_expressions(args, Vec::new()) {
                Some(inlined) => aggregates.push(Arc::new(inlined)),
                None => return Ok(None),
            }
        }
        let inlined = AggregateExec::try_new(
            AggregateMode::Partial,
            PhysicalGroupBy::new_single(vec![(inline(key)?, name.clone())]),
            aggregates,
            filters
                .iter()
                .map(|f| f.as_ref().map(inline).transpose())
                .collect::<Result<_>>()?,
            Arc::clone(input),
            input.schema(),
        )?;
        if inlined.schema() != agg.schema() {
            return Ok(None);
        }
        let Some(dense) = Self::plan(&inlined)? else {
            return Ok(None);
        };
        for (a, aggregate) in agg.aggr_expr().iter().enumerate() {
            for (i, arg) in aggregate.expressions().iter().enumerate() {
                if computed(arg)? && !dense.arguments.looked_up_by_day(a, i) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(dense))
    }
}

/// `expr` with each column `i` replaced by `exprs[i]`.
fn inline(
    expr: &Arc<dyn PhysicalExpr>,
    exprs: &[Arc<dyn PhysicalExpr>],
) -> Result<Arc<dyn PhysicalExpr>> {
    Arc::clone(expr)
        .transform_up(|e| match e.downcast_ref::<Column>() {
            Some(c) => Ok(Transformed::yes(Arc::clone(&exprs[c.index()]))),
            None => Ok(Transformed::no(e)),
        })
        .map(|t| t.data)
}

/// max - min + 1 of an input column, from its statistics: a hint to size the table, not a
/// bound (statistics may be estimates), so keys outside it are still taken.
fn column_span(input: &dyn ExecutionPlan, index: usize) -> Option<i64> {
    let stats = StatisticsContext::new()
        .compute(input, &StatisticsArgs::new())
        .ok()?;
    let column = stats.column_statistics.get(index)?;
    let value = |p: &Precision<ScalarValue>| {
        p.get_value()
            .and_then(|v| v.cast_to(&DataType::Int64).ok())
            .and_then(|v| match v {
                ScalarValue::Int64(Some(v)) => Some(i128::from(v)),
                _ => None,
            })
    };
    let span = value(&column.max_value)? - value(&column.min_value)? + 1;
    i64::try_from(span).ok().filter(|s| *s > 0)
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let inner = displayable(self.agg.as_ref()).one_line().to_string();
        let inner = inner.trim_end();
        match t {
            DisplayFormatType::TreeRender => write!(f, "mode={:?}, dense", self.agg.mode()),
            _ => write!(
                f,
                "DenseAggregateExec{}",
                inner.strip_prefix("AggregateExec").unwrap_or(inner)
            ),
        }
    }
}

impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &str {
        "DenseAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.agg.input_distribution_requirements()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.agg.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.agg.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    #[expect(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let agg = Arc::clone(&self.agg).with_new_children(children)?;
        let Some(agg) = agg.downcast_ref::<AggregateExec>() else {
            return internal_err!("DenseAggregateExec: the new plan is not an aggregation");
        };
        match Self::try_new(agg)? {
            Some(dense) => Ok(Arc::new(dense)),
            None => Ok(Arc::new(agg.clone())),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let agg = &self.agg;
        let input = agg.input().execute(partition, Arc::clone(&context))?;
        let input_schema = agg.input().schema();
        let (key, key_name) = &agg.group_expr().expr()[0];
        let key_field = Field::new(
            key_name,
            key.data_type(&input_schema)?,
            key.nullable(&input_schema)?,
        );
        let accumulators = agg
            .aggr_expr()
            .iter()
            .map(|a| a.create_groups_accumulator())
            .collect::<Result<_>>()?;
        let reservation = MemoryConsumer::new(format!("DenseAggregateExec[{partition}]"))
            .register(context.memory_pool());
        let stage = match agg.mode() {
            AggregateMode::Partial => Stage::Partial,
            _ => Stage::Final {
                agg: Arc::clone(agg),
                context: Arc::clone(&context),
                handed_over: MetricBuilder::new(&self.metrics).counter("handed_over", partition),
            },
        };
        Ok(Box::pin(DenseStream {
            schema: agg.schema(),
            input,
            key: Arc::clone(key),
            arguments: Arc::clone(&self.arguments),
            filters: agg.filter_expr().to_vec(),
            stage,
            passing_on: false,
            accumulators,
            groups: match interner(key_field, self.span_hint) {
                Some(groups) => groups,
                None => return internal_err!("DenseAggregateExec: a key type it does not take"),
            },
            group_ids: Vec::new(),
            reservation,
            output: VecDeque::new(),
            batch_size: context.session_config().batch_size(),
            done: false,
            baseline: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.agg.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.agg.statistics_from_inputs(input_stats, args)
    }
}

/// Which stage of a two-stage aggregation a stream runs.
enum Stage {
    /// Rows in, each group's partial states out; groups go out early under memory pressure.
    Partial,
    /// Partial states in (every state of a key in this partition), final values out. Under
    /// memory pressure the groups, as states, and the rest of the input go to `agg`, which is
    /// DataFusion's final aggregation and spills; `handed_over` counts the times.
    Final {
        agg: Arc<AggregateExec>,
        context: Arc<TaskContext>,
        handed_over: Count,
    },
}

/// One partition's aggregation.
struct DenseStream {
    schema: SchemaRef,
    /// The rows or states to aggregate; once handed over, DataFusion's final aggregation.
    input: SendableRecordBatchStream,
    stage: Stage,
    /// The input is DataFusion's final aggregation, whose batches go out as they are.
    passing_on: bool,
    key: Arc<dyn PhysicalExpr>,
    arguments: Arc<equalities::Arguments>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    groups: Box<dyn Interner>,
    group_ids: Vec<usize>,
    reservation: MemoryReservation,
    /// Emitted batches still to hand on, at most `batch_size` rows each.
    output: VecDeque<RecordBatch>,
    batch_size: usize,
    done: bool,
    baseline: BaselineMetrics,
}

impl DenseStream {
    fn aggregate(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        self.groups.intern(&keys, &mut self.group_ids)?;
        let inputs = self.arguments.evaluate(batch)?;
        for ((accumulator, input), filter) in
            self.accumulators.iter_mut().zip(inputs).zip(&self.filters)
        {
            let values = match input {
                equalities::Input::RowStates(states) => {
                    accumulator.merge_batch(&[states], &self.group_ids, self.groups.len())?;
                    continue;
                }
                equalities::Input::Arguments(values) => values,
            };
            // A final stage merges states, whatever FILTER chose their rows.
            if let Stage::Final { .. } = self.stage {
                accumulator.merge_batch(&values, &self.group_ids, self.groups.len())?;
                continue;
            }
            let filter = match filter {
                Some(f) => Some(f.evaluate(batch)?.into_array(batch.num_rows())?),
                None => None,
            };
            let filter: Option<&BooleanArray> = filter.as_ref().map(|f| f.as_boolean());
            accumulator.update_batch(&values, &self.group_ids, filter, self.groups.len())?;
        }
        Ok(())
    }

    /// The memory the groups and accumulators hold, reserved; false when the pool refuses.
    fn reserve(&mut self) -> bool {
        let size = self.groups.size()
            + self.group_ids.capacity() * size_of::<usize>()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        self.reservation.try_resize(size).is_ok()
    }

    /// Every group so far with its partial states, or its final values in a final stage, into
    /// `output`; the groups start over.
    fn emit(&mut self) -> Result<()> {
        if self.groups.len() == 0 {
            return Ok(());
        }
        let mut columns = vec![self.groups.emit()?];
        for accumulator in &mut self.accumulators {
            match self.stage {
                Stage::Partial => columns.extend(accumulator.state(EmitTo::All)?),
                Stage::Final { .. } => columns.push(accumulator.evaluate(EmitTo::All)?),
            }
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = self.batch_size.min(batch.num_rows() - offset);
            self.output.push_back(batch.slice(offset, len));
            offset += len;
        }
        Ok(())
    }

    fn step(&mut self, batch: &RecordBatch) -> Result<()> {
        let elapsed = self.baseline.elapsed_compute().clone();
        let _timer = elapsed.timer();
        self.aggregate(batch)?;
        if !self.reserve() {
            match self.stage {
                // As DataFusion's partial aggregation: hand the groups on and start over.
                Stage::Partial => self.emit()?,
                Stage::Final { .. } => self.hand_over()?,
            }
            self.reservation.free();
        }
        Ok(())
    }

    /// A final stage the pool refuses more memory: its groups, as partial states, and the
    /// rest of its input go to DataFusion's final aggregation, which spills, and its output
    /// becomes this stream's.
    fn hand_over(&mut self) -> Result<()> {
        let Stage::Final {
            agg,
            context,
            handed_over,
        } = &self.stage
        else {
            return internal_err!("DenseAggregateExec: only a final stage hands over");
        };
        let schema = self.input.schema();
        let mut states = vec![self.groups.emit()?];
        for accumulator in &mut self.accumulators {
            states.extend(accumulator.state(EmitTo::All)?);
        }
        let states = RecordBatch::try_new(Arc::clone(&schema), states)?;
        let rest = std::mem::replace(
            &mut self.input,
            Box::pin(EmptyRecordBatchStream::new(Arc::clone(&schema))),
        );
        let input = RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::once(async move { Ok(states) }).chain(rest),
        );
        let input = StreamingTableExec::try_new(
            Arc::clone(&schema),
            vec![Arc::new(OneStream(
                Mutex::new(Some(Box::pin(input))),
                schema,
            ))],
            None,
            Vec::new(),
            false,
            None,
        )?;
        let fallback = Arc::clone(agg).replace_children(
            vec![Arc::new(input)],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        self.input = fallback.execute(0, Arc::clone(context))?;
        handed_over.add(1);
        self.passing_on = true;
        Ok(())
    }
}

impl Stream for DenseStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.output.pop_front() {
                self.baseline.record_output(batch.num_rows());
                return Poll::Ready(Some(Ok(batch)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match futures::ready!(self.input.poll_next_unpin(cx)) {
                Some(Ok(batch)) if self.passing_on => self.output.push_back(batch),
                Some(Ok(batch)) => {
                    if let Err(e) = self.step(&batch) {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.done = true;
                    let emitted = {
                        let elapsed = self.baseline.elapsed_compute().clone();
                        let _timer = elapsed.timer();
                        self.emit()
                    };
                    self.reservation.free();
                    if let Err(e) = emitted {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
        }
    }
}

/// A stream as the one partition of a plan, read once: the input of a handed-over final stage.
struct OneStream(Mutex<Option<SendableRecordBatchStream>>, SchemaRef);

impl fmt::Debug for OneStream {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("OneStream")
    }
}

impl PartitionStream for OneStream {
    fn schema(&self) -> &SchemaRef {
        &self.1
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.0.lock().ok().and_then(|mut s| s.take());
        taken.unwrap_or_else(|| Box::pin(EmptyRecordBatchStream::new(Arc::clone(&self.1))))
    }
}

impl RecordBatchStream for DenseStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

// ---------------------------------------------------------------------------------------------
// Group ids

/// Group ids for keys of `field`'s type, or None for a type a dense table does not take
/// (the integers and Date32).
fn interner(field: Field, span_hint: Option<i64>) -> Option<Box<dyn Interner>> {
    let limit = span_hint
        .map_or(UNHINTED_SLOTS, |s| s.max(UNHINTED_SLOTS))
        .min(MAX_SLOTS);
    macro_rules! dense {
        ($t:ty) => {
            Box::new(Dense::<$t>::new(field, limit)) as Box<dyn Interner>
        };
    }
    Some(match field.data_type() {
        DataType::Int8 => dense!(Int8Type),
        DataType::Int16 => dense!(Int16Type),
        DataType::Int32 => dense!(Int32Type),
        DataType::Int64 => dense!(Int64Type),
        DataType::UInt8 => dense!(UInt8Type),
        DataType::UInt16 => dense!(UInt16Type),
        DataType::UInt32 => dense!(UInt32Type),
        DataType::UInt64 => dense!(UInt64Type),
        DataType::Date32 => dense!(Date32Type),
        _ => return None,
    })
}

trait Interner: Send {
    /// The group id of each key into `ids`, new ids for new keys, from 0 without gaps.
    fn intern(&mut self, keys: &ArrayRef, ids: &mut Vec<usize>) -> Result<()>;
    fn len(&self) -> usize;
    /// Bytes held.
    fn size(&self) -> usize;
    /// The key of every group, in id order; the groups start over.
    fn emit(&mut self) -> Result<ArrayRef>;
}

/// Group ids of primitive keys: `slots[key - low]` is the key's id + 1 (0 for a key not
/// seen), until the keys span more than `limit`; from then on DataFusion's hash table.
struct Dense<T: ArrowPrimitiveType> {
    field: Field,
    limit: i64,
    low: i64,
    slots: Vec<u32>,
    /// The lowest and highest key seen.
    seen: Option<(i64, i64)>,
    /// Each group's key, by id.
    keys: Vec<T::Native>,
    null_group: Option<usize>,
    general: Option<Box<dyn GroupValues>>,
}

impl<T: ArrowPrimitiveType> Dense<T> {
    fn new(field: Field, limit: i64) -> Self {
        Self {
            field,
            limit,
            low: 0,
            slots: Vec::new(),
            seen: None,
            keys: Vec::new(),
            null_group: None,
            general: None,
        }
    }

    /// Widens the table to take keys from `low` to `high`; false when the keys seen would
    /// then span more than the limit.
    fn cover(&mut self, low: i64, high: i64) -> bool {
        let (table_low, table_len) = (i128::from(self.low), self.slots.len() as i128);
        let (low, high) = (i128::from(low), i128::from(high));
        if table_len > 0 && low >= table_low && high < table_low + table_len {
            return true;
        }
        let (need_low, need_high) = match self.seen {
            Some((l, h)) => (low.min(i128::from(l)), high.max(i128::from(h))),
            None => (low, high),
        };
        let span = need_high - need_low + 1;
        let limit = i128::from(self.limit);
        if span > limit {
            return false;
        }
        // Room to grow the way the keys went, so keys that rise (or fall) batch by batch, as
        // in an input sorted by key, copy the table a logarithmic number of times.
        let len = (table_len * 2).min(limit).max(span);
        let new_low = if table_len > 0 && low < table_low {
            (need_high - len + 1).max(i128::from(i64::MIN))
        } else {
            need_low.min(i128::from(i64::MAX) - len + 1)
        };
        let mut slots = written_zeros(len as usize);
        if let Some((l, h)) = self.seen {
            // Every key seen is inside the old table and the new one.
            let (from, to) = (
                (i128::from(l) - table_low) as usize,
                (i128::from(h) - table_low) as usize,
            );
            let at = (i128::from(l) - new_low) as usize;
            slots[at..at + (to - from + 1)].copy_from_slice(&self.slots[from..=to]);
        }
        self.slots = slots;
        self.low = new_low as i64;
        true
    }

    /// The keys so far as an array, in id order; the table starts over.
    fn take_keys(&mut self) -> ArrayRef {
        let keys = std::mem::take(&mut self.keys);
        let nulls = self
            .null_group
            .take()
            .map(|g| NullBuffer::from_iter((0..keys.len()).map(|i| i != g)));
        self.slots = Vec::new();
        self.seen = None;
        Arc::new(
            PrimitiveArray::<T>::new(keys.into(), nulls)
                .with_data_type(self.field.data_type().clone()),
        )
    }

    /// From here on DataFusion's hash table, given the groups so far in id order.
    fn generalize(&mut self) -> Result<()> {
        let schema = Arc::new(Schema::new(vec![self.field.clone()]));
        let mut general = new_group_values(schema, &GroupOrdering::None)?;
        let mut ids = Vec::with_capacity(self.keys.len());
        general.intern(&[self.take_keys()], &mut ids)?;
        debug_assert!(ids.iter().enumerate().all(|(i, &g)| i == g));
        self.general = Some(general);
        Ok(())
    }

    /// The id of every key of `array` into `ids`, in one pass; false as soon as a key lies
    /// outside the table. Either way the keys given ids are among those `seen`.
    fn intern_within(&mut self, array: &PrimitiveArray<T>, ids: &mut Vec<usize>) -> bool {
        ids.clear();
        ids.reserve(array.len());
        let (low, slots, keys) = (self.low, &mut self.slots[..], &mut self.keys);
        let mut range = (i64::MAX, i64::MIN);
        let within = 'keys: {
            match array.nulls().filter(|n| n.null_count() > 0) {
                None => {
                    for &key in array.values() {
                        let Some(id) = id_within(slots, keys, low, key, &mut range) else {
                            break 'keys false;
                        };
                        ids.push(id);
                    }
                }
                Some(nulls) => {
                    let null_group = &mut self.null_group;
                    for (i, &key) in array.values().iter().enumerate() {
                        let id = if nulls.is_null(i) {
                            *null_group.get_or_insert_with(|| {
                                keys.push(T::Native::default());
                                keys.len() - 1
                            })
                        } else {
                            let Some(id) = id_within(slots, keys, low, key, &mut range) else {
                                break 'keys false;
                            };
                            id
                        };
                        ids.push(id);
                    }
                }
            }
            true
        };
        // Widening the table copies the slots of the keys seen: those just given ids too.
        if range.0 <= range.1 {
            self.seen = Some(match self.seen {
                Some((l, h)) => (l.min(range.0), h.max(range.1)),
                None => range,
            });
        }
        within
    }
}

/// `len` zeros, written rather than allocated zeroed. `vec![0; len]` gets fresh pages that the
/// kernel maps to its shared zero page until first written; the table reads a slot before it
/// writes it, so each page would fault twice, and the second fault (copying the zero page)
/// interrupts every other CPU running the process to flush its TLB: 3% of a retention query's
/// CPU. Written at once, each page faults once, as private memory.
#[allow(clippy::slow_vector_initialization)] // the point: `vec![0; len]` is the slow way here
fn written_zeros(len: usize) -> Vec<u32> {
    let mut slots = Vec::with_capacity(len);
    slots.resize(len, 0);
    slots
}

/// The id of `key` in a table of `slots` from key `low`, a new one for a key not seen, or
/// None when the key lies outside the table; `range` widens to take the key.
#[inline]
fn id_within<N: ArrowNativeType>(
    slots: &mut [u32],
    keys: &mut Vec<N>,
    low: i64,
    key: N,
    range: &mut (i64, i64),
) -> Option<usize> {
    let k = key.to_i64()?;
    // A key below `low` wraps to beyond the table.
    let slot = slots.get_mut(k.wrapping_sub(low) as u64 as usize)?;
    *range = (range.0.min(k), range.1.max(k));
    if *slot == 0 {
        keys.push(key);
        *slot = keys.len() as u32;
    }
    Some(*slot as usize - 1)
}

impl<T: ArrowPrimitiveType> Interner for Dense<T> {
    fn intern(&mut self, keys: &ArrayRef, ids: &mut Vec<usize>) -> Result<()> {
        if let Some(general) = &mut self.general {
            return general.intern(std::slice::from_ref(keys), ids);
        }
        let array = keys.as_primitive::<T>();
        // Most batches' keys lie in the table already, so the first pass interns them; a key
        // outside makes the table grow (or hand over to the hash table) and the batch start
        // over.
        if self.intern_within(array, ids) {
            return Ok(());
        }
        let range = match (min(array), max(array)) {
            (Some(low), Some(high)) => low.to_i64().zip(high.to_i64()),
            _ => None,
        };
        match range {
            Some((low, high)) if self.cover(low, high) => {
                if self.intern_within(array, ids) {
                    Ok(())
                } else {
                    internal_err!("DenseAggregateExec: a key outside the table widened for it")
                }
            }
            _ => {
                self.generalize()?;
                self.intern(keys, ids)
            }
        }
    }

    fn len(&self) -> usize {
        match &self.general {
            Some(general) => general.len(),
            None => self.keys.len(),
        }
    }

    fn size(&self) -> usize {
        match &self.general {
            Some(general) => general.size(),
            None => {
                self.slots.capacity() * size_of::<u32>()
                    + self.keys.capacity() * size_of::<T::Native>()
            }
        }
    }

    fn emit(&mut self) -> Result<ArrayRef> {
        if let Some(general) = &mut self.general {
            let keys = general.emit(EmitTo::All)?;
            general.clear_shrink(0);
            return Ok(Arc::clone(&keys[0]));
        }
        Ok(self.take_keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    fn ids(groups: &mut Box<dyn Interner>, keys: Vec<Option<i64>>) -> Vec<usize> {
        let mut ids = Vec::new();
        let keys: ArrayRef = Arc::new(Int64Array::from(keys));
        groups.intern(&keys, &mut ids).unwrap();
        ids
    }

    fn emitted(groups: &mut Box<dyn Interner>) -> Vec<Option<i64>> {
        let keys = groups.emit().unwrap();
        keys.as_primitive::<Int64Type>().iter().collect()
    }

    #[test]
    fn ids_follow_first_sight_across_batches_and_a_null_key() {
        let mut g = interner(Field::new("k", DataType::Int64, true), None).unwrap();
        assert_eq!(
            ids(&mut g, vec![Some(5), Some(3), Some(5), None]),
            [0, 1, 0, 2]
        );
        // Keys below and above the table widen it; known keys keep their ids.
        assert_eq!(
            ids(&mut g, vec![Some(-7), Some(3), None, Some(40)]),
            [3, 1, 2, 4]
        );
        assert_eq!(g.len(), 5);
        assert_eq!(
            emitted(&mut g),
            [Some(5), Some(3), None, Some(-7), Some(40)]
        );
        // Emitting starts the groups over.
        assert_eq!(ids(&mut g, vec![Some(40), Some(5)]), [0, 1]);
    }

    #[test]
    fn keys_rising_batch_by_batch_widen_the_table_without_losing_ids() {
        let mut g = interner(Field::new("k", DataType::Int64, false), None).unwrap();
        for batch in 0..50i64 {
            let keys: Vec<Option<i64>> = (batch * 100..batch * 100 + 100).map(Some).collect();
            let want: Vec<usize> = (batch as usize * 100..batch as usize * 100 + 100).collect();
            assert_eq!(ids(&mut g, keys), want);
        }
        assert_eq!(ids(&mut g, vec![Some(0), Some(4999)]), [0, 4999]);
    }

    #[test]
    fn dense_table_growing_down_leaves_room_for_keys_above_regression() {
        // The table once gave all its room to the side it grew on, and a later key on the
        // other side, still within the limit of the keys' span, fell to the hash table.
        let mut d = Dense::<Int64Type>::new(Field::new("k", DataType::Int64, false), 1000);
        let mut out = Vec::new();
        for keys in [vec![500, 999], vec![10], vec![1009], vec![11, 1008]] {
            let keys: ArrayRef = Arc::new(Int64Array::from(keys));
            d.intern(&keys, &mut out).unwrap();
            assert!(d.general.is_none(), "{:?}", d.seen);
        }
        assert_eq!(out, [4, 5]);
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![1010]));
        d.intern(&keys, &mut out).unwrap();
        assert!(d.general.is_some());
        assert_eq!(out, [6]);
    }

    #[test]
    fn keys_interned_before_a_key_outside_the_table_keep_their_ids_regression() {
        // A batch's keys are interned in one pass until one lies outside the table. A key the
        // pass gave an id before that, inside the table but beyond the keys seen so far, was
        // not carried into the widened table and got a second id.
        let mut d = Dense::<Int64Type>::new(Field::new("k", DataType::Int64, false), 1000);
        let mut out = Vec::new();
        for keys in [vec![10, 12], vec![14]] {
            let keys: ArrayRef = Arc::new(Int64Array::from(keys));
            d.intern(&keys, &mut out).unwrap();
        }
        // The table now spans 10..16 and the keys seen 10..=14.
        assert_eq!((d.low, d.slots.len(), d.seen), (10, 6, Some((10, 14))));
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![15, 100, 15]));
        d.intern(&keys, &mut out).unwrap();
        assert_eq!(out, [3, 4, 3]);
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn keys_spanning_past_the_limit_continue_in_a_hash_table() {
        let mut g = interner(Field::new("k", DataType::Int64, true), None).unwrap();
        assert_eq!(ids(&mut g, vec![Some(1), None, Some(2)]), [0, 1, 2]);
        // i64::MIN..i64::MAX spans more than any table.
        assert_eq!(
            ids(
                &mut g,
                vec![Some(i64::MAX), Some(2), Some(i64::MIN), None, Some(1)]
            ),
            [3, 2, 4, 1, 0]
        );
        assert_eq!(
            emitted(&mut g),
            [Some(1), None, Some(2), Some(i64::MAX), Some(i64::MIN)]
        );
    }

    #[test]
    fn unsigned_keys_past_i64_continue_in_a_hash_table() {
        use datafusion::arrow::array::UInt64Array;
        let mut g = interner(Field::new("k", DataType::UInt64, false), None).unwrap();
        let mut out = Vec::new();
        let keys: ArrayRef = Arc::new(UInt64Array::from(vec![7, u64::MAX, 7]));
        g.intern(&keys, &mut out).unwrap();
        assert_eq!(out, [0, 1, 0]);
    }
}
