//! A place photos are read from or results are written to, resolved to an
//! `object_store` store and a prefix inside it.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use crate::SourceError;

/// A storage location: a store, the prefix of the location inside it, and the
/// URL the user meant.
///
/// Local paths (`./photos`, `/data/photos`, `file:///data/photos`) resolve to a
/// [`LocalFileSystem`] rooted at `/`, so that every location is addressed the
/// same way, by object keys.
#[derive(Debug, Clone)]
pub struct Location {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    local: Option<(PathBuf, Arc<LocalFileSystem>)>,
}

impl Location {
    /// Resolves a user-given location. Local directories need not exist yet
    /// (outputs are created on first write).
    pub fn parse(location: &str) -> Result<Self, SourceError> {
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
            Ok(url) if url.scheme().len() > 1 => Err(invalid(format!(
                "the '{}://' scheme is not supported by this build; use a local path or file://",
                url.scheme()
            ))),
            _ => Self::local(PathBuf::from(location)),
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
            store: fs.clone(),
            prefix,
            local: Some((absolute, fs)),
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
        let mut url = self.store_url();
        url.set_path(key.as_ref());
        url.to_string()
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
    fn unknown_schemes_are_refused_clearly() {
        let err = Location::parse("ftp://host/x").unwrap_err().to_string();
        assert!(
            err.contains("ftp://host/x") && err.contains("not supported"),
            "{err}"
        );
        assert!(Location::parse("").is_err());
    }

    #[test]
    fn keys_outside_the_location_have_no_relative_path() {
        let a = Location::local("/tmp/a").unwrap();
        assert_eq!(a.relative(&Path::from("etc/passwd")), None);
    }
}
