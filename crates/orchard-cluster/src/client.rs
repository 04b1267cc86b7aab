//! The client side: a `SessionContext` whose queries run on a Ballista
//! cluster (`orchard extract … --cluster df://host:50050`).
//!
//! [`BallistaRunner`](crate::BallistaRunner) hands these sessions to the
//! engine; everything else stays as it is:
//!
//! * Register Orchard's functions on the context *returned* by
//!   [`remote_context`] (as `extract` already does, job by job):
//!   `SessionContext::remote_with_state` rebuilds the state with Ballista's
//!   function lists (`SessionStateBuilder::with_scalar_functions` replaces the
//!   list), so functions registered before would be gone.
//! * Every `ctx.sql(…)` / `DataFrame` plan becomes one Ballista job
//!   (`DistributedQueryExec`, one output partition); its batches stream back
//!   to this process, where `PartWriterExec` writes them as before.
//! * Object stores: the context resolves any store URL by itself
//!   ([`OrchardObjectStoreRegistry`]); `register_object_store` still works.
//!   The scheduler and the executors must reach the same stores: on a cluster
//!   both input and output must be on shared storage (a bucket, or a file
//!   system mounted at the same path everywhere), since executors read the
//!   spill files this process writes.

use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use orchard_source::StorageOptions;

use crate::codec::{CodecRole, OrchardLogicalCodec, OrchardPhysicalCodec};
use crate::progress::SchedulerApi;
use crate::store::OrchardObjectStoreRegistry;
use crate::watchdog::{StallPolicy, WatchdogPlanner};
use ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED;
use orchard_engine::{EngineError, Result};

/// `df://host:port`, `host:port` or `host` as the URL Ballista expects
/// (`df://host:port`; it connects to `http://host:port`, default port 50050).
pub fn scheduler_url(cluster: &str) -> String {
    if cluster.contains("://") {
        cluster.to_string()
    } else {
        format!("df://{cluster}")
    }
}

/// A context whose queries run on the cluster at `url`, planned with
/// `partitions` target partitions (0 = this machine's cores; on a cluster,
/// the total number of executor slots is a better choice).
///
/// The session settings are the engine's (`orchard_engine::session_config`:
/// batch size 1024, no information schema, plain Utf8 in Parquet), so plans
/// match embedded runs;
/// Ballista adds its own restrictions (no round-robin repartitioning, no
/// dynamic filters, sort-merge joins) when it upgrades the config.
pub async fn remote_context(
    url: &str,
    partitions: usize,
    storage: &StorageOptions,
) -> Result<SessionContext> {
    remote_session(
        url,
        orchard_engine::session_config(partitions),
        storage,
        StallPolicy::default(),
    )
    .await
}

/// [`remote_context`] with Orchard's session settings already made (see
/// [`orchard_engine::session_config`]), and every query watched for stalls
/// ([`WatchdogPlanner`]).
pub async fn remote_session(
    url: &str,
    config: SessionConfig,
    storage: &StorageOptions,
    stall: StallPolicy,
) -> Result<SessionContext> {
    // No `with_ballista_*` option setter here: they insert Ballista's config
    // extension, and `upgrade_for_ballista` then takes the config as already
    // upgraded and skips Ballista's restrictions. The codec setters only add
    // plain config extensions.
    let config = config
        .with_ballista_logical_extension_codec(Arc::new(OrchardLogicalCodec::new(
            CodecRole::Client,
        )))
        .with_ballista_physical_extension_codec(Arc::new(OrchardPhysicalCodec::new(
            CodecRole::Client,
        )));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(OrchardObjectStoreRegistry::new(storage.clone())))
        .build_arc()?;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(&scheduler_url(url), state).await?;
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        let options = state.config_mut().options_mut();
        // One partition per task: a lost executor costs the re-run of its
        // partitions only, and slots fill evenly (0 = up to all free slots).
        options.set("ballista.scheduler.max_partitions_per_task", "1")?;
        options.set("ballista.job.name", "orchard")?;
        // The static planner: Ballista 55's adaptive one can lose track of a
        // stage rolled back after an executor loss and then wait forever
        // (apache/datafusion-ballista#1986).
        options.set(BALLISTA_ADAPTIVE_PLANNER_ENABLED, "false")?;
    }
    let state = ctx.state();
    let planner = WatchdogPlanner::new(
        state.query_planner().clone(),
        Arc::new(SchedulerApi::new(url)),
        stall,
    );
    let state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// Names the jobs the context submits from now on (shown in scheduler logs).
pub fn set_job_name(ctx: &SessionContext, name: &str) -> Result<()> {
    let state = ctx.state_ref();
    let mut state = state.write();
    state
        .config_mut()
        .options_mut()
        .set("ballista.job.name", name)
        .map_err(EngineError::from)
}

pub use crate::watchdog::job_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(scheduler_url("h:1"), "df://h:1");
        assert_eq!(scheduler_url("df://h:1"), "df://h:1");
    }
}
