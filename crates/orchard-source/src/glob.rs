//! The file-name filter applied while listing.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::SourceError;

/// The default filter: JPEG, PNG and WebP photos, any case.
pub const DEFAULT_GLOB: &str = "*.jpg,*.jpeg,*.png,*.webp";

/// A case-insensitive, comma-separated list of glob patterns.
///
/// A pattern without `/` is matched against the file name (`*.jpg` matches
/// `a/b/c.JPG`); a pattern with `/` is matched against the path relative to the
/// listed root (`Test/**/*.jpg`), where `*` does not cross folders and `**` does.
#[derive(Debug, Clone)]
pub struct PhotoGlob {
    source: String,
    names: GlobSet,
    paths: GlobSet,
}

impl PhotoGlob {
    /// Compiles `patterns`, e.g. `"*.jpg,*.png"`.
    pub fn new(patterns: &str) -> Result<Self, SourceError> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let mut any = false;
        for pattern in patterns.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| SourceError::InvalidGlob {
                    pattern: pattern.to_string(),
                    reason: e.kind().to_string(),
                })?;
            if pattern.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
            any = true;
        }
        if !any {
            return Err(SourceError::InvalidGlob {
                pattern: patterns.to_string(),
                reason: "no pattern given".to_string(),
            });
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| SourceError::InvalidGlob {
                pattern: patterns.to_string(),
                reason: e.to_string(),
            })
        };
        Ok(Self {
            source: patterns.to_string(),
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    /// Whether the file at `relative` (slash-separated, relative to the root) matches.
    pub fn is_match(&self, relative: &str) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        self.names.is_match(name) || self.paths.is_match(relative)
    }

    /// The patterns as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Default for PhotoGlob {
    fn default() -> Self {
        Self::new(DEFAULT_GLOB).expect("the default glob compiles")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_photos_in_any_case() {
        let g = PhotoGlob::default();
        assert!(g.is_match("apple/r_1.jpg"));
        assert!(g.is_match("apple/R_1.JPG"));
        assert!(g.is_match("x.jpeg"));
        assert!(g.is_match("deep/er/x.Png"));
        assert!(!g.is_match("apple/notes.txt"));
        assert!(!g.is_match("apple/x.jpg.bak"));
        assert!(!g.is_match("apple/jpg"));
    }

    #[test]
    fn path_patterns_match_relative_paths() {
        let g = PhotoGlob::new("Test/*/*.jpg").unwrap();
        assert!(g.is_match("Test/Banana/r_1.jpg"));
        assert!(!g.is_match("Train/Banana/r_1.jpg"));
        assert!(!g.is_match("Test/a/b/r_1.jpg"), "* does not cross folders");
        let deep = PhotoGlob::new("Test/**/*.jpg").unwrap();
        assert!(deep.is_match("Test/a/b/r_1.jpg"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(matches!(
            PhotoGlob::new("a[b"),
            Err(SourceError::InvalidGlob { .. })
        ));
        assert!(matches!(
            PhotoGlob::new(" , "),
            Err(SourceError::InvalidGlob { .. })
        ));
    }
}
