//! The long-running processes: `orchard cluster scheduler` and
//! `orchard cluster executor`.
//!
//! Both embed Ballista 55 as a library (no `ballista-scheduler` /
//! `ballista-executor` binaries) so that they carry Orchard's codecs, object
//! stores and model lookup:
//!
//! * the scheduler decodes client plans with [`OrchardLogicalCodec`], plans
//!   them in sessions whose runtime resolves any store URL
//!   ([`OrchardObjectStoreRegistry`]; it lists Parquet spill files while
//!   planning), and encodes task plans with [`OrchardPhysicalCodec`];
//! * executors decode task plans with [`OrchardPhysicalCodec`] in the
//!   executor role (models found locally) and run them with the same store
//!   registry.
//!
//! Fault tolerance: a killed executor stops heart-beating; after
//! `executor_timeout_secs` the scheduler's check (every
//! `expire_check_secs`) removes it, and every task it was running or had
//! finished in a still-running stage is queued again, without counting as a
//! task failure. Defaults here detect a loss within about 7 s (push-based
//! scheduling, executors heart-beat every second, timeout 6 s, checked every
//! second); a healthy executor that misses heartbeats that long is stopped.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::ballista_scalar_functions;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_core::RuntimeProducer;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{
    create_scheduler, start_grpc_service_with_listener, start_server,
};
use ballista_scheduler::SessionBuilder;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use orchard_engine::write_parts::OrchardQueryPlanner;
use orchard_source::StorageOptions;

use crate::ballista_err;
use crate::codec::{CodecRole, OrchardLogicalCodec, OrchardPhysicalCodec};
use crate::error::ClusterError;
use crate::store::OrchardObjectStoreRegistry;
use crate::work_dir::WorkDir;
use orchard_engine::{EngineError, Result};

/// How the scheduler runs (besides where it listens).
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Host or IP executors use to reach this scheduler. Push-based executors
    /// send task status to `external_host:port`, so it must be reachable from
    /// them. `None`: the bind IP, or this machine's host name when binding to
    /// `0.0.0.0` / `::`.
    pub external_host: Option<String>,
    /// Push (`PushStaged`, Ballista's default: the scheduler sends tasks,
    /// executors heart-beat every `ExecutorOptions::heartbeat_secs`) or pull
    /// (`PullStaged`: executors poll; their poll is the heartbeat, every 5 s
    /// when busy). Executors must use the same.
    pub policy: TaskSchedulingPolicy,
    /// Serve result partitions through the scheduler's port (Arrow Flight
    /// proxy), so clients need not reach the executors.
    pub flight_proxy: bool,
    /// An executor without heartbeat for this long is lost (Ballista: 180).
    pub executor_timeout_secs: u64,
    /// How often lost executors are looked for (Ballista: 15).
    pub expire_check_secs: u64,
    /// How long running jobs wait for an executor when the last one is lost,
    /// before failing (Ballista: = executor timeout, 180).
    pub no_executors_grace_secs: u64,
    /// Attempts of a task that fails with a retryable error (Ballista: 4).
    /// Execution errors are not retried by Ballista 55; executor loss does
    /// not count.
    pub task_max_failures: usize,
    /// Attempts of a stage whose inputs were lost (Ballista: 4).
    pub stage_max_failures: usize,
    /// How remote stores are reached while planning (listing spill files).
    pub storage: StorageOptions,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            external_host: None,
            policy: TaskSchedulingPolicy::PushStaged,
            flight_proxy: true,
            executor_timeout_secs: 6,
            expire_check_secs: 1,
            no_executors_grace_secs: 60,
            task_max_failures: 4,
            stage_max_failures: 4,
            storage: StorageOptions::default(),
        }
    }
}

/// This machine's host name, if it can be read.
fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn external_host(bind: SocketAddr, configured: Option<&str>) -> String {
    if let Some(host) = configured {
        return host.to_string();
    }
    match bind.ip() {
        ip if !ip.is_unspecified() => ip.to_string(),
        _ => host_name().unwrap_or_else(|| {
            tracing::warn!(
                "cannot tell executors how to reach this scheduler; using localhost \
                 (set the external host)"
            );
            "localhost".to_string()
        }),
    }
}

/// A session builder for the scheduler: Ballista's default session, with a
/// runtime that builds Orchard's stores on demand.
fn scheduler_session_builder(registry: Arc<dyn ObjectStoreRegistry>) -> SessionBuilder {
    Arc::new(move |config: SessionConfig| {
        let state = default_session_builder(config)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(registry.clone())
            .build_arc()?;
        // Orchard's planner: `WriteParts` becomes `PartWriterExec`, so part
        // files are written by the tasks.
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .with_query_planner(Arc::new(OrchardQueryPlanner))
            .build())
    })
}

/// The Ballista configuration of Orchard's scheduler listening on `bind`.
pub fn scheduler_config(bind: SocketAddr, options: &SchedulerOptions) -> SchedulerConfig {
    let registry: Arc<dyn ObjectStoreRegistry> =
        Arc::new(OrchardObjectStoreRegistry::new(options.storage.clone()));
    let mut config = SchedulerConfig::default()
        .with_hostname(external_host(bind, options.external_host.as_deref()))
        .with_port(bind.port())
        .with_scheduler_policy(options.policy)
        // Spread a stage's tasks over all executors (Bias fills one first).
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_enable_embedded_flight_proxy(options.flight_proxy)
        .with_no_executors_grace_period_seconds(options.no_executors_grace_secs)
        .with_override_session_builder(scheduler_session_builder(registry));
    config.bind_host = bind.ip().to_string();
    config.executor_timeout_seconds = options.executor_timeout_secs;
    config.expire_dead_executor_interval_seconds = options.expire_check_secs;
    config.task_max_failures = options.task_max_failures;
    config.stage_max_failures = options.stage_max_failures;
    config.override_logical_codec = Some(Arc::new(OrchardLogicalCodec::new(CodecRole::Scheduler)));
    config.override_physical_codec =
        Some(Arc::new(OrchardPhysicalCodec::new(CodecRole::Scheduler)));
    config
}

/// Runs the scheduler on `bind` until the server stops.
pub async fn run_scheduler(bind: SocketAddr, options: SchedulerOptions) -> Result<()> {
    let config = scheduler_config(bind, &options);
    tracing::info!(
        %bind,
        endpoint = %config.scheduler_endpoint(),
        policy = ?options.policy,
        executor_timeout_secs = options.executor_timeout_secs,
        "starting the Orchard scheduler"
    );
    // The cluster state must be built after the session builder is set.
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_err)?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(ballista_err)
}

/// Runs the scheduler on an already bound `listener` (tests: bind port 0,
/// then point executors and clients at `listener.local_addr()`).
pub async fn serve_scheduler(
    listener: tokio::net::TcpListener,
    options: SchedulerOptions,
) -> Result<()> {
    let bind = listener.local_addr().map_err(|e| EngineError::Runner {
        runner: "cluster",
        source: Box::new(e),
    })?;
    let config = Arc::new(scheduler_config(bind, &options));
    config.validate().map_err(ballista_err)?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_err)?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(ballista_err)?;
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(ballista_err)
}

/// The two ports of an executor; 0 picks a free one (see [`resolve_ports`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorPorts {
    /// Arrow Flight: shuffle and result partitions (clients fetch results here
    /// unless the scheduler proxies them). Ballista: 50051.
    pub flight: u16,
    /// gRPC: tasks pushed by the scheduler (push-based scheduling). Ballista: 50052.
    pub grpc: u16,
}

impl Default for ExecutorPorts {
    fn default() -> Self {
        Self {
            flight: 50051,
            grpc: 50052,
        }
    }
}

/// Replaces every 0 of `ports` by a free port of `bind_host`, so that several
/// executors run on one host without choosing ports by hand.
///
/// Ballista 55 binds its servers itself from port numbers (it takes no
/// listener), and registers those numbers with the scheduler; so a free port
/// is found by binding port 0, reading the port the system chose and
/// releasing it just before Ballista binds it again. Both ports are found
/// while both probes are held, so they differ. Another process could take a
/// released port in the instant between: Ballista then fails to bind and the
/// executor exits with its error; start it again.
pub fn resolve_ports(bind_host: &str, ports: ExecutorPorts) -> Result<ExecutorPorts> {
    let probe = || {
        std::net::TcpListener::bind((bind_host, 0)).map_err(|e| {
            EngineError::io(
                format!("cannot find a free port on --bind-host {bind_host}"),
                e,
            )
        })
    };
    let port_of = |l: &std::net::TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| EngineError::io("a free port", e))
    };
    let flight_probe = (ports.flight == 0).then(probe).transpose()?;
    let grpc_probe = (ports.grpc == 0).then(probe).transpose()?;
    Ok(ExecutorPorts {
        flight: match &flight_probe {
            Some(l) => port_of(l)?,
            None => ports.flight,
        },
        grpc: match &grpc_probe {
            Some(l) => port_of(l)?,
            None => ports.grpc,
        },
    })
}

/// How an executor runs (besides its slots, address and scheduler).
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Host or IP others use to reach this executor; `None`: the address the
    /// scheduler sees the registration come from.
    pub external_host: Option<String>,
    /// Must match the scheduler's.
    pub policy: TaskSchedulingPolicy,
    /// Seconds between heartbeats (push-based; Ballista: 60). Keep well below
    /// the scheduler's executor timeout.
    pub heartbeat_secs: u64,
    /// Shuffle, spill and result files (kept when the executor stops);
    /// `None`: a new folder in the temp dir, removed when the executor stops.
    pub work_dir: Option<PathBuf>,
    /// Keep retrying until the scheduler answers (Ballista 55.0.0 retries
    /// forever once this is non-zero; 0 fails at once).
    pub scheduler_connect_retry_secs: u16,
    /// Memory pool of all tasks together (`None`: Ballista's 70 % of the
    /// host/cgroup memory; `Some(0)`: unbounded).
    pub memory_pool_bytes: Option<u64>,
    /// How remote stores are reached (credentials from this process's environment).
    pub storage: StorageOptions,
    /// Where `GET /metrics` (Prometheus) is served (port 0: a free port);
    /// `None`: not served.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            external_host: None,
            policy: TaskSchedulingPolicy::PushStaged,
            heartbeat_secs: 1,
            work_dir: None,
            scheduler_connect_retry_secs: 30,
            memory_pool_bytes: None,
            storage: StorageOptions::default(),
            metrics_addr: None,
        }
    }
}

/// `host:port`, `df://host:port` or `host` (port 50050).
pub fn parse_scheduler(scheduler: &str) -> std::result::Result<(String, u16), ClusterError> {
    let invalid = || ClusterError::SchedulerAddress {
        address: scheduler.to_string(),
    };
    let rest = scheduler
        .split_once("://")
        .map_or(scheduler, |(_, rest)| rest)
        .trim_end_matches('/');
    if rest.is_empty() {
        return Err(invalid());
    }
    // [v6::addr]:port
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, port) = v6.split_once(']').ok_or_else(invalid)?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| invalid())?,
            None => 50050,
        };
        return Ok((host.to_string(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_string(), port.parse().map_err(|_| invalid())?))
        }
        _ if rest.parse::<IpAddr>().is_ok() || !rest.contains(':') => Ok((rest.to_string(), 50050)),
        _ => Err(invalid()),
    }
}

/// What executors resolve functions by name with: Ballista's defaults plus
/// the nested (array) functions the scheduler's sessions have. Orchard's own
/// functions travel with their payloads and are not needed here.
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in ballista_scalar_functions() {
        registry
            .scalar_functions
            .entry(f.name().to_string())
            .or_insert(f);
    }
    registry
}

/// The addresses an executor serves on, once its ports are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorAddresses {
    /// Flight and gRPC ports, as registered with the scheduler.
    pub ports: ExecutorPorts,
    /// Where `GET /metrics` is served, if it is.
    pub metrics: Option<SocketAddr>,
}

/// Runs an executor with `slots` concurrent tasks, serving on `bind_host` at
/// `ports` (0: a free port, [`resolve_ports`]), registered with `scheduler`
/// (`host:port`), until it is stopped (Ctrl-C, SIGTERM, or the scheduler's
/// stop request). `listening` is told the chosen ports once the metrics
/// endpoint listens, before the executor registers.
pub async fn run_executor(
    scheduler: &str,
    slots: usize,
    bind_host: &str,
    ports: ExecutorPorts,
    options: ExecutorOptions,
    listening: impl FnOnce(ExecutorAddresses),
) -> Result<()> {
    let (scheduler_host, scheduler_port) = parse_scheduler(scheduler)?;
    let metrics = match options.metrics_addr {
        Some(addr) => Some(
            crate::metrics::serve_metrics(addr, crate::metrics::executor_registry(slots)).await?,
        ),
        None => None,
    };
    let ports = resolve_ports(bind_host, ports)?;
    listening(ExecutorAddresses { ports, metrics });
    // Removed when this function returns if Orchard created it.
    let work_dir = WorkDir::create(options.work_dir.as_deref())?;

    // One registry for the whole process: stores (and their connection pools)
    // are built once and shared by every session's runtime.
    let registry: Arc<dyn ObjectStoreRegistry> =
        Arc::new(OrchardObjectStoreRegistry::new(options.storage.clone()));
    let spill_dir = work_dir.path().to_path_buf();
    let runtime_producer: RuntimeProducer = Arc::new(move |_config: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(registry.clone())
            .with_temp_file_path(spill_dir.clone())
            .build_arc()
    });

    let config = ExecutorProcessConfig {
        bind_host: bind_host.to_string(),
        external_host: options.external_host.clone(),
        port: ports.flight,
        grpc_port: ports.grpc,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: options.scheduler_connect_retry_secs,
        vcores: slots,
        task_scheduling_policy: options.policy,
        work_dir: Some(work_dir.as_str().to_string()),
        executor_heartbeat_interval_seconds: options.heartbeat_secs.max(1),
        memory_pool_size: options.memory_pool_bytes,
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(runtime_producer),
        override_logical_codec: Some(Arc::new(OrchardLogicalCodec::new(CodecRole::Executor))),
        override_physical_codec: Some(Arc::new(OrchardPhysicalCodec::new(CodecRole::Executor))),
        ..Default::default()
    };
    tracing::info!(
        scheduler,
        slots,
        bind_host,
        flight_port = ports.flight,
        grpc_port = ports.grpc,
        work_dir = %work_dir.path().display(),
        "starting an Orchard executor"
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(parse_scheduler("h:1").unwrap(), ("h".into(), 1));
        assert_eq!(parse_scheduler("df://h:2/").unwrap(), ("h".into(), 2));
        assert_eq!(parse_scheduler("h").unwrap(), ("h".into(), 50050));
        assert_eq!(parse_scheduler("[::1]:3").unwrap(), ("::1".into(), 3));
        assert!(parse_scheduler("h:x").is_err());
    }

    #[test]
    fn port_zero_becomes_free_distinct_ports_and_others_stay() {
        let fixed = ExecutorPorts {
            flight: 1234,
            grpc: 5678,
        };
        assert_eq!(resolve_ports("127.0.0.1", fixed).unwrap(), fixed);
        let picked = resolve_ports("127.0.0.1", ExecutorPorts { flight: 0, grpc: 0 }).unwrap();
        assert!(picked.flight != 0 && picked.grpc != 0);
        assert_ne!(picked.flight, picked.grpc);
        // Free: they can be bound now.
        let _a = std::net::TcpListener::bind(("127.0.0.1", picked.flight)).unwrap();
        let _b = std::net::TcpListener::bind(("127.0.0.1", picked.grpc)).unwrap();
        let half = resolve_ports("127.0.0.1", ExecutorPorts { flight: 0, grpc: 7 }).unwrap();
        assert_eq!(half.grpc, 7);
        assert!(resolve_ports("not a host name", ExecutorPorts { flight: 0, grpc: 0 }).is_err());
    }

    #[test]
    fn config_carries_codecs_and_timeouts() {
        let bind: SocketAddr = "127.0.0.1:50050".parse().unwrap();
        let config = scheduler_config(bind, &SchedulerOptions::default());
        assert!(config.override_logical_codec.is_some());
        assert!(config.override_physical_codec.is_some());
        assert!(config.override_session_builder.is_some());
        assert_eq!(config.scheduler_endpoint(), "127.0.0.1:50050");
        assert!(config.executor_timeout_seconds > config.expire_dead_executor_interval_seconds);
        config.validate().unwrap();
    }
}
