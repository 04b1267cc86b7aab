//! Helpers shared by the end-to-end tests: the real binary, the real model,
//! real photos from the shared Fruits-360 sample.
#![allow(dead_code)]

pub mod cluster;
pub mod emulators;
pub mod serve;
pub mod uploads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// This crate's directory, read when the test runs: a test binary may have
/// been built by a clone at another path that shares the build folder.
fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// The shared sample (`../shared/data/fruits360-sample` from the project root).
pub fn sample_dir() -> PathBuf {
    let root = manifest_dir().join("../..");
    let candidates = [
        std::env::var_os("ORCHARD_SAMPLE").map(PathBuf::from),
        Some(root.join("../shared/data/fruits360-sample")),
        Some(PathBuf::from("/work/shared/data/fruits360-sample")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_dir())
        .expect("the Fruits-360 sample (set ORCHARD_SAMPLE or check ../shared/data)")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    manifest_dir().join("../..")
}

/// Runs the `orchard` binary with `args`.
pub fn orchard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run orchard")
}

/// Asserts the command succeeded, printing its output otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "orchard failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A folder of `per_label` photos of each given label (the first ones in
/// sorted order), as symlinks into the shared sample, plus `extra` files.
pub fn subset(dir: &Path, labels: &[(&str, usize)]) -> PathBuf {
    let root = dir.join("photos");
    for (label, n) in labels {
        let src = sample_dir().join(label);
        let mut files: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        std::fs::create_dir_all(root.join(label)).unwrap();
        for f in files.iter().take(*n) {
            std::os::unix::fs::symlink(f, root.join(label).join(f.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// Links specific sample files (relative paths such as `apple/0_100.jpg`).
pub fn link_files(root: &Path, relative: &[&str]) {
    for rel in relative {
        let dst = root.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        if !dst.exists() {
            std::os::unix::fs::symlink(sample_dir().join(rel), dst).unwrap();
        }
    }
}

/// Every row of the Parquet part files (`part-*.parquet`) in `dir`.
pub fn read_parts(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("part-") && name.ends_with(".parquet")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no part files in {}", dir.display());
    files.iter().flat_map(|f| read_parquet(f)).collect()
}

/// Every batch of one Parquet file.
pub fn read_parquet(file: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The Python interpreter of the project's virtual environment (set up by
/// `scripts/setup.sh`), or `$ORCHARD_PYTHON`.
pub fn python() -> PathBuf {
    std::env::var_os("ORCHARD_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// Runs `tests/python/SCRIPT args…` with [`python`] and the extra `env`;
/// returns its stdout, failing the test (with the script's output) if it
/// fails or the virtual environment is missing.
pub fn run_python_script<S: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: &[S],
    env: &[(&str, &str)],
) -> String {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (or set ORCHARD_PYTHON)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(repo_root().join("tests/python").join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One output row, read back from the part files.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: Option<String>,
    pub label_index: Option<i32>,
    pub pca: Vec<f32>,
    pub features: Vec<f32>,
}

/// Every output row in `dir`'s part files, by `path`.
pub fn rows_by_path(dir: &Path) -> std::collections::HashMap<String, Row> {
    use datafusion::arrow::array::{Array, AsArray, FixedSizeListArray};
    use datafusion::arrow::datatypes::{Float32Type, Int32Type};
    let mut out = std::collections::HashMap::new();
    for batch in read_parts(dir) {
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        let path = column("path").as_string::<i32>().clone();
        let label = column("label").as_string::<i32>().clone();
        let index = column("label_index").as_primitive::<Int32Type>().clone();
        let pca = column("pca").as_fixed_size_list().clone();
        let features = batch
            .column_by_name("features")
            .map(|c| c.as_fixed_size_list().clone());
        for i in 0..batch.num_rows() {
            let vec_of =
                |a: &FixedSizeListArray| a.value(i).as_primitive::<Float32Type>().values().to_vec();
            out.insert(
                path.value(i).to_string(),
                Row {
                    label: label.is_valid(i).then(|| label.value(i).to_string()),
                    label_index: index.is_valid(i).then(|| index.value(i)),
                    pca: vec_of(&pca),
                    features: features.as_ref().map(vec_of).unwrap_or_default(),
                },
            );
        }
    }
    out
}

/// A real S3-protocol server (moto_server from the project's virtual
/// environment) on a free loopback port; killed when dropped.
pub struct S3Server {
    child: std::process::Child,
    port: u16,
    auth: bool,
}

/// Dummy credentials for the open (no-auth) server.
pub const TEST_KEY_ID: &str = "AKIAORCHARDTEST";
/// The matching dummy secret.
pub const TEST_SECRET: &str = "orchard-test-secret";

impl S3Server {
    /// Starts a server; with `auth`, it checks every request's signature
    /// against its (empty) IAM, so any credentials are refused.
    pub fn start(auth: bool) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port, auth)
    }

    fn start_on(port: u16, auth: bool) -> S3Server {
        let moto = python().parent().unwrap().join("moto_server");
        let mut cmd = Command::new(&moto);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {} (run scripts/setup.sh): {e}", moto.display()));
        let server = S3Server { child, port, auth };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto_server did not start on port {}", self.port);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server and starts a fresh one on the same port (moto keeps
    /// its state in memory: buckets are gone afterwards).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut fresh = Self::start_on(self.port, self.auth);
        // The fresh server takes this one's place; dropping the old (dead)
        // child is harmless.
        std::mem::swap(&mut self.child, &mut fresh.child);
    }

    /// Runs `tests/python/s3_fixture.py ENDPOINT args…`; returns stdout.
    pub fn fixture(&self, args: &[&str]) -> String {
        let endpoint = self.endpoint();
        let all: Vec<&str> = std::iter::once(endpoint.as_str())
            .chain(args.iter().copied())
            .collect();
        run_python_script(
            "s3_fixture.py",
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", TEST_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", TEST_SECRET),
            ],
        )
    }

    /// Keys under `prefix` in `bucket`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.fixture(&["list", bucket, prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `orchard args…` against this server, with the test credentials.
    pub fn orchard(&self, args: &[&str]) -> Output {
        self.orchard_command(args).output().expect("run orchard")
    }

    /// The command of [`orchard`](Self::orchard), to spawn it.
    pub fn orchard_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
        cmd.args(args)
            .env("RUST_LOG", "warn")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("ORCHARD_ALLOWED_REGIONS");
        cmd
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks an output's keys in a bucket (under `prefix`, e.g. `Results/`):
/// every metadata file, a first part file, and no `_temporary/` left.
pub fn assert_complete_output(keys: &[String], prefix: &str) {
    for file in [
        "_SUCCESS",
        "_errors.parquet",
        "_labels.json",
        "_pca/model.json",
        "_run.json",
    ] {
        let expected = format!("{prefix}{file}");
        assert!(keys.contains(&expected), "{expected} in {keys:?}");
    }
    assert!(
        keys.iter().all(|k| !k.contains("_temporary")),
        "temporary files left: {keys:?}"
    );
    let first_part = format!("{prefix}part-00000-");
    assert!(keys.iter().any(|k| k.starts_with(&first_part)), "{keys:?}");
}

/// A running `orchard … --progress json`: its events read as they come, so
/// that a test acts at a point of the job (a chunk done, the fit) instead of
/// after a fixed sleep.
pub struct EventRun {
    pub child: std::process::Child,
    events: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl EventRun {
    /// Starts `cmd` (the binary and its arguments) with `--progress json`
    /// and its stdout read line by line.
    pub fn start(mut cmd: Command) -> EventRun {
        use std::io::BufRead;
        let mut child = cmd
            .args(["--progress", "json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start orchard");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(event) = serde_json::from_str(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        EventRun { child, events }
    }

    /// Waits (at most 120 s) for the first event that `matches`; `None` when
    /// the run ended without one.
    pub fn wait_for(
        &mut self,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if matches(&event) => return Some(event),
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no such event within 120 s");
                }
            }
        }
    }

    /// Waits for the event named `name` (`planned`, `chunk_done`, …).
    pub fn wait_for_event(&mut self, name: &str) -> Option<serde_json::Value> {
        self.wait_for(|e| e["event"] == name)
    }
}

/// Every regular file under `dir`, recursively (links are not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                files.push(path);
            }
        }
    }
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Rows keyed by the photo's path relative to the listed root (`apple/x.jpg`),
/// whatever store the run read from.
pub fn rows_by_relative(dir: &Path, root_marker: &str) -> std::collections::HashMap<String, Row> {
    rows_by_path(dir)
        .into_iter()
        .map(|(path, row)| {
            let at = path
                .find(root_marker)
                .unwrap_or_else(|| panic!("{path} has no {root_marker}"));
            (path[at + root_marker.len()..].to_string(), row)
        })
        .collect()
}

/// A folder of the shared data (a sibling of the sample).
pub fn data_dir(name: &str) -> PathBuf {
    sample_dir().parent().unwrap().join(name)
}

/// A finished command's stdout.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A finished command's stdout, one JSON object per line.
pub fn jsonl(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}
