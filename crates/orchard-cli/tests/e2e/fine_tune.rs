//! `orchard train --fine-tune` end to end on a small subset: the backbone's
//! last blocks trained, exported, installed and checked, and the bundle
//! answering with the tuned model only.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A model home of its own for a test that installs models: the real
/// home's default model and runtime library, linked.
fn private_home(root: &Path) -> PathBuf {
    let real = std::env::var_os("ORCHARD_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/orchard"));
    let home = root.join("orchard-home");
    std::fs::create_dir_all(home.join("models")).unwrap();
    for f in ["mobilenet_v2.onnx", "mobilenet_v2.json"] {
        std::os::unix::fs::symlink(real.join("models").join(f), home.join("models").join(f))
            .unwrap();
    }
    std::os::unix::fs::symlink(real.join("lib"), home.join("lib")).unwrap();
    home
}

/// `count` photos of each label from a shared data set, linked.
fn photos_of(root: &Path, set: &str, labels: &[&str], count: usize) -> PathBuf {
    let out = root.join(set);
    for label in labels {
        let mut files: Vec<_> = std::fs::read_dir(data_dir(set).join(label))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        std::fs::create_dir_all(out.join(label)).unwrap();
        // Spread over the folder (every series), not just the first visit.
        let step = (files.len() / count).max(1);
        for f in files.iter().step_by(step).take(count) {
            std::os::unix::fs::symlink(f, out.join(label).join(f.file_name().unwrap())).unwrap();
        }
    }
    out
}

#[test]
fn fine_tunes_the_backbone_exports_it_and_identifies_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = private_home(tmp.path());
    let labels = ["apple", "banana", "lemon", "pear", "tomato"];
    let train = photos_of(tmp.path(), "grocery-store-train", &labels, 40);
    let val = photos_of(tmp.path(), "grocery-store-val", &labels, 10);
    let model = tmp.path().join("tuned-model");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args)
            .env("ORCHARD_HOME", &home)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let trained = run(&[
        "train",
        train.to_str().unwrap(),
        "--classifier",
        model.to_str().unwrap(),
        "--validate",
        val.to_str().unwrap(),
        "--fine-tune",
        "--tune-epochs",
        "4",
        "--tune-variants",
        "2",
        "--tune-batch",
        "32",
        "--tuned-model",
        "fruit-ft",
    ]);
    assert_ok(&trained);
    let printed = stdout(&trained);
    eprintln!("{printed}");
    // The frozen baseline and every epoch are reported on the held-out
    // groups and on the validation set.
    let accuracy = |line: &str| -> f64 {
        let at = line.find("held-out groups ").expect("held-out figure") + 16;
        line[at..]
            .split([',', ' '])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let frozen = printed
        .lines()
        .find(|l| l.starts_with("frozen backbone"))
        .expect("baseline line");
    let epochs: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .collect();
    // Every epoch runs, and the last is kept (the default `--tune-keep`).
    assert_eq!(epochs.len(), 4, "{printed}");
    assert!(printed.contains("kept epoch 4 (the last)"), "{printed}");
    // …and mixed with the parent's weights (the default `--tune-mix 0.7`).
    assert!(
        printed.contains("70 % fine-tuned, 30 % mobilenet_v2 (--tune-mix 0.7)"),
        "{printed}"
    );
    assert!(
        epochs.iter().all(|l| l.contains(val.to_str().unwrap())),
        "{printed}"
    );
    // The kept fine-tuned backbone beats the frozen one on held-out groups.
    assert!(accuracy(epochs[3]) > accuracy(frozen), "{printed}");

    // Exported into the model home with a manifest naming its parent, and
    // checked in ONNX Runtime against candle.
    let cosine: f64 = printed
        .split("lowest cosine ")
        .nth(1)
        .expect("export check")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cosine >= 0.9999, "{printed}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("models/fruit-ft.json")).unwrap()).unwrap();
    let tuning = &manifest["fine_tuning"];
    assert_eq!(tuning["parent_model"], "mobilenet_v2");
    assert_eq!(tuning["mix"], 0.7);
    assert_eq!(tuning["training_fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["spec"]["width"], 224);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("classifier.json")).unwrap()).unwrap();
    assert_eq!(meta["feature_model"]["name"], "fruit-ft");
    assert_eq!(meta["feature_model"]["sha256"], manifest["sha256"]);
    // The bundle's fine_tuning.json records the recipe: epochs, keep rule
    // and augmentation (the default parts: no `several`).
    let recipe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("fine_tuning.json")).unwrap()).unwrap();
    assert_eq!(recipe["sha256"], manifest["sha256"]);
    assert_eq!(recipe["report"]["options"]["epochs"], 4);
    assert_eq!(recipe["report"]["options"]["keep"], "last");
    assert_eq!(recipe["report"]["options"]["mix"], 0.7);
    assert_eq!(recipe["augmentation"]["variants_per_photo"], 2);
    assert_eq!(
        recipe["augmentation"]["parts"],
        "background,crop,flip,color,blur,scale"
    );

    // The bundle identifies with its own model and refuses its parent.
    let photo = std::fs::read_dir(val.join("banana"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let identified = run(&[
        "identify",
        model.to_str().unwrap(),
        photo.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert_ok(&identified);
    assert_eq!(jsonl(&identified).len(), 1);
    let refused = run(&[
        "identify",
        model.to_str().unwrap(),
        photo.to_str().unwrap(),
        "--model",
        "mobilenet_v2",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("sha256") || err.contains("fruit-ft"), "{err}");

    // `model info` says how the model was made.
    let info = run(&["model", "info", "fruit-ft"]);
    assert_ok(&info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["fine_tuning"]["parent_model"], "mobilenet_v2");
    assert_eq!(info["fine_tuning"]["kept_epoch"], 4);
    assert_eq!(info["fine_tuning"]["mix"], 0.7);

    // A share outside 0..1 is refused before any work, naming the flag.
    let refused = run(&[
        "train",
        train.to_str().unwrap(),
        "--classifier",
        tmp.path().join("never").to_str().unwrap(),
        "--fine-tune",
        "--tune-mix",
        "1.5",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("--tune-mix") && err.contains("not between 0 and 1"),
        "{err}"
    );
}
