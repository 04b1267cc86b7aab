//! Writing where the rows are: [`WriteParts`], a logical plan node planned as
//! [`PartWriterExec`] by [`OrchardQueryPlanner`], so the part files of a
//! query are written by whatever runs its partitions (this process, or a
//! cluster's executors) and only `(file, rows)` comes back.
//!
//! On a cluster the node travels inside the logical plan to the scheduler,
//! which plans it with the same planner; every task writes its partition
//! straight to the output store, under the job's folder of the caller's
//! choosing (e.g. `_temporary/<job>/…`), with names fixed by partition and
//! job (`part-NNNNN-<job>…`). A task run again (a lost executor, a
//! resubmitted job) writes the same names with the same rows, and an
//! interrupted write never becomes visible (object stores publish a file when
//! its upload completes), so no row is ever written twice; the caller
//! commits what the query returned.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::common::{DFSchema, DFSchemaRef, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{DataFrame, SessionContext};
use orchard_source::Location;

use crate::sink::{is_part_of, written_schema, PartFormat, PartWriterExec, PartWriterOptions};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

/// Writes its input's partitions as part files; yields one `(file, rows)`
/// row per file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteParts {
    /// The rows to write.
    pub input: LogicalPlan,
    /// Where and how.
    pub options: PartWriterOptions,
    schema: DFSchemaRef,
}

impl WriteParts {
    /// A node writing `input` as `options` say.
    pub fn new(input: LogicalPlan, options: PartWriterOptions) -> Result<Self> {
        let schema = Arc::new(DFSchema::try_from(written_schema().as_ref().clone())?);
        Ok(WriteParts {
            input,
            options,
            schema,
        })
    }
}

impl PartialOrd for WriteParts {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.options.dir.as_str(), self.options.job_id.as_str())
            .partial_cmp(&(other.options.dir.as_str(), other.options.job_id.as_str()))
    }
}

impl UserDefinedLogicalNodeCore for WriteParts {
    fn name(&self) -> &str {
        "WriteParts"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WriteParts: {}{} ({:?})",
            self.options.store_url, self.options.dir, self.options.format
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [input] = <[LogicalPlan; 1]>::try_from(inputs).map_err(|_| {
            datafusion::common::DataFusionError::Internal("WriteParts has one input".into())
        })?;
        WriteParts::new(input, self.options.clone())
    }
}

/// Plans [`WriteParts`] as [`PartWriterExec`].
#[derive(Debug, Default)]
pub struct WritePartsPlanner;

#[async_trait]
impl ExtensionPlanner for WritePartsPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn datafusion::logical_expr::UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn datafusion::catalog::Session,
        _planning: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<WriteParts>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Ok(None);
        };
        Ok(Some(Arc::new(PartWriterExec::new(
            Arc::clone(input),
            write.options.clone(),
        ))))
    }
}

/// DataFusion's planner with Orchard's extension nodes; every session that
/// plans Orchard's queries (embedded, a cluster's scheduler) uses it.
#[derive(Debug, Default)]
pub struct OrchardQueryPlanner;

#[async_trait]
impl QueryPlanner for OrchardQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner =
            DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(WritePartsPlanner)]);
        planner.create_physical_plan(logical_plan, session).await
    }
}

/// What a write returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Files written, with their rows.
    pub files: Vec<(String, u64)>,
    /// Bytes of the answer this process received (names and counts).
    pub answer_bytes: u64,
}

impl Written {
    /// Rows in all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

/// Where a write goes: tasks write under `staging`, the commit moves the
/// winners to `dir`.
pub(crate) struct WriteTarget<'a> {
    /// The output.
    pub out: &'a Location,
    /// The folder the committed files go to, relative to `out` (`""`: its root).
    pub dir: String,
    /// The folder tasks write to, relative to `out` (under `_temporary/`,
    /// outside every folder a reader lists).
    pub staging: String,
    /// File format.
    pub format: PartFormat,
    /// The write's id, part of every file name.
    pub job_id: String,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

/// A write planned by [`write_parts_plan`]: its plan, and what the commit
/// needs.
pub(crate) struct PartsWrite {
    /// Runs the write; executed by [`PartsWrite::run`] (or watched first).
    pub plan: Arc<dyn ExecutionPlan>,
    out: Location,
    dir: String,
    staging: String,
    job_id: String,
}

/// Plans writing `frame` to `target`, where the session runs its partitions;
/// files are named after the write's id (and, on a cluster, the task attempt).
pub(crate) async fn write_parts_plan(
    ctx: &SessionContext,
    frame: DataFrame,
    target: WriteTarget<'_>,
) -> crate::Result<PartsWrite> {
    let out = target.out;
    let options = PartWriterOptions {
        store_url: out.store_url().to_string(),
        dir: out.child(&target.staging).to_string(),
        format: target.format,
        job_id: target.job_id.clone(),
        row_group_rows: target.row_group_rows,
        max_rows_per_file: 1_000_000,
    };
    let node = WriteParts::new(frame.into_unoptimized_plan(), options)?;
    let plan = LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    });
    let plan = ctx
        .execute_logical_plan(plan)
        .await?
        .create_physical_plan()
        .await?;
    Ok(PartsWrite {
        plan,
        out: out.clone(),
        dir: target.dir,
        staging: target.staging,
        job_id: target.job_id,
    })
}

/// Files moved at once by a commit.
const MOVES_IN_FLIGHT: usize = 16;

impl PartsWrite {
    /// Runs the write and commits it, as Spark's file committers do: every
    /// task attempt wrote under the staging folder; the files the query
    /// returned are the winners and move to `dir`; the staging folder, with
    /// every attempt whose result was superseded (a task re-run after its
    /// executor was lost, a job cancelled and resubmitted), is deleted, and so
    /// is any file of this write in `dir` that is not a winner (an earlier,
    /// interrupted commit of it). Returns the winners.
    pub async fn run(self, ctx: &SessionContext) -> crate::Result<Written> {
        // Leftovers of an interrupted run of this write.
        crate::output::delete_prefix(&self.out, &self.staging).await?;
        let batches = collect(self.plan.clone(), ctx.task_ctx()).await?;
        let mut written = Written::default();
        for batch in &batches {
            let files = batch.column(0).as_string::<i32>();
            let rows = batch.column(1).as_primitive::<UInt64Type>();
            for i in 0..batch.num_rows() {
                // What travelled: the name and an 8-byte count.
                written.answer_bytes += files.value(i).len() as u64 + 8;
                written
                    .files
                    .push((files.value(i).to_string(), rows.value(i)));
            }
        }
        let store = self.out.store().clone();
        futures::stream::iter(written.files.iter().map(|(file, _)| {
            let name = file_name(file);
            let from = self.out.child(&format!("{}/{name}", self.staging));
            let to = self.out.child(&format!("{}/{name}", self.dir));
            let store = store.clone();
            async move { store.rename(&from, &to).await }
        }))
        .buffer_unordered(MOVES_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
        crate::output::delete_prefix(&self.out, &self.staging).await?;
        self.delete_strays(&written).await?;
        Ok(written)
    }

    /// Deletes the files of this write directly in `dir` that are not
    /// `written`'s.
    async fn delete_strays(&self, written: &Written) -> crate::Result<()> {
        let winners: std::collections::HashSet<&str> =
            written.files.iter().map(|f| file_name(&f.0)).collect();
        let prefix = self.out.child(&self.dir);
        let strays: Vec<object_store::path::Path> = self
            .out
            .store()
            .list(Some(&prefix))
            .try_filter_map(|meta| {
                let name = meta.location.filename().unwrap_or("").to_string();
                let stray = is_part_of(&name, &self.job_id)
                    && meta
                        .location
                        .prefix_match(&prefix)
                        .is_some_and(|mut p| p.next().is_some() && p.next().is_none())
                    && !winners.contains(name.as_str());
                futures::future::ready(Ok(stray.then_some(meta.location)))
            })
            .try_collect()
            .await?;
        if !strays.is_empty() {
            tracing::info!(
                write = %self.job_id,
                files = strays.len(),
                "deleting the files of an earlier, interrupted commit"
            );
            crate::output::delete_keys_if_present(&self.out, strays).await?;
        }
        Ok(())
    }
}

/// The last path segment of a written file's name.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::{write_parts_plan, WriteTarget};
    use crate::sink::{attempt_suffix, is_part_of, PartFormat};
    use datafusion::prelude::SessionConfig;
    use orchard_source::Location;

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_write_commits_its_winners_and_leaves_nothing_staged_or_stray() {
        let tmp = tempfile::tempdir().unwrap();
        let out = Location::local(tmp.path()).unwrap();
        let job = "0e5f5c4e-7c56-4b7e-9a0c-2f1d1f0b7a11";
        // What an interrupted commit and a zombie attempt of this write left:
        // a file of this write in the output, a file in the staging folder;
        // and another write's file, which stays.
        std::fs::create_dir_all(tmp.path().join("_temporary/j/output")).unwrap();
        let stray = format!("part-00007-{job}-jOLD-s1.0-t0.0.parquet");
        let zombie = tmp.path().join(format!(
            "_temporary/j/output/part-00000-{job}-jOLD-s1.0-t0.1.parquet"
        ));
        let other = "part-00000-1b2c3d4e-0000-0000-0000-000000000000.parquet";
        for file in [tmp.path().join(&stray), zombie, tmp.path().join(other)] {
            std::fs::write(file, b"old").unwrap();
        }
        let ctx = crate::runner::orchard_session(SessionConfig::new().with_target_partitions(2));
        let frame = ctx
            .sql("SELECT * FROM (VALUES (1), (2), (3), (4), (5)) AS t(x)")
            .await
            .unwrap()
            .repartition(datafusion::logical_expr::Partitioning::RoundRobinBatch(2))
            .unwrap();
        let target = WriteTarget {
            out: &out,
            dir: String::new(),
            staging: "_temporary/j/output".into(),
            format: PartFormat::Parquet,
            job_id: job.into(),
            row_group_rows: 8192,
        };
        let written = write_parts_plan(&ctx, frame, target)
            .await
            .unwrap()
            .run(&ctx)
            .await
            .unwrap();
        assert_eq!(written.rows(), 5);
        let mut expected: Vec<String> = written.files.iter().map(|f| f.0.clone()).collect();
        expected.push(other.to_string());
        expected.push("_temporary".to_string());
        expected.sort();
        assert_eq!(names(tmp.path()), expected, "winners moved, stray deleted");
        assert!(
            names(&tmp.path().join("_temporary/j")).is_empty(),
            "staging cleared"
        );
        assert!(written.answer_bytes > 0 && written.answer_bytes < 200);
    }

    #[test]
    fn attempts_get_their_own_names_and_writes_know_theirs() {
        assert_eq!(attempt_suffix("TID aB3dE9x/2.0/7.1"), "-jaB3dE9x-s2.0-t7.1");
        assert_eq!(attempt_suffix("TID job_1/2.0/7.1"), "-jjob-1-s2.0-t7.1");
        assert_eq!(attempt_suffix("task 9"), "-task-9");
        let job = "0e5f5c4e-7c56-4b7e-9a0c-2f1d1f0b7a11";
        assert!(is_part_of(&format!("part-00000-{job}.parquet"), job));
        assert!(is_part_of(
            &format!("part-00000-{job}-jaB3dE9x-s2.0-t7.1.parquet"),
            job
        ));
        assert!(!is_part_of(&format!("part-00000-{job}-rw.parquet"), job));
        assert!(is_part_of(
            &format!("part-00000-{job}-rw.parquet"),
            &format!("{job}-rw")
        ));
        assert!(!is_part_of("_SUCCESS", job));
        assert_eq!(
            crate::incremental::part_job(&format!("part-00003-{job}-jaB3-s2.0-t7.1.parquet")),
            Some(job)
        );
    }
}
