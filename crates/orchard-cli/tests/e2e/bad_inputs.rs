//! Nothing lost: a corpus of broken and unusual inputs, generated here, goes
//! through `orchard extract`; every input ends in the output or in
//! `_errors.parquet` (exactly once), and the job still succeeds.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::common::*;
use datafusion::arrow::array::AsArray;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        repo_root()
            .join("crates/orchard-image/fixtures/pil/decode")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(sample_dir().join(rel)).unwrap()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What a generated input must become.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A row with this label (`None`: no label).
    Row(Option<&'static str>),
    /// An error row whose stage and message contain these.
    Error(&'static str, &'static str),
    /// Either, but exactly once.
    Either,
}

struct Corpus {
    root: PathBuf,
    /// Input path as Orchard shows it → what it must become.
    inputs: Vec<(String, Expect)>,
}

fn build_corpus(dir: &Path) -> Corpus {
    let root = dir.join("photos");
    std::fs::create_dir_all(&root).unwrap();
    let root = root.canonicalize().unwrap();
    let apple = sample("apple/0_100.jpg");
    let mut inputs = Vec::new();
    let mut add = |rel: &str, bytes: &[u8], expect: Expect| {
        let path = write(&root, rel, bytes);
        inputs.push((path.display().to_string(), expect));
    };
    // Real photos, so that PCA has something to fit.
    for rel in [
        "apple/0_100.jpg",
        "apple/1_100.jpg",
        "lemon/0_100.jpg",
        "lemon/1_100.jpg",
    ] {
        add(
            rel,
            &sample(rel),
            Expect::Row(Some(rel.split('/').next().unwrap())),
        );
    }
    // Unusual but valid.
    add(
        "kinds/one_pixel.jpg",
        &fixture("one_pixel.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/grayscale.jpg",
        &fixture("gray_jpeg.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/cmyk.jpg",
        &fixture("cmyk.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/sixteen_bit.png",
        &fixture("rgb16.png"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/alpha.png",
        &fixture("rgba.png"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/exif_rotated.jpg",
        &fixture("orient6.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/progressive.jpg",
        &fixture("progressive.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/arithmetic_coded.jpg",
        &fixture("arith_progressive.jpg"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/lossy.webp",
        &fixture("photo_lossy.webp"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/exif_rotated.webp",
        &fixture("orient6.webp"),
        Expect::Row(Some("kinds")),
    );
    add(
        "kinds/png_named.jpg",
        &fixture("gray.png"),
        Expect::Row(Some("kinds")),
    );
    add("names/with space.jpg", &apple, Expect::Row(Some("names")));
    add("names/ünïcødé 🍎.jpg", &apple, Expect::Row(Some("names")));
    add("names/hash#1.jpg", &apple, Expect::Row(Some("names")));
    add("names/per%20cent.jpg", &apple, Expect::Row(Some("names")));
    add(
        "Ünïcode label/x.JPG",
        &apple,
        Expect::Row(Some("Ünïcode label")),
    );
    add("at_the_root.jpg", &apple, Expect::Row(None));
    add("dir.jpg/inside.jpg", &apple, Expect::Row(Some("dir.jpg")));
    // Broken.
    add(
        "bad/zero_bytes.jpg",
        b"",
        Expect::Error("decode", "empty input"),
    );
    add(
        "bad/truncated.jpg",
        &apple[..apple.len() / 2],
        Expect::Error("decode", "truncated JPEG"),
    );
    let mut corrupt = apple.clone();
    let sos = corrupt.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    for i in (sos + 20..corrupt.len() - 2).step_by(7) {
        corrupt[i] = 0xFF;
    }
    add("bad/corrupt_entropy.jpg", &corrupt, Expect::Either);
    let mut crc = fixture("gray.png");
    crc[30] ^= 0x01;
    add("bad/bad_crc.png", &crc, Expect::Error("decode", "CRC"));
    add(
        "bad/text.jpg",
        b"hello, this is not a photo\n",
        Expect::Error("decode", "not a JPEG, PNG or WebP"),
    );
    let webp = fixture("photo_lossy.webp");
    add(
        "bad/truncated.webp",
        &webp[..webp.len() / 2],
        Expect::Error("decode", "WebP"),
    );
    add("bad/gif.jpg", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", Expect::Error("decode", "unsupported image format GIF"));
    add(
        "bad/bomb.png",
        &orchard_image::hostile::bomb_png(50_000, 50_000),
        Expect::Error("decode", "above the limit"),
    );
    // Unreadable for a normal user (root reads it anyway: then it is a row).
    add("bad/unreadable.jpg", &apple, Expect::Either);
    let unreadable = root.join("bad/unreadable.jpg");
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    Corpus { root, inputs }
}

#[test]
fn every_broken_input_is_accounted_for_and_the_job_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = build_corpus(tmp.path());
    let root = &corpus.root;
    // Things listing itself trips on: a name with a newline, a dangling
    // link, a symlink loop.
    write(root, "bad/new\nline.jpg", &sample("apple/0_100.jpg"));
    std::os::unix::fs::symlink(root.join("nowhere.jpg"), root.join("bad/dangling.jpg")).unwrap();
    std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();

    let out = tmp.path().join("out");
    let result = orchard(&[
        "extract",
        root.to_str().unwrap(),
        out.to_str().unwrap(),
        "--pca-k",
        "3",
    ]);
    assert_ok(&result);
    let summary = String::from_utf8_lossy(&result.stdout);
    assert!(
        summary.contains("errors (see _errors.parquet)"),
        "{summary}"
    );
    assert!(out.join("_SUCCESS").exists());

    let rows = rows_by_path(&out);
    let mut errors: HashMap<String, (String, String)> = HashMap::new();
    let mut error_rows = 0;
    for batch in read_parquet(&out.join("_errors.parquet")) {
        let path = batch.column(0).as_string::<i32>();
        let stage = batch.column(1).as_string::<i32>();
        let message = batch.column(2).as_string::<i32>();
        for i in 0..batch.num_rows() {
            error_rows += 1;
            assert!(!message.value(i).is_empty());
            errors.insert(
                path.value(i).to_string(),
                (stage.value(i).to_string(), message.value(i).to_string()),
            );
        }
    }
    assert_eq!(
        error_rows,
        errors.len(),
        "an input is in _errors.parquet twice"
    );

    for (path, expect) in &corpus.inputs {
        let in_rows = rows.contains_key(path);
        let in_errors = errors.contains_key(path);
        assert!(
            in_rows ^ in_errors,
            "{path:?}: in rows {in_rows}, in errors {in_errors}; rows {:?}; errors {errors:?}",
            rows.keys().collect::<Vec<_>>()
        );
        match expect {
            Expect::Row(label) => {
                assert!(
                    in_rows,
                    "{path:?} should be a row, got error {:?}",
                    errors.get(path)
                );
                assert_eq!(rows[path].label.as_deref(), *label, "{path:?}");
                assert!(rows[path].pca.iter().all(|v| v.is_finite()));
            }
            Expect::Error(stage, reason) => {
                let (s, m) = errors
                    .get(path)
                    .unwrap_or_else(|| panic!("{path:?} should be an error"));
                assert_eq!(s, stage, "{path:?}: {m}");
                assert!(m.contains(reason), "{path:?}: {m:?} lacks {reason:?}");
            }
            Expect::Either => {}
        }
    }
    // Every row and error is one of the inputs, or a listing problem.
    let known: HashSet<&String> = corpus.inputs.iter().map(|(p, _)| p).collect();
    for path in rows.keys() {
        assert!(known.contains(path), "unexpected row {path:?}");
    }
    let listing_errors: Vec<_> = errors.iter().filter(|(p, _)| !known.contains(p)).collect();
    for (path, (stage, message)) in &listing_errors {
        assert!(
            stage == "list" || stage == "read",
            "unexpected error for {path:?}: {stage} {message}"
        );
    }
    let mentioned = |needle: &str| {
        listing_errors
            .iter()
            .any(|(p, (_, m))| p.contains(needle) || m.contains(needle))
    };
    assert!(
        mentioned("line.jpg"),
        "the newline name is reported: {listing_errors:?}"
    );
    assert!(
        mentioned("dangling"),
        "the dangling link is reported: {listing_errors:?}"
    );
    assert!(
        mentioned("loop"),
        "the symlink loop is reported: {listing_errors:?}"
    );

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["failed"], errors.len() as u64, "{run}");
    assert_eq!(run["counts"]["succeeded"], rows.len() as u64, "{run}");

    // The same input with a failure budget: the run fails, but loses nothing.
    let strict = tmp.path().join("strict");
    let result = orchard(&[
        "extract",
        root.to_str().unwrap(),
        strict.to_str().unwrap(),
        "--pca-k",
        "3",
        "--max-error-rate",
        "0.05",
    ]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("--max-error-rate"), "{err}");
    assert!(!strict.join("_SUCCESS").exists());
    assert!(strict.join("_errors.parquet").exists());
    assert_eq!(rows_by_path(&strict).len(), rows.len());
    // A generous budget passes.
    let lenient = tmp.path().join("lenient");
    assert_ok(&orchard(&[
        "extract",
        root.to_str().unwrap(),
        lenient.to_str().unwrap(),
        "--pca-k",
        "3",
        "--max-error-rate",
        "0.9",
    ]));
    assert!(lenient.join("_SUCCESS").exists());
}
