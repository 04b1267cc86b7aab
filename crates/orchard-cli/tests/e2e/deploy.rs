//! The monitoring files in `deploy/` match what Orchard's processes expose:
//! every metric the Grafana dashboard queries is served by an executor, a
//! real scheduler or `orchard serve`, and the Prometheus scrape config points
//! at the paths and default ports the processes use.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::common::cluster::{free_port, http_get, wait_for_port};
use crate::common::{python, repo_root};

/// Metric names (identifiers starting `orchard_`, `job_` or `pending_`) in a
/// PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| {
            ["orchard_", "job_", "pending_"]
                .iter()
                .any(|p| t.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// Whether a Prometheus/OpenMetrics page exposes `name` (a sample line, or
/// the family of a `_total`, `_bucket`, `_sum` or `_count` series).
fn exposes(page: &str, name: &str) -> bool {
    let sample = page
        .lines()
        .any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']));
    let family = ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .chain(std::iter::once(name))
        .any(|f| page.lines().any(|l| l.starts_with(&format!("# TYPE {f} "))));
    sample || family
}

/// The real scheduler's metrics page (Ballista's, on its own port).
fn scheduler_page() -> String {
    let port = free_port();
    let mut scheduler = Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args([
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let page = http_get(port, orchard_cluster::metrics::SCHEDULER_METRICS_PATH);
    let _ = scheduler.kill();
    let _ = scheduler.wait();
    page
}

#[test]
fn every_dashboard_query_reads_a_metric_orchard_exposes() {
    let dashboard: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("deploy/grafana/orchard.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();

    let executor = orchard_engine::metrics::encode(&orchard_cluster::metrics::executor_registry(2));
    let serve = orchard_serve::Metrics::default().render();
    let scheduler = scheduler_page();
    let pages = [&executor, &serve, &scheduler];
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !pages.iter().any(|p| exposes(p, n)))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no process exposes: {missing:?}"
    );
    // Each kind of process has a panel.
    for needed in [
        "orchard_photos_total",
        "job_completed_total",
        "orchard_identify_seconds_bucket",
    ] {
        assert!(names.contains(needed), "no panel reads {needed}");
    }
}

#[test]
fn the_scrape_config_points_at_the_processes_defaults() {
    let config = repo_root().join("deploy/prometheus.yml");
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            config.to_str().unwrap(),
        ])
        .output()
        .expect("the project's Python (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = |name: &str| {
        config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == name)
            .unwrap_or_else(|| panic!("no scrape job {name}"))
            .clone()
    };
    let targets = |j: &serde_json::Value| -> Vec<String> {
        j["static_configs"][0]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let scheduler = job("orchard-scheduler");
    assert_eq!(
        scheduler["metrics_path"],
        orchard_cluster::metrics::SCHEDULER_METRICS_PATH
    );
    assert!(help(&["cluster", "scheduler", "--help"]).contains("0.0.0.0:50050"));
    assert!(targets(&scheduler).iter().all(|t| t.ends_with(":50050")));

    let executor = job("orchard-executor");
    assert_eq!(executor["metrics_path"], "/metrics");
    assert!(help(&["cluster", "executor", "--help"]).contains("[default: 50053]"));
    assert!(targets(&executor).iter().all(|t| t.ends_with(":50053")));

    let serve = job("orchard-serve");
    assert_eq!(serve["metrics_path"], "/metrics");
    assert!(help(&["serve", "--help"]).contains(":8080"));
    assert!(targets(&serve).iter().all(|t| t.ends_with(":8080")));
}
