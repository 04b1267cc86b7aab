//! A place photos are read from or results are written to, resolved to an
//! `object_store` store and a prefix inside it.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

fn percent_decode(segment: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
}

use crate::options::{StorageOptions, StoreKind};
use crate::storage::{build_remote, s3_bucket_region};
use crate::SourceError;

/// A storage location: a store, the prefix of the location inside it, and the
/// URL the user meant.
///
/// Local paths (`./photos`, `/data/photos`, `file:///data/photos`) resolve to a
/// [`LocalFileSystem`] rooted at `/`, so that every location is addressed the
/// same way, by object keys. Remote URLs (`s3://`, `s3a://`, `gs://`, `az://`,
/// `abfs://`, `http(s)://`) resolve to the matching `object_store` store, built
/// with [`StorageOptions`].
#[derive(Clone)]
pub struct Location {
    url: Url,
    kind: StoreKind,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    local: Option<(PathBuf, Arc<LocalFileSystem>)>,
    /// Bucket, container or host of a remote store.
    bucket: String,
    /// The region the store was configured for (S3), when known.
    region: Option<String>,
    /// Where the store's credentials come from (never their value).
    credentials: String,
    gcs_probe: Option<crate::cloud::GcsProbe>,
    options: StorageOptions,
}

/// Shows the URL and kind only: a store's own `Debug` may include
/// configuration that is nobody's business in a log.
impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("url", &self.url.as_str())
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Location {
    /// Resolves a user-given location with default [`StorageOptions`] (the
    /// environment still applies: `AWS_REGION`, `AWS_ENDPOINT_URL`, …).
    /// Local directories need not exist yet (outputs are created on first write).
    pub fn parse(location: &str) -> Result<Self, SourceError> {
        Self::parse_with(location, &StorageOptions::default())
    }

    /// Resolves a user-given location: a local path, `file://`, `s3://`,
    /// `s3a://`, `gs://`, `az://`/`abfs://`/`abfss://`/`adl://` or `http(s)://`.
    pub fn parse_with(location: &str, options: &StorageOptions) -> Result<Self, SourceError> {
        let invalid = |reason: String| SourceError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("empty location".into()));
        }
        match Url::parse(location) {
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid("not a valid file:// URL".into()))?;
                Self::local(path)
            }
            // A single letter is a Windows drive, not a scheme.
            Ok(url) if url.scheme().len() > 1 => {
                let kind = StoreKind::from_scheme(url.scheme()).ok_or_else(|| {
                    invalid(format!(
                        "the '{}://' scheme is not supported; use a local path, file://, s3://, s3a://, \
                         gs://, az://, abfs:// or http(s)://",
                        url.scheme()
                    ))
                })?;
                Self::remote(url, kind, options)
            }
            _ => Self::local(PathBuf::from(location)),
        }
        .map(|mut l| {
            l.options = options.clone();
            l
        })
    }

    fn remote(
        mut url: Url,
        kind: StoreKind,
        options: &StorageOptions,
    ) -> Result<Self, SourceError> {
        let given = url.to_string();
        let invalid = |reason: String| SourceError::InvalidLocation {
            location: given.clone(),
            reason,
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "query strings and fragments are not supported".into(),
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let remote = build_remote(&url, kind, options)?;
        // Keys are the URL's path, decoded (`%20` → space), without the
        // leading slash. Azure's `abfs://container@account…/p` and `az://container/p`
        // alike keep the container out of the key (object_store's with_url
        // takes it from the host part).
        let decoded: Vec<String> = url
            .path_segments()
            .map(|segments| {
                segments
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        percent_decode(s).map_err(|_| invalid("the path is not valid UTF-8".into()))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let prefix = Path::parse(decoded.join("/"))
            .map_err(|e| invalid(format!("not a valid object key prefix: {e}")))?;
        Ok(Self {
            url,
            kind,
            store: remote.store,
            prefix,
            local: None,
            bucket: remote.bucket,
            region: remote.region,
            credentials: remote.credentials,
            gcs_probe: remote.gcs_probe,
            options: options.clone(),
        })
    }

    /// What kind of store this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The bucket, container or host of a remote location (empty when local).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the credentials of a remote location come from, by name (an
    /// environment variable, a file, a role), never their value; empty when local.
    pub fn credentials(&self) -> &str {
        &self.credentials
    }

    /// The options this location was resolved with.
    pub fn options(&self) -> &StorageOptions {
        &self.options
    }

    /// Fails unless results can be written here (HTTP locations are read-only).
    pub fn ensure_writable(&self) -> Result<(), SourceError> {
        if self.kind.writable() {
            Ok(())
        } else {
            Err(SourceError::InvalidLocation {
                location: self.url.to_string(),
                reason:
                    "HTTP(S) locations are read-only; write results to a local path or a bucket"
                        .into(),
            })
        }
    }

    /// Data residency: fails, before anything is read or written, when the
    /// location's region is outside [`StorageOptions::allowed_regions`].
    ///
    /// For S3 the region is the bucket's own, as the server reports it
    /// (`x-amz-bucket-region`); a server that does not report one (some
    /// S3-compatible servers) is taken to be in the configured region. For GCS
    /// it is the bucket's location (`storage.buckets.get`) when the credentials
    /// may read it, otherwise the configured `--region`; for Azure, whose
    /// account location is not readable through the blob API, `--region` must
    /// state it. Local disks pass. Returns the region found, if any.
    pub async fn check_residency(&self) -> Result<Option<String>, SourceError> {
        let refuse = |region: Option<&str>, reason: String| SourceError::Residency {
            location: self.url.to_string(),
            region: region.unwrap_or("unknown").to_string(),
            allowed: self.options.allowed_regions.join(","),
            reason,
        };
        let region = match self.kind {
            StoreKind::Local => return Ok(None),
            StoreKind::S3 => match s3_bucket_region(&self.bucket, &self.options).await {
                Ok(Some(region)) => Some(region),
                Ok(None) => self.region.clone(),
                Err(why) if self.options.allowed_regions.is_empty() => {
                    tracing::debug!("cannot read the region of {}: {why}", self.url);
                    self.region.clone()
                }
                Err(why) => return Err(refuse(None, why)),
            },
            StoreKind::Gcs if !self.options.allowed_regions.is_empty() => {
                let probe = self.gcs_probe.as_ref().expect("GCS locations have a probe");
                match crate::cloud::gcs_bucket_location(probe, &self.bucket, &self.options).await {
                    Ok(Some(location)) => Some(location),
                    Ok(None) => self.region.clone(),
                    Err(why) => return Err(refuse(None, why)),
                }
            }
            _ => self.region.clone(),
        };
        if self.options.allowed_regions.is_empty() {
            return Ok(region);
        }
        match &region {
            Some(r) if self.options.region_allowed(r) => Ok(region),
            Some(r) => Err(refuse(
                Some(r),
                "the region is not in the allow-list".into(),
            )),
            None => Err(refuse(
                None,
                "the region cannot be determined; state it with --region".into(),
            )),
        }
    }

    /// A local directory.
    pub fn local(path: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let path: PathBuf = path.into();
        let invalid = |reason: String| SourceError::InvalidLocation {
            location: path.display().to_string(),
            reason,
        };
        let absolute = std::path::absolute(&path).map_err(|e| invalid(e.to_string()))?;
        // Resolve symlinks of what exists, so keys and displayed paths agree.
        let absolute = std::fs::canonicalize(&absolute).unwrap_or(absolute);
        let prefix = Path::from_absolute_path(&absolute).map_err(|e| invalid(e.to_string()))?;
        let mut url = Url::from_directory_path(&absolute)
            .map_err(|_| invalid("cannot be expressed as a file:// URL".into()))?;
        url.set_query(None);
        let fs = Arc::new(LocalFileSystem::new());
        Ok(Self {
            url,
            kind: StoreKind::Local,
            store: fs.clone(),
            prefix,
            local: Some((absolute, fs)),
            bucket: String::new(),
            region: None,
            credentials: String::new(),
            gcs_probe: None,
            options: StorageOptions::default(),
        })
    }

    /// The location as a URL (`file:///…/` or `s3://bucket/prefix/`), always
    /// ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of the store itself (`file:///`, `s3://bucket/`), as DataFusion
    /// registers object stores.
    pub fn store_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("/");
        url
    }

    /// The object store holding this location.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The key prefix of this location inside its store.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The local directory, when this location is on the local file system.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        self.local.as_ref().map(|(p, _)| p.as_path())
    }

    /// The key of `relative` (slash-separated, real names) under this location.
    /// Names are kept as they are, the way listing reports them.
    pub fn child(&self, relative: &str) -> Path {
        let parts = relative.split('/').filter(|p| !p.is_empty());
        let joined = std::iter::once(self.prefix.as_ref())
            .filter(|p| !p.is_empty())
            .chain(parts.clone())
            .collect::<Vec<_>>()
            .join("/");
        Path::parse(&joined)
            .unwrap_or_else(|_| parts.fold(self.prefix.clone(), |p, part| p.join(part)))
    }

    /// The path of `key` relative to this location, with real names,
    /// or `None` when `key` is not under it.
    pub fn relative(&self, key: &Path) -> Option<String> {
        let parts: Vec<String> = key
            .prefix_match(&self.prefix)?
            .map(|part| part.as_ref().to_string())
            .collect();
        Some(parts.join("/"))
    }

    /// How a user refers to `key`: a file-system path for local files, a URL
    /// (`s3://bucket/key`) otherwise.
    pub fn display(&self, key: &Path) -> String {
        if let Some((_, fs)) = &self.local {
            if let Ok(p) = fs.path_to_filesystem(key) {
                return p.display().to_string();
            }
        }
        self.key_url(key)
    }

    /// The URL of `key` in this location's store (`file:///…/a.parquet`,
    /// `s3://bucket/key`), as DataFusion reads files.
    pub fn key_url(&self, key: &Path) -> String {
        let mut url = self.store_url();
        // Each name percent-encoded (a literal `%` too), so that decoding the
        // URL's path, as DataFusion and object_store do, gives `key` back.
        url.path_segments_mut()
            .expect("a hierarchical URL")
            .pop_if_empty()
            .extend(key.parts());
        url.to_string()
    }

    /// Like [`display`](Self::display) for a path relative to this location.
    pub fn display_relative(&self, relative: &str) -> String {
        self.display(&self.child(relative))
    }

    /// The URL of a sub-folder, e.g. for DataFusion to list part files.
    pub fn child_url(&self, relative: &str) -> Url {
        let mut url = self.url.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            url.path_segments_mut()
                .expect("a hierarchical URL")
                .pop_if_empty()
                .push(part);
        }
        url.path_segments_mut()
            .expect("a hierarchical URL")
            .push("");
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_resolve_to_absolute_urls() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(loc.url().scheme(), "file");
        assert!(loc.url().as_str().ends_with('/'));
        assert_eq!(loc.store_url().as_str(), "file:///");
        let key = loc.child("apple/x y#1%20.jpg");
        assert_eq!(loc.relative(&key).as_deref(), Some("apple/x y#1%20.jpg"));
        let shown = loc.display(&key);
        assert!(shown.ends_with("apple/x y#1%20.jpg"), "{shown}");
        // As a URL for DataFusion: under file:///, spaces and `#` encoded.
        let url = loc.key_url(&loc.child("apple/x y#1.jpg"));
        assert!(url.starts_with("file:///"), "{url}");
        assert!(url.ends_with("/apple/x%20y%231.jpg"), "{url}");
        assert!(loc
            .child_url("_tmp/features")
            .as_str()
            .ends_with("/_tmp/features/"));
    }

    #[test]
    fn file_urls_and_paths_agree() {
        let dir = tempfile::tempdir().unwrap();
        let a = Location::parse(dir.path().to_str().unwrap()).unwrap();
        let b = Location::parse(a.url().as_str()).unwrap();
        assert_eq!(a.prefix(), b.prefix());
    }

    #[test]
    fn remote_urls_resolve_to_bucket_and_prefix() {
        let o = StorageOptions {
            region: Some("eu-west-3".into()),
            ..Default::default()
        };
        let loc = Location::parse_with("s3a://fruits-eu/Test%20set/Banana", &o).unwrap();
        assert_eq!(loc.kind(), StoreKind::S3);
        assert_eq!(loc.bucket(), "fruits-eu");
        assert_eq!(loc.prefix().as_ref(), "Test set/Banana");
        assert_eq!(loc.store_url().as_str(), "s3a://fruits-eu/");
        assert!(loc.url().as_str().ends_with("Banana/"));
        let key = loc.child("r_1.jpg");
        assert_eq!(
            loc.display(&key),
            "s3a://fruits-eu/Test%20set/Banana/r_1.jpg"
        );
        assert_eq!(loc.key_url(&key), loc.display(&key));
        assert_eq!(loc.relative(&key).as_deref(), Some("r_1.jpg"));
        let root = Location::parse_with("s3://b", &o).unwrap();
        assert_eq!(root.prefix().as_ref(), "");
        assert!(!format!("{root:?}").contains("secret"));
        let gs = Location::parse_with("gs://bucket/a/", &o).unwrap();
        assert_eq!(gs.kind(), StoreKind::Gcs);
        let http = Location::parse_with("http://127.0.0.1:8080/photos/", &o).unwrap();
        assert_eq!(http.kind(), StoreKind::Http);
        assert_eq!(http.prefix().as_ref(), "photos");
        assert!(http.ensure_writable().is_err());
        assert!(loc.ensure_writable().is_ok());
        assert!(Location::parse_with("s3:///nobucket", &o).is_err());
    }

    #[test]
    fn unknown_schemes_are_refused_clearly() {
        let err = Location::parse("ftp://host/x").unwrap_err().to_string();
        assert!(
            err.contains("ftp://host/x") && err.contains("not supported"),
            "{err}"
        );
        assert!(Location::parse("").is_err());
    }

    #[test]
    fn key_urls_decode_to_their_keys_whatever_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out 50%25");
        std::fs::create_dir(&out).unwrap();
        let local = Location::local(&out).unwrap();
        let o = StorageOptions {
            region: Some("eu-west-3".into()),
            ..Default::default()
        };
        let s3 = Location::parse_with("s3://fruits-eu/Test%20set/50%25off", &o).unwrap();
        for (loc, name) in [(&local, "part 1%.parquet"), (&s3, "a%20b #1?.jpg")] {
            let key = loc.child(name);
            let url = loc.key_url(&key);
            let decoded = Path::from_url_path(Url::parse(&url).unwrap().path()).unwrap();
            assert_eq!(decoded, key, "{url}");
        }
        let key = local.child("part 1%.parquet");
        assert!(
            local
                .key_url(&key)
                .ends_with("/out%2050%2525/part%201%25.parquet"),
            "{}",
            local.key_url(&key)
        );
        assert_eq!(
            s3.key_url(&s3.child("a%20b #1?.jpg")),
            "s3://fruits-eu/Test%20set/50%25off/a%2520b%20%231%3F.jpg"
        );
    }

    #[test]
    fn keys_outside_the_location_have_no_relative_path() {
        let a = Location::local("/tmp/a").unwrap();
        assert_eq!(a.relative(&Path::from("etc/passwd")), None);
    }
}
