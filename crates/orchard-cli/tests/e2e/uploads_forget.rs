//! The right to erasure reaching what was made from kept uploads: exported,
//! trained on and identified with, then forgotten in the extraction output,
//! the exported folder and the bundles that name the receipt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::uploads::*;
use crate::common::*;

#[test]
fn export_train_identify_then_forget_reaches_outputs_exports_and_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve_uploads(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    // Photos the small model was not trained on (it took the first 30).
    let photos: Vec<String> = ["apple", "lemon", "mango", "raspberry"]
        .iter()
        .flat_map(|label| {
            let mut names: Vec<String> = std::fs::read_dir(sample_dir().join(label))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
            names.sort();
            names
                .into_iter()
                .skip(40)
                .step_by(7)
                .take(4)
                .map(move |n| format!("{label}/{n}"))
        })
        .collect();
    let photos: Vec<&str> = photos.iter().map(String::as_str).collect();
    assert_eq!(photos.len(), 16, "{photos:?}");
    let given = give(&server, &photos);
    // One more without feedback: never exported.
    let lemon = std::fs::read(sample_dir().join("lemon/0_100.jpg")).unwrap();
    let silent = receipt_of(&server.identify_form(&lemon, true));
    drop(server);

    // Export: OUT/<label>/<receipt>.jpg and a manifest.
    let export = tmp.path().join("export");
    let out = orchard(&[
        "uploads",
        "export",
        kept.to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert_ok(&out);
    for (receipt, label) in &given {
        assert!(export.join(label).join(format!("{receipt}.jpg")).is_file());
    }
    assert!(!files_under(&export)
        .iter()
        .any(|p| p.to_string_lossy().contains(&silent)));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("_uploads.json")).unwrap()).unwrap();
    assert_eq!(manifest["uploads"].as_array().unwrap().len(), given.len());

    // Train on the uploads mixed with shared photos; identify.
    let shared = subset(
        &tmp.path().join("shared"),
        &[
            ("apple", 10),
            ("lemon", 10),
            ("mango", 10),
            ("raspberry", 10),
        ],
    );
    let bundle = tmp.path().join("bundles/with-uploads");
    assert_ok(&orchard(&[
        "train",
        export.to_str().unwrap(),
        shared.to_str().unwrap(),
        "--classifier",
        bundle.to_str().unwrap(),
    ]));
    let lineage: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("training_set.json")).unwrap()).unwrap();
    assert_eq!(
        lineage["receipts"].as_array().unwrap().len(),
        given.len(),
        "{lineage}"
    );
    assert_eq!(lineage["photos"], given.len() + 40);
    assert_eq!(lineage["fingerprint"].as_str().unwrap().len(), 64);
    let identified = orchard(&[
        "identify",
        bundle.to_str().unwrap(),
        sample_dir().join("raspberry/0_100.jpg").to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert_ok(&identified);
    assert!(String::from_utf8_lossy(&identified.stdout).contains("\"label\":\"raspberry\""));

    // An extraction output built from the exported uploads.
    let features = tmp.path().join("features");
    assert_ok(&orchard(&[
        "extract",
        export.to_str().unwrap(),
        features.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "3",
        "--partitions",
        "2",
        "--batch-size",
        "4",
    ]));
    let before = rows_by_path(&features);
    assert_eq!(before.len(), given.len());
    let parts_before: HashMap<String, Vec<u8>> = part_files(&features)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();

    // Forget two receipts everywhere.
    let mut receipts: Vec<&String> = given.keys().collect();
    receipts.sort();
    let forgotten = [receipts[0].clone(), receipts[5].clone()];
    let out = orchard(&[
        "uploads",
        "forget",
        &forgotten[0],
        &forgotten[1],
        "--kept",
        kept.to_str().unwrap(),
        "--outputs",
        features.to_str().unwrap(),
        export.to_str().unwrap(),
        "--bundles",
        tmp.path().join("bundles").to_str().unwrap(),
    ]);
    assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 rows removed"), "{said}");
    assert!(
        said.contains(&format!("retrain {}", bundle.display())),
        "{said}"
    );

    // The output: the two rows gone, every other row bit-identical, untouched
    // part files byte-identical, committed, _SUCCESS present.
    let after = rows_by_path(&features);
    assert_eq!(after.len(), before.len() - 2);
    for (path, row) in &before {
        if forgotten.iter().any(|r| path.contains(r.as_str())) {
            assert!(!after.contains_key(path), "{path} survived");
        } else {
            assert_eq!(after.get(path), Some(row), "{path} changed");
        }
    }
    assert!(features.join("_SUCCESS").exists());
    assert!(!features.join("_temporary").exists());
    for part in part_files(&features) {
        let name = part.file_name().unwrap().to_string_lossy().to_string();
        if let Some(old) = parts_before.get(&name) {
            assert_eq!(&std::fs::read(&part).unwrap(), old, "{name} was rewritten");
        } else {
            assert!(name.ends_with("-rw.parquet"), "{name}");
        }
    }
    for file in files_under(&features) {
        let bytes = std::fs::read(&file).unwrap();
        for r in &forgotten {
            assert!(
                !contains(&bytes, r.as_bytes()),
                "{} names {r}",
                file.display()
            );
        }
    }
    // The commit protocol holds: an incremental run on it finds nothing to do.
    let incremental = orchard(&[
        "extract",
        export.to_str().unwrap(),
        features.to_str().unwrap(),
        "--incremental",
        "--keep-features",
    ]);
    assert_ok(&incremental);
    assert_eq!(rows_by_path(&features), after);

    // The exported folder and the store.
    for r in &forgotten {
        assert!(!files_under(&export)
            .iter()
            .any(|p| p.to_string_lossy().contains(r.as_str())));
        assert!(!kept.join(r).exists());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("_uploads.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["uploads"].as_array().unwrap().len(),
        given.len() - 2
    );
    let audit = std::fs::read_to_string(kept.join("_audit.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e["action"] == "forget" && e["found"] == true));
    assert!(events[0]["reach"]["bundles_to_retrain"][0]
        .as_str()
        .unwrap()
        .ends_with("with-uploads"));
    // Exporting again does not bring them back.
    assert_ok(&orchard(&[
        "uploads",
        "export",
        kept.to_str().unwrap(),
        export.to_str().unwrap(),
    ]));
    for r in &forgotten {
        assert!(!files_under(&export)
            .iter()
            .any(|p| p.to_string_lossy().contains(r.as_str())));
    }
}

fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .collect();
    parts.sort();
    parts
}
