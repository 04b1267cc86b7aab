//! `orchard extract --cluster`: a real Ballista scheduler and three real
//! executor processes on one host (every port chosen with `--port 0
//! --grpc-port 0 --metrics-port 0`) run the job; the result equals the
//! embedded run, and losing an executor mid-job loses no row.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::cluster::*;
use crate::common::*;

/// Bytes of the files under `dir` (following links).
fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk_sizes(&path)
            } else {
                std::fs::metadata(&path).unwrap().len()
            }
        })
        .sum()
}

#[test]
fn the_cluster_run_equals_the_embedded_run_and_survives_a_lost_executor() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 40), ("lemon", 40), ("raspberry", 40)],
    );
    let embedded = tmp.path().join("embedded");
    let args = |out: &Path| extract_args(&photos, out);
    assert_ok(
        &Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args(&embedded))
            .output()
            .unwrap(),
    );

    let mut cluster = Cluster::start(3, tmp.path());
    // Three executors on one host, each with its own free ports, registered
    // with the ports they logged.
    let registered = cluster.registered_executors();
    assert_eq!(registered.len(), 3, "{registered:?}");
    let mut flight: Vec<u64> = registered
        .iter()
        .map(|e| e["port"].as_u64().unwrap())
        .collect();
    flight.sort();
    let mut logged: Vec<u64> = cluster
        .executors
        .iter()
        .map(|e| e.flight_port as u64)
        .collect();
    logged.sort();
    assert_eq!(flight, logged);
    let mut all: Vec<u16> = cluster
        .executors
        .iter()
        .flat_map(|e| [e.flight_port, e.grpc_port, e.metrics_port])
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 9, "nine distinct ports: {all:?}");
    let out = tmp.path().join("cluster");
    let mut cmd = args(&out);
    cmd.extend([
        "--cluster".into(),
        cluster.url(),
        "--partitions".into(),
        "4".into(),
    ]);
    let result = Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(&cmd)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let client_log = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "cluster run failed: {client_log}\n{}",
        cluster.logs()
    );
    assert_same_rows(&out, &embedded);
    // The executors wrote the part files: the client received names, row
    // counts and the run's PCA statistics (one fixed-size state), never a
    // feature vector (5 KB a photo).
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();
    let received = run["counts"]["results_received_bytes"].as_u64().unwrap();
    let (dim, featurized) = (1280u64, 120u64);
    let pca_state = 32 + 8 * dim + 4 * dim * (dim + 1);
    assert!(received >= pca_state, "{received}");
    let per_photo = (received - pca_state) / featurized;
    assert!(
        per_photo < 200,
        "{per_photo} bytes per photo besides the PCA state"
    );
    // Progress by task, from the scheduler: 120 photos in one chunk, planned
    // as 4 scan partitions (32 photos a batch), one task each.
    assert!(
        client_log.contains("featurized 120/120 photos")
            && client_log.contains("cluster tasks 4/4"),
        "no task progress in the client's log:\n{client_log}"
    );
    // The executors' Prometheus endpoints: together they featurized every
    // photo once, read every byte, and timed their model calls.
    let pages: Vec<String> = cluster
        .executors
        .iter()
        .map(|e| http_get(e.metrics_port, "/metrics"))
        .collect();
    let total = |name: &str| pages.iter().map(|p| sample(p, name)).sum::<f64>();
    assert_eq!(total("orchard_photos_total"), 120.0, "{pages:?}");
    let photo_bytes: u64 = walk_sizes(&photos);
    assert_eq!(total("orchard_bytes_read_total"), photo_bytes as f64);
    assert!(total("orchard_model_seconds_count") >= 4.0, "{pages:?}");
    assert_eq!(total("orchard_scan_tasks_running"), 0.0);
    assert_eq!(total("orchard_scan_tasks_finished_total"), 4.0);
    // The job was shared: every executor ran scan tasks.
    for (i, page) in pages.iter().enumerate() {
        assert!(
            sample(page, "orchard_scan_tasks_finished_total") >= 1.0,
            "executor {i} ran no task:\n{page}"
        );
    }
    // The scheduler's (Ballista's) metrics on its own port.
    let scheduler = http_get(cluster.port, "/api/metrics");
    assert!(
        scheduler.contains("job_completed_total") && scheduler.contains("job_exec_time_seconds"),
        "{scheduler}"
    );

    // Kill one executor while a job runs: the job completes on the other
    // (its tasks are re-queued), or fails clearly and --resume completes it.
    let out = tmp.path().join("killed");
    let mut cmd = args(&out);
    cmd.extend([
        "--cluster".into(),
        cluster.url(),
        "--partitions".into(),
        "4".into(),
        "--checkpoint-every".into(),
        "30".into(),
    ]);
    let mut client = Command::new(env!("CARGO_BIN_EXE_orchard"));
    client
        .args(&cmd)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped());
    let mut run = EventRun::start(client);
    // The first of four chunks is done: the job is running on the executors.
    assert!(
        run.wait_for_event("chunk_done").is_some(),
        "the run ended before its first chunk"
    );
    let _ = cluster.executors[2].child.kill();
    let _ = cluster.executors[2].child.wait();
    let status = run.child.wait().unwrap();
    eprintln!(
        "run with a lost executor: {}",
        if status.success() {
            "completed"
        } else {
            "failed; resuming"
        }
    );
    if !status.success() {
        assert!(!out.join("_SUCCESS").exists());
        let mut resume = cmd.clone();
        resume.push("--resume".into());
        let again = Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(&resume)
            .output()
            .unwrap();
        assert!(
            again.status.success(),
            "resume after a lost executor failed: {}\n{}",
            String::from_utf8_lossy(&again.stderr),
            cluster.logs()
        );
    }
    assert!(out.join("_SUCCESS").exists());
    assert_same_rows(&out, &embedded);
}

#[test]
fn an_executor_stopped_with_sigterm_removes_the_work_folder_it_created() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(0, tmp.path());
    // No --work-dir: the executor makes its own folder in the temp dir.
    let mut executor = cluster.start_executor_with(&[]);
    cluster.wait_for_executors(1);
    let log = std::fs::read_to_string(&executor.log).unwrap();
    let work_dir = log
        .split_whitespace()
        .find_map(|w| w.strip_prefix("work_dir="))
        .unwrap_or_else(|| panic!("no work_dir in the executor's log:\n{log}"))
        .to_string();
    assert!(Path::new(&work_dir).is_dir(), "{work_dir}");
    let term = Command::new("kill")
        .args(["-TERM", &executor.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = executor.child.wait().unwrap();
    assert!(
        !Path::new(&work_dir).exists(),
        "{work_dir} left behind (executor exit {status}):\n{}",
        std::fs::read_to_string(&executor.log).unwrap()
    );
}
