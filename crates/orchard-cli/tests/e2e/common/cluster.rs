//! A real Ballista cluster on loopback for the cluster tests: an `orchard
//! cluster scheduler` and N `orchard cluster executor` processes, each of
//! which a test can kill (SIGKILL) and start again.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{read_parts, rows_by_path};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something listens on `port` within 30 s.
fn listens_within(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn wait_for_port(port: u16) {
    assert!(listens_within(port), "nothing listens on {port}");
}

/// Waits for the process logging to `log` to listen on `port`; fails with
/// its log otherwise.
fn wait_for_process_port(port: u16, log: &Path) {
    if !listens_within(port) {
        panic!(
            "nothing listens on {port}; {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

/// One executor process and its ports.
pub struct Executor {
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
    pub flight_port: u16,
    pub grpc_port: u16,
    pub metrics_port: u16,
}

/// Child processes killed when dropped.
pub struct Cluster {
    pub scheduler: Child,
    pub executors: Vec<Executor>,
    pub port: u16,
    log_dir: PathBuf,
    /// Executors started so far (names their log files).
    started: usize,
    /// Extra arguments of the scheduler.
    scheduler_args: Vec<String>,
}

impl Cluster {
    pub fn start(executors: usize, log_dir: &Path) -> Cluster {
        Cluster::start_with(executors, log_dir, &[])
    }

    /// A cluster whose scheduler gets `scheduler_args` too.
    pub fn start_with(executors: usize, log_dir: &Path, scheduler_args: &[&str]) -> Cluster {
        let port = free_port();
        let scheduler_args: Vec<String> = scheduler_args.iter().map(|a| a.to_string()).collect();
        let mut cluster = Cluster {
            scheduler: start_scheduler(port, log_dir, "scheduler.log", &scheduler_args),
            executors: Vec::new(),
            port,
            log_dir: log_dir.to_path_buf(),
            started: 0,
            scheduler_args,
        };
        for _ in 0..executors {
            let executor = cluster.start_executor();
            cluster.executors.push(executor);
        }
        cluster.wait_for_executors(executors);
        cluster
    }

    /// Waits until `n` executors are registered with the scheduler.
    pub fn wait_for_executors(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let registered = self.registered_executors().len();
            if registered == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{registered} executors registered, not {n}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The scheduler's `GET /api/executors`.
    pub fn registered_executors(&self) -> Vec<serde_json::Value> {
        let reply = http_get(self.port, "/api/executors");
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
    }

    /// Starts one more executor (not added to `executors`) with `--port 0
    /// --grpc-port 0 --metrics-port 0`, and reads the ports it chose from
    /// its log.
    pub fn start_executor(&mut self) -> Executor {
        let work_dir = self.log_dir.join(format!("executor{}-work", self.started));
        self.start_executor_with(&["--work-dir", work_dir.to_str().unwrap()])
    }

    /// Starts one more executor (not added to `executors`) as
    /// [`Cluster::start_executor`] does, with `extra` arguments instead of
    /// its own work folder in the log folder.
    pub fn start_executor_with(&mut self, extra: &[&str]) -> Executor {
        let log_path = self.log_dir.join(format!("executor{}.log", self.started));
        let log = std::fs::File::create(&log_path).unwrap();
        self.started += 1;
        let child = Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args([
                "cluster",
                "executor",
                "--scheduler",
                &format!("127.0.0.1:{}", self.port),
                "--slots",
                "1",
                "--bind-host",
                "127.0.0.1",
                "--external-host",
                "127.0.0.1",
                "--port",
                "0",
                "--grpc-port",
                "0",
                "--metrics-port",
                "0",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let [flight_port, grpc_port, metrics_port] = chosen_ports(&log_path);
        wait_for_process_port(flight_port, &log_path);
        Executor {
            log: log_path,
            child,
            flight_port,
            grpc_port,
            metrics_port,
        }
    }

    /// SIGKILLs executor `i` and starts a new one in its place.
    pub fn kill_and_replace_executor(&mut self, i: usize) {
        let _ = self.executors[i].child.kill();
        let _ = self.executors[i].child.wait();
        self.executors[i] = self.start_executor();
    }

    /// SIGKILLs the scheduler and every executor, then starts them again
    /// (the scheduler on the same port, with its state lost).
    pub fn kill_and_restart_all(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
        for e in &mut self.executors {
            let _ = e.child.kill();
            let _ = e.child.wait();
        }
        self.scheduler = start_scheduler(
            self.port,
            &self.log_dir,
            "scheduler-restarted.log",
            &self.scheduler_args,
        );
        for i in 0..self.executors.len() {
            self.executors[i] = self.start_executor();
        }
        self.wait_for_executors(self.executors.len());
    }

    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    /// The last lines of every process's log.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        let mut names: Vec<_> = std::fs::read_dir(&self.log_dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        names.sort();
        for path in names {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                all += &format!(
                    "--- {}\n{}\n",
                    path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        all
    }
}

/// The flight, grpc and metrics ports an executor logs once it chose them
/// (`… flight port N, grpc port N, metrics port N, registering …`).
fn chosen_ports(log: &Path) -> [u16; 3] {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = |name: &str| -> Option<u16> {
            let at = text.find(&format!("{name} port "))? + name.len() + 6;
            let digits: String = text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        if let (Some(f), Some(g), Some(m)) = (port("flight"), port("grpc"), port("metrics")) {
            return [f, g, m];
        }
        assert!(
            Instant::now() < deadline,
            "no ports in {}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_scheduler(port: u16, log_dir: &Path, log: &str, extra: &[String]) -> Child {
    let log_path = log_dir.join(log);
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args([
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for_process_port(port, &log_path);
    child
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self
            .executors
            .iter_mut()
            .map(|e| &mut e.child)
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The body of `GET http://127.0.0.1:{port}{path}`.
pub fn http_get(port: u16, path: &str) -> String {
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
pub fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

/// The extraction arguments both runs of a comparison use.
pub fn extract_args(photos: &Path, out: &Path) -> Vec<String> {
    vec![
        "extract".to_string(),
        photos.display().to_string(),
        out.display().to_string(),
        "--keep-features".into(),
        "--pca-k".into(),
        "4".into(),
    ]
}

/// The cluster output has exactly the embedded output's rows: features
/// identical, PCA within 1e-6, no row twice.
pub fn assert_same_rows(cluster_out: &Path, embedded_out: &Path) {
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
    assert_committed(cluster_out, total as u64);
}

/// The commit records' manifests name exactly the part files of `out`, with
/// `rows` rows in all, and nothing is left in `_temporary/`.
pub fn assert_committed(out: &Path, rows: u64) {
    let mut listed = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(out.join("_inputs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for file in record["files"].as_array().unwrap() {
                listed.insert(
                    file["name"].as_str().unwrap().to_string(),
                    file["rows"].as_u64().unwrap(),
                );
            }
        }
    }
    let present: std::collections::BTreeSet<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("part-"))
        .collect();
    assert_eq!(
        listed
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        present,
        "the manifest names the part files"
    );
    assert_eq!(listed.values().sum::<u64>(), rows, "the manifest's rows");
    assert!(
        !out.join("_temporary").exists(),
        "nothing staged is left behind"
    );
}
