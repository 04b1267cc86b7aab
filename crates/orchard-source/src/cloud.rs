//! Google Cloud Storage and Azure Blob Storage stores: their endpoints
//! (emulators, private gateways), when plain `http://` is allowed, what
//! credentials are in use (named, never shown), and a GCS bucket's location.
//!
//! Plain HTTP is allowed only for an endpoint that is itself an explicit
//! `http://` URL (`--endpoint`, object_store's `GOOGLE_BASE_URL` /
//! `AZURE_STORAGE_ENDPOINT`, a service-account file's `gcs_base_url`, or Azure
//! emulator mode, `AZURE_STORAGE_USE_EMULATOR=true`); an `http://` URL naming
//! a real Google or Azure host is refused rather than used in clear text.

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GcpCredentialProvider, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::ObjectStore;
use url::Url;

use crate::options::{secs, StorageOptions};

/// Hosts of the real services, never reached over plain HTTP.
const GOOGLE_HOSTS: &[&str] = &["googleapis.com", "google.com"];
const AZURE_HOSTS: &[&str] = &[
    "windows.net",
    "azure.net",
    "azure.com",
    "fabric.microsoft.com",
    "chinacloudapi.cn",
    "usgovcloudapi.net",
];

/// What the GCS residency check needs to ask a bucket for its location.
#[derive(Clone)]
pub(crate) struct GcsProbe {
    /// `https://storage.googleapis.com` or the configured endpoint.
    base_url: String,
    credentials: GcpCredentialProvider,
    anonymous: bool,
}

/// A built GCS or Azure store.
pub(crate) struct CloudStore {
    pub store: Arc<dyn ObjectStore>,
    /// Where the credentials come from, for messages (never their value).
    pub credentials: String,
    pub gcs_probe: Option<GcsProbe>,
}

/// Whether plain HTTP may be used for `endpoint`: only when it is an explicit
/// `http://` URL, and never for one of `real_hosts` (a typo there would send
/// credentials in clear text).
fn plain_http_allowed(endpoint: Option<&str>, real_hosts: &[&str]) -> Result<bool, String> {
    let Some(endpoint) = endpoint else {
        return Ok(false);
    };
    let url = Url::parse(endpoint)
        .map_err(|e| format!("the endpoint `{endpoint}` is not a URL ({e})"))?;
    if url.scheme() != "http" {
        return Ok(false);
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if real_hosts
        .iter()
        .any(|h| host == *h || host.ends_with(&format!(".{h}")))
    {
        return Err(format!(
            "the endpoint `{endpoint}` is plain http:// to {host}; use https:// for the real service \
             (plain http:// is only for emulators and private gateways)"
        ));
    }
    Ok(true)
}

/// `gcs_base_url` of the service-account JSON (a file path or the key itself).
fn service_account_base_url(path: Option<&str>, key: Option<&str>) -> Option<String> {
    let text = match (path, key) {
        (Some(path), _) => std::fs::read_to_string(path).ok()?,
        (None, Some(key)) => key.to_string(),
        (None, None) => return None,
    };
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("gcs_base_url")?.as_str().map(str::to_string)
}

/// Builds the Google Cloud Storage store of `url` (`gs://bucket/…`).
pub(crate) fn build_gcs(url: &Url, options: &StorageOptions) -> Result<CloudStore, String> {
    let bucket = url.host_str().unwrap_or_default();
    let mut builder = GoogleCloudStorageBuilder::from_env()
        .with_url(url.as_str())
        .with_retry(options.retry())
        .with_skip_signature(options.anonymous);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_base_url(endpoint.trim_end_matches('/'));
    }
    let account_path = builder.get_config_value(&GoogleConfigKey::ServiceAccount);
    let account_key = builder.get_config_value(&GoogleConfigKey::ServiceAccountKey);
    let base_url = builder
        .get_config_value(&GoogleConfigKey::BaseUrl)
        .or_else(|| service_account_base_url(account_path.as_deref(), account_key.as_deref()));
    let allow_http = plain_http_allowed(base_url.as_deref(), GOOGLE_HOSTS)?;
    let credentials = if options.anonymous {
        "none (--anonymous)".to_string()
    } else if let Some(path) = &account_path {
        format!("the service-account file {path} (GOOGLE_SERVICE_ACCOUNT)")
    } else if account_key.is_some() {
        "the service-account key in GOOGLE_SERVICE_ACCOUNT_KEY".to_string()
    } else if let Some(path) = builder.get_config_value(&GoogleConfigKey::ApplicationCredentials) {
        format!("the application default credentials {path} (GOOGLE_APPLICATION_CREDENTIALS)")
    } else {
        "the metadata server's service account (no GOOGLE_SERVICE_ACCOUNT set)".to_string()
    };
    let store = builder
        .with_client_options(options.client_options(allow_http))
        .build()
        .map_err(|e| {
            format!(
                "cannot configure Google Cloud Storage for bucket `{bucket}` with {credentials}: {e}; \
                 check that file, or point GOOGLE_SERVICE_ACCOUNT at a valid service-account JSON"
            )
        })?;
    let gcs_probe = GcsProbe {
        base_url: base_url
            .unwrap_or_else(|| "https://storage.googleapis.com".to_string())
            .trim_end_matches('/')
            .to_string(),
        credentials: Arc::clone(store.credentials()),
        anonymous: options.anonymous,
    };
    Ok(CloudStore {
        store: Arc::new(store),
        credentials,
        gcs_probe: Some(gcs_probe),
    })
}

fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "y"
        )
    })
}

/// Builds the Azure Blob Storage / ADLS Gen2 store of `url` (`az://container/…`,
/// `abfss://container@account.dfs.core.windows.net/…`).
pub(crate) fn build_azure(url: &Url, options: &StorageOptions) -> Result<CloudStore, String> {
    let container = if url.username().is_empty() {
        url.host_str().unwrap_or_default()
    } else {
        url.username()
    };
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_url(url.as_str())
        .with_retry(options.retry())
        .with_skip_signature(options.anonymous);
    let emulator = truthy(builder.get_config_value(&AzureConfigKey::UseEmulator));
    let allow_http = if emulator {
        if let Some(endpoint) = &options.endpoint {
            return Err(format!(
                "--endpoint {endpoint} and AZURE_STORAGE_USE_EMULATOR=true are both set; for \
                 Azurite either keep the emulator mode and set AZURITE_BLOB_STORAGE_URL \
                 (default http://127.0.0.1:10000), or unset AZURE_STORAGE_USE_EMULATOR and pass \
                 --endpoint http://HOST:PORT/ACCOUNT"
            ));
        }
        // object_store allows HTTP itself in emulator mode (an explicit opt-in).
        true
    } else {
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
        }
        plain_http_allowed(
            builder
                .get_config_value(&AzureConfigKey::Endpoint)
                .as_deref(),
            AZURE_HOSTS,
        )?
    };
    let credentials = azure_credentials(&builder, emulator, options.anonymous);
    let store = builder
        .with_client_options(options.client_options(allow_http))
        .build()
        .map_err(|e| {
            format!(
                "cannot configure Azure storage for container `{container}` with {credentials}: {e}; \
                 set AZURE_STORAGE_ACCOUNT_NAME and a credential (AZURE_STORAGE_ACCOUNT_KEY, \
                 AZURE_STORAGE_SAS_KEY, AZURE_CLIENT_ID/…), or AZURE_STORAGE_USE_EMULATOR=true for Azurite"
            )
        })?;
    Ok(CloudStore {
        store: Arc::new(store),
        credentials,
        gcs_probe: None,
    })
}

/// Where an Azure store's credentials come from, by name only.
fn azure_credentials(builder: &MicrosoftAzureBuilder, emulator: bool, anonymous: bool) -> String {
    let get = |key: AzureConfigKey| builder.get_config_value(&key).filter(|v| !v.is_empty());
    let account = get(AzureConfigKey::AccountName)
        .unwrap_or_else(|| (if emulator { "devstoreaccount1" } else { "?" }).to_string());
    if anonymous {
        "none (--anonymous)".to_string()
    } else if get(AzureConfigKey::Token).is_some() {
        format!("the bearer token in AZURE_STORAGE_TOKEN for account `{account}`")
    } else if get(AzureConfigKey::AccessKey).is_some() {
        format!("the account key of storage account `{account}` (AZURE_STORAGE_ACCOUNT_KEY)")
    } else if get(AzureConfigKey::SasKey).is_some() {
        format!("the SAS token in AZURE_STORAGE_SAS_KEY for account `{account}`")
    } else if emulator {
        format!("the emulator's well-known key for account `{account}`")
    } else if let (Some(id), Some(_)) = (
        get(AzureConfigKey::ClientId),
        get(AzureConfigKey::ClientSecret),
    ) {
        format!("the client secret of application {id} (AZURE_CLIENT_SECRET)")
    } else if get(AzureConfigKey::FederatedTokenFile).is_some() {
        "workload identity (AZURE_FEDERATED_TOKEN_FILE)".to_string()
    } else {
        format!("the managed identity, for account `{account}`")
    }
}

/// The location of GCS bucket `bucket` (`europe-west1`, `eu`, …) as the bucket
/// reports it (`storage.buckets.get`), or `None` when it may not be read (no
/// permission, or a server that does not say).
pub(crate) async fn gcs_bucket_location(
    probe: &GcsProbe,
    bucket: &str,
    options: &StorageOptions,
) -> Result<Option<String>, String> {
    let url = format!(
        "{}/storage/v1/b/{}?fields=location",
        probe.base_url,
        percent_encoding::utf8_percent_encode(bucket, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut request = reqwest::Client::builder()
        .timeout(secs(options.request_timeout_secs))
        .connect_timeout(secs(options.connect_timeout_secs))
        .build()
        .map_err(|e| e.to_string())?
        .get(&url);
    if !probe.anonymous {
        let credential =
            probe.credentials.get_credential().await.map_err(|e| {
                format!("cannot get a token to read bucket `{bucket}`'s location: {e}")
            })?;
        if !credential.bearer.is_empty() {
            request = request.bearer_auth(&credential.bearer);
        }
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    match response.status() {
        reqwest::StatusCode::NOT_FOUND => Err(format!("bucket `{bucket}` does not exist")),
        status if status.is_success() => {
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("unreadable answer from {url}: {e}"))?;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("unreadable answer from {url}: {e}"))?;
            Ok(json
                .get("location")
                .and_then(|l| l.as_str())
                .map(|l| l.to_ascii_lowercase()))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_explicit_non_cloud_endpoints() {
        assert_eq!(plain_http_allowed(None, GOOGLE_HOSTS), Ok(false));
        assert_eq!(
            plain_http_allowed(Some("https://storage.googleapis.com"), GOOGLE_HOSTS),
            Ok(false)
        );
        assert_eq!(
            plain_http_allowed(Some("http://127.0.0.1:4443"), GOOGLE_HOSTS),
            Ok(true)
        );
        let err =
            plain_http_allowed(Some("http://storage.googleapis.com"), GOOGLE_HOSTS).unwrap_err();
        assert!(err.contains("https://"), "{err}");
        assert!(
            plain_http_allowed(Some("http://acct.blob.core.windows.net"), AZURE_HOSTS).is_err()
        );
        assert_eq!(
            plain_http_allowed(Some("http://azurite:10000/devstoreaccount1"), AZURE_HOSTS),
            Ok(true)
        );
        assert!(plain_http_allowed(Some("not a url"), AZURE_HOSTS).is_err());
    }

    #[test]
    fn the_service_account_base_url_is_read_from_the_key() {
        let key = r#"{"private_key":"k","private_key_id":"i","client_email":"e","gcs_base_url":"http://127.0.0.1:1"}"#;
        assert_eq!(
            service_account_base_url(None, Some(key)).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(service_account_base_url(None, Some("{}")), None);
    }
}
