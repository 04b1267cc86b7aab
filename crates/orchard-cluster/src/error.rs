//! Errors of talking to the scheduler's REST API and of finding a model on
//! an executor.

/// What went wrong between this process and the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The scheduler could not be reached (not running, wrong address, a
    /// proxy that passes only gRPC) or did not answer in time.
    #[error("{method} {url}: {source}")]
    Request {
        /// `GET`, `PATCH`, …
        method: &'static str,
        /// The URL asked.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The scheduler answered with an error status.
    #[error("{method} {url}: HTTP {status} {body}")]
    Status {
        /// `GET`, `PATCH`, …
        method: &'static str,
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The answer was not what Ballista 55's REST API returns (another
    /// version of the scheduler?).
    #[error("{method} {url}: unexpected answer: {source}")]
    Decode {
        /// `GET`, `PATCH`, …
        method: &'static str,
        /// The URL asked.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// No local file has the sha256 of the client's model.
    #[error(
        "model `{name}` (sha256 {sha256}) is not available on this executor; tried {tried}. \
         Install it with `orchard model fetch {name}` (ORCHARD_HOME={home}) or put the same \
         file at the same path on every executor"
    )]
    ModelNotFound {
        /// The model's name.
        name: String,
        /// The start of the sha256 the client asked for.
        sha256: String,
        /// What was tried, and why each did not fit.
        tried: String,
        /// This executor's model home.
        home: String,
    },
    /// A scheduler address that cannot be parsed.
    #[error("not a scheduler address: {address} (expected host:port, df://host:port or host)")]
    SchedulerAddress {
        /// What was given.
        address: String,
    },
    /// An executor's work folder whose path is not UTF-8 (Ballista keeps it
    /// as a string).
    #[error("the executor's work folder {} is not UTF-8 (Ballista keeps it as text); set TMPDIR to a folder whose path is UTF-8", path.display())]
    WorkDirNotUtf8 {
        /// The folder.
        path: std::path::PathBuf,
    },
    /// An input the executors cannot list (HTTP has no listing).
    #[error("a cluster run needs an input every executor can list; {url} is HTTP")]
    UnlistableInput {
        /// The input.
        url: String,
    },
}

/// Errors of the cluster reach the engine's callers as the runner's.
impl From<ClusterError> for orchard_engine::EngineError {
    fn from(e: ClusterError) -> Self {
        orchard_engine::EngineError::Runner {
            runner: "cluster",
            source: Box::new(e),
        }
    }
}
