//! Incremental runs: `orchard extract … --incremental` processes only new or
//! changed photos, appends part files, keeps labels and the PCA model, and
//! repairs what an interrupted run left.

use std::collections::HashSet;
use std::path::Path;

use crate::common::*;

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap()
}

fn part_names(out: &Path) -> HashSet<String> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-"))
        .collect()
}

fn extract(photos: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "3",
    ];
    args.extend_from_slice(extra);
    assert_ok(&orchard(&args));
}

#[test]
fn only_new_and_changed_photos_are_processed() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 4), ("lemon", 4)]);
    let out = tmp.path().join("out");
    extract(&photos, &out, &[]);
    let first_rows = rows_by_path(&out);
    let first_parts = part_names(&out);
    let first_pca = std::fs::read_to_string(out.join("_pca/model.json")).unwrap();
    assert_eq!(first_rows.len(), 8);

    // New photos with a new label, and one photo replaced by another.
    link_files(
        &photos,
        &[
            "raspberry/0_100.jpg",
            "raspberry/10_100.jpg",
            "raspberry/113_100.jpg",
        ],
    );
    let mut apples: Vec<_> = std::fs::read_dir(photos.join("apple"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    apples.sort();
    let changed = apples[0].clone();
    std::fs::remove_file(&changed).unwrap();
    std::fs::copy(sample_dir().join("mango/100_100.jpg"), &changed).unwrap();
    let changed_path = changed.display().to_string();

    extract(&photos, &out, &["--incremental"]);
    let run = run_json(&out);
    assert_eq!(run["counts"]["listed"], 11, "{run}");
    assert_eq!(run["counts"]["processed"], 4, "3 new + 1 changed: {run}");
    assert_eq!(run["counts"]["succeeded"], 11, "{run}");
    assert!(out.join("_SUCCESS").exists());
    let rows = rows_by_path(&out);
    assert_eq!(rows.len(), 11);
    let total: usize = read_parts(&out).iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, 11, "no duplicate rows");
    // Saved PCA, stable labels.
    assert!(
        std::fs::read_to_string(out.join("_pca/model.json")).unwrap() == first_pca,
        "the saved PCA model is kept"
    );
    let labels: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_labels.json")).unwrap()).unwrap();
    assert_eq!(
        labels,
        serde_json::json!({"apple": 0, "lemon": 1, "raspberry": 2})
    );
    assert_eq!(rows[&changed_path].label_index, Some(0));
    for (path, row) in &first_rows {
        if path != &changed_path {
            assert_eq!(&rows[path], row, "unchanged row {path}");
        }
    }
    assert_ne!(
        rows[&changed_path].features,
        first_rows[&changed_path].features
    );
    // The new content's features are what a fresh run computes.
    let fresh = tmp.path().join("fresh");
    extract(&photos, &fresh, &[]);
    let fresh_rows = rows_by_path(&fresh);
    assert_eq!(
        rows[&changed_path].features,
        fresh_rows[&changed_path].features
    );
    // Old part files: kept, except the one holding the changed photo.
    let parts = part_names(&out);
    assert!(parts.len() > first_parts.len() - 1);
    assert!(
        !first_parts.is_subset(&parts),
        "the changed photo's part was replaced"
    );

    // Nothing new: nothing processed, nothing added, still complete.
    let before = part_names(&out);
    extract(&photos, &out, &["--incremental"]);
    assert_eq!(run_json(&out)["counts"]["processed"], 0);
    assert_eq!(part_names(&out), before);
    assert_eq!(rows_by_path(&out).len(), 11);
    assert!(out.join("_SUCCESS").exists());

    // --refit: PCA fitted on every row, as a fresh run on the same photos.
    extract(&photos, &out, &["--incremental", "--refit"]);
    let refit = rows_by_path(&out);
    assert_eq!(refit.len(), 11);
    for (path, row) in &fresh_rows {
        for (a, b) in refit[path].pca.iter().zip(&row.pca) {
            assert!((a - b).abs() < 1e-3, "{path}: {a} vs {b}");
        }
    }
}

#[test]
fn an_interrupted_incremental_run_is_repaired_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3), ("lemon", 3)]);
    let out = tmp.path().join("out");
    extract(&photos, &out, &[]);
    // What a crash between writing part files and committing them leaves:
    // an uncommitted part file, no _SUCCESS, temporary files.
    let part = part_names(&out).into_iter().next().unwrap();
    std::fs::copy(
        out.join(&part),
        out.join("part-00000-0f8fad5b-d9cb-469f-a165-70867728950e.parquet"),
    )
    .unwrap();
    std::fs::remove_file(out.join("_SUCCESS")).unwrap();
    std::fs::create_dir_all(out.join("_temporary/x")).unwrap();
    std::fs::write(out.join("_temporary/x/junk"), b"junk").unwrap();

    extract(&photos, &out, &["--incremental"]);
    assert!(out.join("_SUCCESS").exists());
    assert!(!out.join("_temporary").exists());
    let total: usize = read_parts(&out).iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, 6, "the uncommitted copy is gone");

    // Not an Orchard output: refused clearly.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"hello").unwrap();
    let result = orchard(&[
        "extract",
        photos.to_str().unwrap(),
        other.to_str().unwrap(),
        "--incremental",
    ]);
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("_inputs"));
}
