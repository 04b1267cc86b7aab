//! Storage options: which kind of store a URL names, how stores are reached
//! (region, endpoint, allow-list, retries) and the region allow-list's
//! patterns. Credentials are never options (see `storage`).

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use serde::{Deserialize, Serialize};

/// The kind of store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The local file system (`/path`, `file://`).
    Local,
    /// Amazon S3 or an S3-compatible server (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage / ADLS Gen2 (`az://`, `abfs://`, `abfss://`, `adl://`).
    Azure,
    /// Plain HTTP(S), read-only (`http://`, `https://`; listing needs WebDAV).
    Http,
}

impl StoreKind {
    /// The kind of store named by a URL scheme, if Orchard supports it.
    pub fn from_scheme(scheme: &str) -> Option<StoreKind> {
        Some(match scheme {
            "file" => StoreKind::Local,
            "s3" | "s3a" => StoreKind::S3,
            "gs" => StoreKind::Gcs,
            "az" | "azure" | "abfs" | "abfss" | "adl" => StoreKind::Azure,
            "http" | "https" => StoreKind::Http,
            _ => return None,
        })
    }

    /// Whether results can be written there.
    pub fn writable(self) -> bool {
        self != StoreKind::Http
    }
}

/// How remote stores are reached: everything except credentials. Serialisable,
/// so that cluster executors build the same stores; each process takes its
/// credentials from its own environment (e.g. an instance profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageOptions {
    /// S3 region (otherwise `AWS_REGION`, the shared profile's region, or the
    /// bucket's own region as S3 reports it). For GCS and Azure, the region
    /// the user states for the residency check (a GCS bucket's own location,
    /// when readable, takes precedence).
    pub region: Option<String>,
    /// Endpoint of every remote store of the job: an S3-compatible server,
    /// e.g. `http://127.0.0.1:9000` (otherwise `AWS_ENDPOINT_URL`; requests then
    /// use path-style addressing), a GCS-compatible one (the JSON/XML API base,
    /// otherwise `GOOGLE_BASE_URL` or the service-account file's `gcs_base_url`),
    /// or an Azure blob endpoint `http://HOST:PORT/ACCOUNT` (otherwise
    /// `AZURE_STORAGE_ENDPOINT`). Plain `http://` is used only when the
    /// endpoint says so, and never for the real Google or Azure hosts.
    pub endpoint: Option<String>,
    /// Data residency: region patterns (`eu-*`, `eu-west-3`) every bucket must
    /// be in. Empty = no restriction.
    pub allowed_regions: Vec<String>,
    /// Send unsigned requests (public buckets), without looking for credentials.
    pub anonymous: bool,
    /// Timeout of one request, in seconds.
    pub request_timeout_secs: f64,
    /// Timeout of establishing a connection, in seconds.
    pub connect_timeout_secs: f64,
    /// Retries of a failed request (throttling, 5xx, timeouts, dropped connections).
    pub max_retries: usize,
    /// Give up retrying a request after this many seconds.
    pub retry_timeout_secs: f64,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            region: None,
            endpoint: None,
            allowed_regions: Vec::new(),
            anonymous: false,
            request_timeout_secs: 60.0,
            connect_timeout_secs: 5.0,
            max_retries: 10,
            retry_timeout_secs: 180.0,
        }
    }
}

impl StorageOptions {
    /// The endpoint in effect: [`endpoint`](Self::endpoint) or `AWS_ENDPOINT_URL`.
    pub fn effective_endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
            .or_else(|| env_nonempty("AWS_ENDPOINT"))
    }

    /// Whether `region` is allowed by [`allowed_regions`](Self::allowed_regions).
    pub fn region_allowed(&self, region: &str) -> bool {
        self.allowed_regions.is_empty()
            || self
                .allowed_regions
                .iter()
                .any(|pattern| region_matches(pattern, region))
    }

    pub(crate) fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_timeout(secs(self.request_timeout_secs))
            .with_connect_timeout(secs(self.connect_timeout_secs))
            .with_allow_http(allow_http)
    }

    pub(crate) fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: secs(self.retry_timeout_secs),
        }
    }
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 1.0 })
}

pub(crate) fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// `eu-*` matches `eu-west-3`; `*` matches any run of characters, and a
/// pattern without `*` must match exactly (case-insensitive).
pub fn region_matches(pattern: &str, region: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    let region = region.trim().to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = region.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_patterns() {
        assert!(region_matches("eu-*", "eu-west-3"));
        assert!(region_matches("EU-*", "eu-central-1"));
        assert!(region_matches("eu-west-3", "eu-west-3"));
        assert!(!region_matches("eu-*", "us-east-1"));
        assert!(!region_matches("eu-west-3", "eu-west-1"));
        assert!(region_matches("*-west-*", "us-west-2"));
        assert!(!region_matches("*-west-*", "us-east-2"));
        assert!(region_matches("*", "ap-south-1"));
        let mut o = StorageOptions::default();
        assert!(o.region_allowed("us-east-1"), "no list = no restriction");
        o.allowed_regions = vec!["eu-*".into(), "ca-central-1".into()];
        assert!(o.region_allowed("eu-north-1"));
        assert!(o.region_allowed("ca-central-1"));
        assert!(!o.region_allowed("us-east-1"));
    }

    #[test]
    fn schemes_map_to_store_kinds() {
        assert_eq!(StoreKind::from_scheme("s3a"), Some(StoreKind::S3));
        assert_eq!(StoreKind::from_scheme("abfss"), Some(StoreKind::Azure));
        assert_eq!(StoreKind::from_scheme("gs"), Some(StoreKind::Gcs));
        assert_eq!(StoreKind::from_scheme("ftp"), None);
        assert!(!StoreKind::Http.writable());
        assert!(StoreKind::S3.writable());
    }
}
