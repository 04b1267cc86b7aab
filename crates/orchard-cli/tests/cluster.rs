//! `orchard extract --cluster`: a real Ballista scheduler and two real
//! executor processes on loopback run the job; the result equals the
//! embedded run, and losing an executor mid-job loses no row.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// Child processes killed when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    /// Each executor's Prometheus port.
    metrics_ports: Vec<u16>,
    port: u16,
}

impl Cluster {
    fn start(executors: usize, log_dir: &Path) -> Cluster {
        let port = free_port();
        let log = |name: &str| std::fs::File::create(log_dir.join(name)).unwrap();
        let scheduler = Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args([
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log("scheduler.log"))
            .spawn()
            .unwrap();
        wait_for_port(port);
        let metrics_ports: Vec<u16> = (0..executors).map(|_| free_port()).collect();
        let executors = (0..executors)
            .map(|i| {
                let (flight, grpc) = (free_port(), free_port());
                let child = Command::new(env!("CARGO_BIN_EXE_orchard"))
                    .args([
                        "cluster",
                        "executor",
                        "--scheduler",
                        &format!("127.0.0.1:{port}"),
                        "--slots",
                        "1",
                        "--bind-host",
                        "127.0.0.1",
                        "--external-host",
                        "127.0.0.1",
                        "--port",
                        &flight.to_string(),
                        "--grpc-port",
                        &grpc.to_string(),
                        "--metrics-port",
                        &metrics_ports[i].to_string(),
                    ])
                    .env("RUST_LOG", "info")
                    .stdout(Stdio::null())
                    .stderr(log(&format!("executor{i}.log")))
                    .spawn()
                    .unwrap();
                wait_for_port(flight);
                child
            })
            .collect();
        // Executors register with their first heartbeat.
        std::thread::sleep(Duration::from_secs(2));
        Cluster {
            scheduler,
            executors,
            metrics_ports,
            port,
        }
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self
            .executors
            .iter_mut()
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The body of `GET http://127.0.0.1:{port}{path}`.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "GET {path}: {reply}");
    reply
}

/// The value of an unlabelled sample `name` in a Prometheus text page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

fn logs(dir: &Path) -> String {
    let mut all = String::new();
    for name in ["scheduler.log", "executor0.log", "executor1.log"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            all += &format!(
                "--- {name}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    all
}

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

fn assert_same_rows(cluster_out: &Path, embedded_out: &Path) {
    let a = rows_by_path(cluster_out);
    let b = rows_by_path(embedded_out);
    assert_eq!(a.len(), b.len());
    for (path, row) in &b {
        let got = a
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the cluster run"));
        assert_eq!(got.label, row.label);
        assert_eq!(got.label_index, row.label_index);
        assert_eq!(got.features, row.features, "features of {path}");
        for (x, y) in got.pca.iter().zip(&row.pca) {
            // Within 1e-6, relative to the value (f32 spacing grows with it).
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                "pca of {path}: {x} vs {y}"
            );
        }
    }
    let total: usize = read_parts(cluster_out).iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, b.len(), "no duplicate rows");
}

#[test]
fn the_cluster_run_equals_the_embedded_run_and_survives_a_lost_executor() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 40), ("lemon", 40), ("raspberry", 40)],
    );
    let embedded = tmp.path().join("embedded");
    let args = |out: &Path| {
        vec![
            "extract".to_string(),
            photos.display().to_string(),
            out.display().to_string(),
            "--keep-features".into(),
            "--pca-k".into(),
            "4".into(),
        ]
    };
    assert_ok(
        &Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args(&embedded))
            .output()
            .unwrap(),
    );

    let mut cluster = Cluster::start(2, tmp.path());
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
        logs(tmp.path())
    );
    assert_same_rows(&out, &embedded);
    // Progress by task, from the scheduler: 120 photos in one chunk, planned
    // as 4 scan partitions, one task each.
    assert!(
        client_log.contains("featurized 120/120 photos")
            && client_log.contains("cluster tasks 4/4"),
        "no task progress in the client's log:\n{client_log}"
    );
    // The executors' Prometheus endpoints: together they featurized every
    // photo once, read every byte, and timed their model calls.
    let pages: Vec<String> = cluster
        .metrics_ports
        .iter()
        .map(|p| http_get(*p, "/metrics"))
        .collect();
    let total = |name: &str| pages.iter().map(|p| sample(p, name)).sum::<f64>();
    assert_eq!(total("orchard_photos_total"), 120.0, "{pages:?}");
    let photo_bytes: u64 = walk_sizes(&photos);
    assert_eq!(total("orchard_bytes_read_total"), photo_bytes as f64);
    assert!(total("orchard_model_seconds_count") >= 4.0, "{pages:?}");
    assert_eq!(total("orchard_scan_tasks_running"), 0.0);
    assert_eq!(total("orchard_scan_tasks_finished_total"), 4.0);
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(&cmd)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = cluster.executors[1].kill();
    let _ = cluster.executors[1].wait();
    let status = child.wait().unwrap();
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
            logs(tmp.path())
        );
    }
    assert!(out.join("_SUCCESS").exists());
    assert_same_rows(&out, &embedded);
}
