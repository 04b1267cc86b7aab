//! Property tests: listing and labelling of arbitrary file trees.
//!
//! Every file created under the root is accounted for exactly once: a photo
//! (with the parent folder as label and its exact relative path), a skipped
//! object (hidden or not matching the glob), or a listing problem naming it.

use std::collections::BTreeSet;

use orchard_source::{label_of, list_photos, Location, PhotoGlob};
use proptest::prelude::*;

/// A path segment: letters, digits, unicode, spaces and the characters that
/// trip URL and object-key handling (`#`, `%`, `?`, `+`, `&`, newline, `.`
/// and `_` prefixes).
fn segment() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 é🍎#%?+&=_.\\n-]{1,12}")
        .unwrap()
        .prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn relative_path() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(segment(), 0..3),
        segment(),
        prop_oneof![Just(".jpg"), Just(".JPEG"), Just(".png"), Just(".txt")],
    )
        .prop_map(|(dirs, name, ext)| {
            let mut parts = dirs;
            parts.push(format!("{name}{ext}"));
            parts.join("/")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_file_is_listed_skipped_or_reported(paths in proptest::collection::vec(relative_path(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let mut created = BTreeSet::new();
        for rel in &paths {
            let path = root.join(rel);
            // A name that is a folder elsewhere in the tree cannot be a file.
            if std::fs::create_dir_all(path.parent().unwrap()).is_err() || path.is_dir() {
                continue;
            }
            if std::fs::write(&path, b"x").is_ok() {
                created.insert(rel.clone());
            }
        }
        let location = Location::local(&root).unwrap();
        let glob = PhotoGlob::default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let listing = rt.block_on(list_photos(&location, &glob)).unwrap();

        let listed: Vec<&str> = listing.photos.iter().map(|p| p.relative.as_str()).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        prop_assert_eq!(&listed, &sorted, "sorted by relative path");
        for photo in &listing.photos {
            prop_assert!(created.contains(&photo.relative), "{:?} was not created", photo.relative);
            prop_assert_eq!(&photo.label, &label_of(&photo.relative));
            prop_assert_eq!(photo.path.clone(), root.join(&photo.relative).display().to_string());
            prop_assert!(glob.is_match(&photo.relative));
            // The key reads back the same file.
            let bytes = rt.block_on(async {
                use object_store::ObjectStoreExt;
                location.store().get(&photo.key).await.unwrap().bytes().await.unwrap()
            });
            prop_assert_eq!(&bytes[..], b"x");
        }
        let reported = listing.problems.len() as u64;
        prop_assert_eq!(
            listing.photos.len() as u64 + listing.skipped + reported,
            created.len() as u64,
            "photos {:?}, skipped {}, problems {:?}, created {:?}",
            listed, listing.skipped, listing.problems, created
        );
        for problem in &listing.problems {
            prop_assert!(problem.path.contains('\n'), "only unrepresentable names fail: {:?}", problem);
        }
    }

    #[test]
    fn the_label_is_the_parent_folder(dirs in proptest::collection::vec("[^/\\x00]{1,8}", 0..4), name in "[^/\\x00]{1,8}") {
        let mut parts = dirs.clone();
        parts.push(name);
        let rel = parts.join("/");
        prop_assert_eq!(label_of(&rel), dirs.last().cloned());
    }
}
