//! Remote object stores: S3 (and S3-compatible servers), Google Cloud Storage,
//! Azure Blob Storage / ADLS Gen2 and read-only HTTP(S), all through
//! `object_store` builders.
//!
//! Credentials come from each cloud's standard chain, never from Orchard's
//! options, so they never travel in plans, logs or `_run.json`:
//! - S3: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, then the
//!   shared profile (`AWS_PROFILE`, default `default`, in
//!   `~/.aws/credentials` and `~/.aws/config`), then web identity
//!   (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, as on EKS), the ECS
//!   container endpoint, and the EC2/EMR instance profile (IMDSv2).
//! - GCS: `GOOGLE_APPLICATION_CREDENTIALS` / `GOOGLE_SERVICE_ACCOUNT*`, then the
//!   metadata server.
//! - Azure: `AZURE_STORAGE_ACCOUNT_KEY`, SAS, client secret, workload identity,
//!   then the managed identity.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::http::HttpBuilder;
use object_store::ObjectStore;
use url::Url;

use crate::options::{env_nonempty, secs, StorageOptions, StoreKind};
use crate::SourceError;

/// A built remote store and what the location's keys are relative to.
pub(crate) struct RemoteStore {
    pub store: Arc<dyn ObjectStore>,
    /// The bucket / container / host, for messages.
    pub bucket: String,
    /// The S3 region the store was configured for, when known.
    pub region: Option<String>,
    /// Where the credentials come from (never their value), for messages.
    pub credentials: String,
    /// How to ask a GCS bucket for its location.
    pub gcs_probe: Option<crate::cloud::GcsProbe>,
}

/// Builds the store for a remote URL of kind `kind`.
pub(crate) fn build_remote(
    url: &Url,
    kind: StoreKind,
    options: &StorageOptions,
) -> Result<RemoteStore, SourceError> {
    let invalid = |reason: String| SourceError::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    let bucket = url.host_str().unwrap_or_default().to_string();
    match kind {
        StoreKind::S3 => {
            if bucket.is_empty() {
                return Err(invalid(
                    "no bucket name (expected s3://bucket/prefix/)".into(),
                ));
            }
            let endpoint = options.effective_endpoint();
            let allow_http = endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
                || env_nonempty("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .with_client_options(options.client_options(allow_http))
                .with_retry(options.retry());
            if let Some(endpoint) = &endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            let profile = SharedProfile::load();
            let mut credentials = if options.anonymous {
                "none (--anonymous)".to_string()
            } else if env_nonempty("AWS_ACCESS_KEY_ID").is_some() {
                "the access key in AWS_ACCESS_KEY_ID".to_string()
            } else if env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
                "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_string()
            } else {
                "the container or instance role".to_string()
            };
            if options.anonymous {
                builder = builder.with_skip_signature(true);
            } else if env_nonempty("AWS_ACCESS_KEY_ID").is_none()
                && env_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE").is_none()
            {
                if let Some(p) = &profile {
                    if let (Some(id), Some(secret)) = (&p.access_key_id, &p.secret_access_key) {
                        builder = builder
                            .with_access_key_id(id)
                            .with_secret_access_key(secret);
                        if let Some(token) = &p.session_token {
                            builder = builder.with_token(token);
                        }
                        credentials = "the shared credentials profile (AWS_PROFILE)".to_string();
                    }
                }
            }
            let region = options
                .region
                .clone()
                .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Region))
                .filter(|r| !r.is_empty())
                .or_else(|| profile.and_then(|p| p.region));
            if let Some(region) = &region {
                builder = builder.with_region(region);
            }
            let store = builder
                .build()
                .map_err(|e| invalid(format!("cannot configure S3: {e}")))?;
            Ok(RemoteStore {
                store: Arc::new(store),
                bucket,
                region,
                credentials,
                gcs_probe: None,
            })
        }
        StoreKind::Gcs | StoreKind::Azure => {
            let built = if kind == StoreKind::Gcs {
                crate::cloud::build_gcs(url, options)
            } else {
                crate::cloud::build_azure(url, options)
            }
            .map_err(invalid)?;
            Ok(RemoteStore {
                store: built.store,
                bucket,
                region: options.region.clone(),
                credentials: built.credentials,
                gcs_probe: built.gcs_probe,
            })
        }
        StoreKind::Http => {
            let mut base = url.clone();
            base.set_path("/");
            base.set_query(None);
            base.set_fragment(None);
            let store = HttpBuilder::new()
                .with_url(base.as_str())
                .with_client_options(options.client_options(url.scheme() == "http"))
                .with_retry(options.retry())
                .build()
                .map_err(|e| invalid(format!("cannot configure HTTP: {e}")))?;
            Ok(RemoteStore {
                store: Arc::new(store),
                bucket,
                region: None,
                credentials: "none".to_string(),
                gcs_probe: None,
            })
        }
        StoreKind::Local => unreachable!("local locations are not remote"),
    }
}

/// The S3 region a bucket lives in, as S3 reports it in the
/// `x-amz-bucket-region` header of an (unsigned) `HEAD` on the bucket; AWS
/// answers it even to requests it refuses. `None` when the server does not say.
pub(crate) async fn s3_bucket_region(
    bucket: &str,
    options: &StorageOptions,
) -> Result<Option<String>, String> {
    let endpoint = options.effective_endpoint();
    let url = match &endpoint {
        Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.amazonaws.com"),
    };
    let client = reqwest::Client::builder()
        .timeout(secs(options.request_timeout_secs))
        .connect_timeout(secs(options.connect_timeout_secs))
        .build()
        .map_err(|e| e.to_string())?;
    let mut last_error = String::new();
    // A few quick attempts: the region check must not fail on one dropped connection.
    for attempt in 0..3u32 {
        match client.head(&url).send().await {
            Ok(response) => {
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    return Err(format!("bucket `{bucket}` does not exist"));
                }
                return Ok(response
                    .headers()
                    .get("x-amz-bucket-region")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string));
            }
            Err(e) => {
                last_error = e.to_string();
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    Err(format!("cannot reach {url}: {last_error}"))
}

/// Static credentials and region of one profile of the shared AWS files.
#[derive(Default)]
struct SharedProfile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
}

impl SharedProfile {
    /// Reads profile `AWS_PROFILE` (default `default`) from
    /// `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and
    /// `AWS_CONFIG_FILE` (default `~/.aws/config`, section `[profile NAME]`).
    fn load() -> Option<SharedProfile> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let name = env_nonempty("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let file = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
                .and_then(|p| std::fs::read_to_string(p).ok())
        };
        let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .map(|text| ini_section(&text, &name))
            .unwrap_or_default();
        let config_section = if name == "default" {
            name.clone()
        } else {
            format!("profile {name}")
        };
        let config = file("AWS_CONFIG_FILE", "config")
            .map(|text| ini_section(&text, &config_section))
            .unwrap_or_default();
        let get = |key: &str| {
            credentials
                .iter()
                .chain(&config)
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let profile = SharedProfile {
            access_key_id: get("aws_access_key_id"),
            secret_access_key: get("aws_secret_access_key"),
            session_token: get("aws_session_token"),
            region: get("region"),
        };
        (profile.access_key_id.is_some() || profile.region.is_some()).then_some(profile)
    }
}

/// The `key = value` pairs of section `[name]` of an INI file.
fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_are_read_by_name() {
        let text = "[default]\naws_access_key_id = A\n\n[profile eu]\nregion=eu-west-3\n# c\nAWS_Secret_Access_Key = S\n[other]\nregion = x\n";
        assert_eq!(
            ini_section(text, "default"),
            vec![("aws_access_key_id".into(), "A".into())]
        );
        assert_eq!(
            ini_section(text, "profile eu"),
            vec![
                ("region".into(), "eu-west-3".into()),
                ("aws_secret_access_key".into(), "S".into())
            ]
        );
        assert!(ini_section(text, "missing").is_empty());
    }
}
