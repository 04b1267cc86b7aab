//! What a classifier bundle was trained on, so that an erasure can tell
//! which bundles must be retrained: `training_set.json` next to the bundle,
//! with the training set's fingerprint (the sha256 of its sorted
//! `path<TAB>label` lines) and the receipts of the kept uploads in it
//! (recognised by their file names, `<receipt>.jpg`, wherever they were
//! read from: an exported folder, or an extraction output built from one).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::uploads::receipt::Receipt;

/// The file next to a bundle.
pub const TRAINING_SET: &str = "training_set.json";

/// A training set's lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingSet {
    /// sha256 of the sorted `path\tlabel` lines.
    pub fingerprint: String,
    /// Photos (rows before augmentation) in it.
    pub photos: u64,
    /// Receipts of kept uploads among them, sorted.
    pub receipts: Vec<String>,
}

impl TrainingSet {
    /// The lineage of `(path, label)` rows (duplicates, e.g. augmented
    /// variants of one photo, count once).
    pub fn of<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> TrainingSet {
        let lines: BTreeSet<String> = rows
            .into_iter()
            .map(|(path, label)| format!("{path}\t{label}\n"))
            .collect();
        let mut hash = Sha256::new();
        let mut receipts = BTreeSet::new();
        for line in &lines {
            hash.update(line.as_bytes());
            let path = line.split('\t').next().unwrap_or("");
            if let Some(r) = Receipt::of_path(path) {
                receipts.insert(r.to_string());
            }
        }
        TrainingSet {
            fingerprint: hex::encode(hash.finalize()),
            photos: lines.len() as u64,
            receipts: receipts.into_iter().collect(),
        }
    }

    /// Writes `training_set.json` into the bundle folder `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("serializes");
        json.push(b'\n');
        std::fs::write(dir.join(TRAINING_SET), json)
    }

    /// The lineage of the bundle in `dir`, if it was recorded.
    pub fn load(dir: &Path) -> Option<TrainingSet> {
        let bytes = std::fs::read(dir.join(TRAINING_SET)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Bundles under `roots` (each a bundle folder or a folder holding bundles,
/// searched to any depth) trained with any of `receipts`: each with those
/// receipts.
pub fn bundles_trained_with(
    roots: &[PathBuf],
    receipts: &BTreeSet<String>,
) -> Vec<(PathBuf, TrainingSet, Vec<String>)> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        if let Some(set) = TrainingSet::load(&dir) {
            let hit: Vec<String> = set
                .receipts
                .iter()
                .filter(|r| receipts.contains(*r))
                .cloned()
                .collect();
            if !hit.is_empty() {
                found.push((dir.clone(), set, hit));
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_order_free_and_receipts_are_found_and_reported() {
        let r = Receipt::new().to_string();
        let upload = format!("/x/export/apple/{r}.jpg");
        let a = TrainingSet::of([("b.jpg", "lemon"), (upload.as_str(), "apple")]);
        let b = TrainingSet::of([
            (upload.as_str(), "apple"),
            ("b.jpg", "lemon"),
            ("b.jpg", "lemon"),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.photos, 2);
        assert_eq!(a.receipts, vec![r.clone()]);
        assert_ne!(
            a.fingerprint,
            TrainingSet::of([("b.jpg", "lemon")]).fingerprint
        );

        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("models/fruit-model");
        std::fs::create_dir_all(&bundle).unwrap();
        a.save(&bundle).unwrap();
        let other = dir.path().join("models/other");
        std::fs::create_dir_all(&other).unwrap();
        TrainingSet::of([("b.jpg", "lemon")]).save(&other).unwrap();
        let wanted: BTreeSet<String> = [r.clone(), "up_x".to_string()].into();
        let found = bundles_trained_with(&[dir.path().to_path_buf()], &wanted);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, bundle);
        assert_eq!(found[0].2, vec![r]);
    }
}
