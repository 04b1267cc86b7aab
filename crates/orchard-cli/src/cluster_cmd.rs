//! `orchard cluster scheduler` and `orchard cluster executor`.

use anyhow::{Context, Result};

use crate::args::ClusterCommand;
use crate::setup::storage_options;

/// Runs a cluster role until it is stopped.
pub async fn run_cluster(cmd: ClusterCommand) -> Result<()> {
    use orchard_cluster::process::{
        run_executor, run_scheduler, ExecutorOptions, ExecutorPorts, SchedulerOptions,
    };
    match cmd {
        ClusterCommand::Scheduler {
            bind,
            external_host,
            executor_timeout,
            storage,
        } => {
            let options = SchedulerOptions {
                external_host,
                executor_timeout_secs: executor_timeout,
                storage: storage_options(&storage)?,
                ..Default::default()
            };
            tracing::info!(%bind, "starting the scheduler");
            run_scheduler(bind, options).await?;
        }
        ClusterCommand::Executor {
            scheduler,
            slots,
            bind_host,
            external_host,
            port,
            grpc_port,
            metrics_port,
            no_metrics,
            work_dir,
            storage,
        } => {
            let slots = orchard_model::effective_threads(slots);
            let metrics_addr = match no_metrics {
                true => None,
                false => Some(
                    tokio::net::lookup_host((bind_host.as_str(), metrics_port))
                        .await?
                        .next()
                        .with_context(|| format!("cannot resolve --bind-host {bind_host}"))?,
                ),
            };
            let options = ExecutorOptions {
                external_host,
                storage: storage_options(&storage)?,
                metrics_addr,
                work_dir,
                ..Default::default()
            };
            let ports = ExecutorPorts {
                flight: port,
                grpc: grpc_port,
            };
            run_executor(&scheduler, slots, &bind_host, ports, options, |at| {
                // The chosen ports, for operators and scripts (with port 0).
                let metrics = at
                    .metrics
                    .map_or_else(|| "off".to_string(), |a| a.port().to_string());
                tracing::info!(
                    "executor: {slots} slot(s), flight port {}, grpc port {}, metrics port {metrics}, \
                     registering with the scheduler at {scheduler}",
                    at.ports.flight,
                    at.ports.grpc
                );
            })
            .await?;
        }
    }
    Ok(())
}
