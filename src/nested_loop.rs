//! Nested loop joins that stay in memory.
//!
//! When DataFusion 55's `NestedLoopJoinExec` cannot hold its build side in the memory pool, it
//! falls back to spilling: it executes its build-side child a second time and streams it to
//! disk. A child that can run only once panics then: a `RepartitionExec` below the build side
//! (two nested loop joins in one query, as in `… FROM events a, events b, customers c WHERE
//! a.event_ts < b.event_ts AND c.customer_id > a.customer_id`) dies with "partition not used
//! yet". DataFusion's own comments say the fallback also repeats unmatched rows for left outer
//! joins with several probe partitions.
//!
//! [`NestedLoopJoinsInMemory`] wraps every nested loop join in a [`InMemoryNestedLoopJoinExec`]
//! that runs it with a runtime whose disk manager makes no temporary files: the join takes the
//! fallback's other branch, and a build side over the memory limit fails as a query with
//! "Resources exhausted" instead of panicking. The join's inputs run under the same runtime,
//! so a sort below a nested loop join cannot spill either; nested loop joins (joins on
//! inequalities only) are rare in profiling queries, and one that big was going to fail.

use std::fmt;
use std::sync::{Arc, LazyLock};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::NestedLoopJoinExec;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements,
    PhysicalExpr, PlanProperties, StatisticsArgs, displayable,
};

/// The physical optimizer rule that wraps nested loop joins; see the module docs.
#[derive(Debug, Default)]
pub struct NestedLoopJoinsInMemory;

impl PhysicalOptimizerRule for NestedLoopJoinsInMemory {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.downcast_ref::<NestedLoopJoinExec>().is_none() {
                return Ok(Transformed::no(node));
            }
            let wrapped = InMemoryNestedLoopJoinExec { join: node };
            Ok(Transformed::yes(Arc::new(wrapped) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "persona_nested_loop_joins_in_memory"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A `NestedLoopJoinExec` run without temporary files; see the module docs. Its children are
/// the join's, so the plan tree and EXPLAIN show one join node.
#[derive(Debug)]
pub struct InMemoryNestedLoopJoinExec {
    join: Arc<dyn ExecutionPlan>,
}

/// A disk manager that refuses temporary files, shared by every wrapped join.
static NO_DISK: LazyLock<Result<Arc<datafusion::execution::DiskManager>>> = LazyLock::new(|| {
    DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::Disabled)
        .build()
        .map(Arc::new)
});

/// `context` with the same memory pool, caches and object stores, without temporary files.
fn without_spilling(context: &TaskContext) -> Result<Arc<TaskContext>> {
    let disk = match &*NO_DISK {
        Ok(disk) => Arc::clone(disk),
        Err(e) => return Err(datafusion::error::DataFusionError::Execution(e.to_string())),
    };
    let mut runtime: RuntimeEnv =
        RuntimeEnvBuilder::from_runtime_env(&context.runtime_env()).build()?;
    runtime.disk_manager = disk;
    Ok(Arc::new(TaskContext::new(
        context.task_id(),
        context.session_id(),
        context.session_config().clone(),
        context.scalar_functions().clone(),
        context.higher_order_functions().clone(),
        context.aggregate_functions().clone(),
        context.window_functions().clone(),
        Arc::new(runtime),
    )))
}

impl DisplayAs for InMemoryNestedLoopJoinExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::TreeRender => write!(f, "in memory"),
            _ => {
                let inner = displayable(self.join.as_ref()).one_line().to_string();
                write!(f, "{}, in_memory=true", inner.trim_end())
            }
        }
    }
}

impl ExecutionPlan for InMemoryNestedLoopJoinExec {
    fn name(&self) -> &str {
        "InMemoryNestedLoopJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.join.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.join.input_distribution_requirements()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.join.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.join.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.join.apply_expressions(f)
    }

    #[expect(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let join = Arc::clone(&self.join).with_new_children(children)?;
        Ok(Arc::new(InMemoryNestedLoopJoinExec { join }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.join.execute(partition, without_spilling(&context)?)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        self.join.metrics()
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.join.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.join.statistics_from_inputs(input_stats, args)
    }
}
