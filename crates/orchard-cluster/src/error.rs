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
}
