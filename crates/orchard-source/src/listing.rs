//! Recursive listing of a location into photo entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use object_store::path::Path;

use crate::{label_of, Location, PhotoGlob, SourceError};

/// One photo found by listing: where it is, its label, and what identifies its
/// version (size, modification time, ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoEntry {
    /// The object key inside the store.
    pub key: Path,
    /// How the user refers to it: a local path or a URL such as `s3://bucket/key`.
    pub path: String,
    /// The path relative to the listed root, slash-separated.
    pub relative: String,
    /// The parent folder's name, or `None` for files directly under the root.
    pub label: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub modified: DateTime<Utc>,
    /// The store's entity tag, when it has one.
    pub e_tag: Option<String>,
}

/// Something under the root that could not be listed (an unreadable folder, a
/// broken link): it is reported, not silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingProblem {
    /// What could not be listed, as precisely as the store says.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The result of listing a location.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Matching photos, sorted by relative path.
    pub photos: Vec<PhotoEntry>,
    /// Entries that could not be listed.
    pub problems: Vec<ListingProblem>,
    /// Objects seen that did not match the glob or are hidden.
    pub skipped: u64,
    /// Of the skipped objects, those not hidden (the glob left them out), by
    /// lower-cased extension (`".heic"`; `""` for a name without one).
    pub left_out: BTreeMap<String, u64>,
}

impl Listing {
    /// The sorted, distinct labels of the listed photos.
    pub fn labels(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> = self
            .photos
            .iter()
            .filter_map(|p| p.label.as_deref())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// What to tell a user who found no photo under `input` with `glob`:
    /// which files the glob left out there, if any, and what to do.
    pub fn no_photos_message(&self, glob: &PhotoGlob, input: &str) -> String {
        let mut message = format!("no photos matching {} under {input}", glob.as_str());
        if !self.left_out.is_empty() {
            let mut kinds: Vec<(&String, &u64)> = self.left_out.iter().collect();
            kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let kinds: Vec<String> = kinds
                .into_iter()
                .map(|(ext, n)| match ext.as_str() {
                    "" => format!("{n} without an extension"),
                    ext => format!("{n} {ext}"),
                })
                .collect();
            message.push_str(&format!(
                "; the glob left out {} file(s) there ({}). Orchard reads JPEG, PNG and \
                 WebP: convert other formats (HEIC, GIF, …) to JPEG, or widen the glob",
                self.left_out.values().sum::<u64>(),
                kinds.join(", ")
            ));
        }
        message
    }

    /// Whether `relative` is a photo to list: not hidden, and matched by
    /// `glob`. When it is not, it is counted as skipped, and, unless hidden,
    /// as left out by the glob.
    fn admits(&mut self, glob: &PhotoGlob, relative: &str) -> bool {
        let hidden = is_hidden(relative);
        if !hidden && glob.is_match(relative) {
            return true;
        }
        self.skipped += 1;
        if !hidden {
            let name = relative.rsplit('/').next().unwrap_or(relative);
            let ext = name
                .rfind('.')
                .filter(|&at| at > 0)
                .map_or(String::new(), |at| name[at..].to_lowercase());
            *self.left_out.entry(ext).or_default() += 1;
        }
        false
    }
}

/// Whether a relative path is hidden by the Spark/Hadoop convention: any part
/// starting with `.` or `_` (so `_SUCCESS`, `_temporary/` and `.DS_Store` are
/// never read as photos).
fn is_hidden(relative: &str) -> bool {
    relative
        .split('/')
        .any(|p| p.starts_with('.') || p.starts_with('_'))
}

/// Lists every object under `location` recursively, keeps those matching
/// `glob`, and returns them sorted by relative path (a deterministic order on
/// every store). Pages of the store's listing are consumed as a stream; only
/// the matching entries are kept in memory.
pub async fn list_photos(location: &Location, glob: &PhotoGlob) -> Result<Listing, SourceError> {
    if let Some(dir) = location.local_dir() {
        if !dir.is_dir() {
            return Err(SourceError::InvalidLocation {
                location: dir.display().to_string(),
                reason: "no such directory".to_string(),
            });
        }
        let (location, glob) = (location.clone(), glob.clone());
        return tokio::task::spawn_blocking(move || list_local(&location, &glob))
            .await
            .map_err(|e| SourceError::InvalidLocation {
                location: "listing".into(),
                reason: e.to_string(),
            });
    }
    let mut listing = Listing::default();
    let mut stream = location.store().list(Some(location.prefix()));
    while let Some(item) = stream.next().await {
        let meta = match item {
            Ok(meta) => meta,
            // On a remote store a failed page is the whole listing failing
            // (access, network after retries): the job must not go on with
            // part of the photos.
            Err(e) if location.kind() != crate::StoreKind::Local => {
                return Err(SourceError::store(
                    location,
                    crate::StoreAction::List,
                    location.url().to_string(),
                    e,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing problem");
                listing.problems.push(ListingProblem {
                    path: location.url().to_string(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let Some(relative) = location.relative(&meta.location) else {
            continue;
        };
        if !listing.admits(glob, &relative) {
            continue;
        }
        listing.photos.push(PhotoEntry {
            path: location.display(&meta.location),
            label: label_of(&relative),
            relative,
            key: meta.location,
            size: meta.size,
            modified: meta.last_modified,
            e_tag: meta.e_tag,
        });
    }
    listing.photos.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(listing)
}

/// Lists a local directory with `walkdir`, following links. Unlike
/// `object_store`'s local listing, which ends at the first problem and skips
/// broken links silently, every unreadable entry (permission, dangling link,
/// symlink loop, a name no object key can hold) becomes a [`ListingProblem`]
/// naming its path, and the walk goes on.
fn list_local(location: &Location, glob: &PhotoGlob) -> Listing {
    let root = location.local_dir().expect("a local location");
    let mut listing = Listing::default();
    let mut problems = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e
                    .path()
                    .or_else(|| e.loop_ancestor())
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                let reason = match (e.loop_ancestor(), e.io_error()) {
                    (Some(ancestor), _) => {
                        format!("symbolic link loop (back to {})", ancestor.display())
                    }
                    (None, Some(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                        "dangling symbolic link (its target does not exist)".to_string()
                    }
                    (None, Some(io)) => io.to_string(),
                    (None, None) => e.to_string(),
                };
                problems.push(ListingProblem { path, reason });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative_fs) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(relative) = relative_fs.to_str().map(str::to_string) else {
            problems.push(ListingProblem {
                path: entry.path().display().to_string(),
                reason: "the file name is not valid UTF-8".into(),
            });
            continue;
        };
        if !listing.admits(glob, &relative) {
            continue;
        }
        let key = match Path::from_absolute_path(entry.path()) {
            Ok(key) => key,
            Err(e) => {
                problems.push(ListingProblem {
                    path: entry.path().display().to_string(),
                    reason: format!("the name cannot be an object key: {e}"),
                });
                continue;
            }
        };
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                problems.push(ListingProblem {
                    path: entry.path().display().to_string(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        listing.photos.push(PhotoEntry {
            path: entry.path().display().to_string(),
            label: label_of(&relative),
            relative,
            key,
            size: meta.len(),
            modified: meta
                .modified()
                .map(DateTime::<Utc>::from)
                .unwrap_or_default(),
            e_tag: None,
        });
    }
    for p in &problems {
        tracing::warn!(path = %p.path, reason = %p.reason, "listing problem");
    }
    listing.problems = problems;
    listing.photos.sort_by(|a, b| a.relative.cmp(&b.relative));
    listing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &std::path::Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    #[tokio::test]
    async fn lists_recursively_sorted_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "mango/b.jpg", b"12");
        touch(root, "apple/a.JPG", b"1");
        touch(root, "apple/z.png", b"123");
        touch(root, "deep/er/kiwi/k.jpeg", b"");
        touch(root, "loose.jpg", b"x");
        touch(root, "apple/notes.txt", b"no");
        touch(root, "_SUCCESS", b"");
        touch(root, ".hidden/x.jpg", b"");
        touch(root, "apple/.DS_Store.jpg", b"");

        let loc = Location::local(root).unwrap();
        let listing = list_photos(&loc, &PhotoGlob::default()).await.unwrap();
        let rel: Vec<_> = listing.photos.iter().map(|p| p.relative.as_str()).collect();
        assert_eq!(
            rel,
            [
                "apple/a.JPG",
                "apple/z.png",
                "deep/er/kiwi/k.jpeg",
                "loose.jpg",
                "mango/b.jpg"
            ]
        );
        let labels: Vec<_> = listing.photos.iter().map(|p| p.label.as_deref()).collect();
        assert_eq!(
            labels,
            [
                Some("apple"),
                Some("apple"),
                Some("kiwi"),
                None,
                Some("mango")
            ]
        );
        assert_eq!(listing.photos[1].size, 3);
        assert!(listing.photos[0].path.starts_with('/'));
        assert_eq!(listing.skipped, 4);
        assert_eq!(listing.left_out, BTreeMap::from([(".txt".to_string(), 1)]));
        assert!(listing.problems.is_empty());
        assert_eq!(listing.labels(), ["apple", "kiwi", "mango"]);
    }

    #[tokio::test]
    async fn no_photos_says_what_the_glob_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "iphone/IMG_0001.HEIC", b"");
        touch(root, "iphone/IMG_0002.heic", b"");
        touch(root, "iphone/anim.gif", b"");
        touch(root, "iphone/README", b"");
        touch(root, ".DS_Store", b"");
        let loc = Location::local(root).unwrap();
        let glob = PhotoGlob::default();
        let listing = list_photos(&loc, &glob).await.unwrap();
        assert!(listing.photos.is_empty());
        assert_eq!(listing.skipped, 5);
        assert_eq!(
            listing.no_photos_message(&glob, "photos/"),
            "no photos matching *.jpg,*.jpeg,*.png,*.webp under photos/; the glob left out 4 \
             file(s) there (2 .heic, 1 without an extension, 1 .gif). Orchard reads JPEG, PNG \
             and WebP: convert other formats (HEIC, GIF, …) to JPEG, or widen the glob"
        );
        // Nothing there at all: the plain message.
        let empty = tempfile::tempdir().unwrap();
        let loc = Location::local(empty.path()).unwrap();
        let listing = list_photos(&loc, &glob).await.unwrap();
        assert_eq!(
            listing.no_photos_message(&glob, "empty/"),
            "no photos matching *.jpg,*.jpeg,*.png,*.webp under empty/"
        );
    }

    #[tokio::test]
    async fn a_missing_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::local(dir.path().join("nope")).unwrap();
        let err = list_photos(&loc, &PhotoGlob::default()).await.unwrap_err();
        assert!(err.to_string().contains("no such directory"), "{err}");
    }
}
