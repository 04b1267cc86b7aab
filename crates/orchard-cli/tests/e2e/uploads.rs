//! Kept uploads end to end, with real processes and real files: consent,
//! metadata stripping, feedback, access and erasure over HTTP (to a folder and
//! to a loopback S3 server); export → train → identify; erasure reaching an
//! extraction output and an exported folder; expiry with a fake clock; the
//! phone page's consent and feedback in headless Chromium; and Schemathesis
//! against `/openapi.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::serve::{small_model, Reply, Server};
use crate::common::*;

/// `orchard serve` with the small model, `extra` arguments and `env`.
fn serve(extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
    cmd.envs(env.iter().copied());
    Server::spawn(cmd, small_model(), extra)
}

impl Server {
    /// Identifies `photo` as a phone's form sends it, with or without consent.
    fn identify_form(&self, photo: &[u8], consent: bool) -> serde_json::Value {
        let (ct, body) = multipart(photo, consent);
        let reply = self.post("/v1/identify", &ct, &body);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    fn feedback(&self, receipt: &str, label: &str) -> Reply {
        let body = serde_json::json!({ "receipt": receipt, "label": label }).to_string();
        self.post("/v1/feedback", "application/json", body.as_bytes())
    }
}

fn multipart(photo: &[u8], consent: bool) -> (String, Vec<u8>) {
    let boundary = "orchard-upload-boundary";
    let mut body = Vec::new();
    if consent {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\ntraining\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"IMG_0042.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A sample photo re-saved with EXIF: GPS, make, model, artist.
fn photo_with_gps(dir: &Path, sample: &str) -> Vec<u8> {
    let out = dir.join(format!("gps-{}", sample.replace('/', "-")));
    run_python_script(
        "exif_fixture.py",
        &[
            "add",
            sample_dir().join(sample).to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        &[],
    );
    std::fs::read(out).unwrap()
}

fn exif_of(file: &Path) -> serde_json::Value {
    let out = run_python_script("exif_fixture.py", &["inspect", file.to_str().unwrap()], &[]);
    serde_json::from_str(out.trim()).unwrap()
}

/// Whether `bytes` hold a JPEG or PNG signature anywhere.
fn holds_image_bytes(bytes: &[u8]) -> bool {
    contains(bytes, &[0xFF, 0xD8, 0xFF]) || contains(bytes, b"\x89PNG")
}

fn receipt_of(answer: &serde_json::Value) -> String {
    answer["receipt"]
        .as_str()
        .unwrap_or_else(|| panic!("no receipt in {answer}"))
        .to_string()
}

#[test]
fn consent_keeps_a_stripped_photo_and_the_person_can_correct_see_and_erase_it() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
    cmd.current_dir(&work);
    let server = Server::spawn(
        cmd,
        small_model(),
        &["--keep-uploads", kept.to_str().unwrap()],
    );
    let lemon = photo_with_gps(tmp.path(), "lemon/0_100.jpg");
    assert!(contains(&lemon, b"OrchardTestPhone"));

    // Without consent: answered, and nothing reaches disk.
    let raw = server.post("/v1/identify", "image/jpeg", &lemon);
    assert_eq!(raw.status, 200, "{raw:?}");
    assert!(raw.json().get("receipt").is_none(), "{:?}", raw.json());
    let form = server.identify_form(&lemon, false);
    assert!(
        form.get("receipt").is_none() && form.get("kept").is_none(),
        "{form}"
    );
    for dir in [&kept, &work] {
        let files = files_under(dir);
        assert!(files.is_empty(), "no consent, yet {files:?}");
    }
    // A purpose nobody asked for is refused, and nothing is kept.
    let other = server.post("/v1/identify?consent=marketing", "image/jpeg", &lemon);
    assert_eq!(other.status, 422, "{other:?}");
    assert!(files_under(&kept).is_empty());

    // With consent (query parameter, and form field): kept, with a receipt.
    let by_query = server.request(
        "POST",
        "/v1/identify?consent=training",
        &[
            ("Content-Type", "image/jpeg"),
            ("User-Agent", "SecretAgent/7.1 (Alice's phone)"),
            ("X-Forwarded-For", "203.0.113.77"),
        ],
        &lemon,
    );
    assert_eq!(by_query.status, 200, "{by_query:?}");
    let answer = by_query.json();
    assert_eq!(answer["kept"], true, "{answer}");
    let receipt = receipt_of(&answer);
    assert!(
        receipt.starts_with("up_") && receipt.len() == 35,
        "{receipt}"
    );
    let by_form = server.identify_form(&lemon, true);
    let second = receipt_of(&by_form);
    assert_ne!(receipt, second);

    // The stored record: the photo without EXIF, the answer, the time, the
    // model's sha256, and nothing about the person.
    let folder = kept.join(&receipt);
    let photo = folder.join("photo.jpg");
    let stored = std::fs::read(&photo).unwrap();
    let exif = exif_of(&photo);
    assert_eq!(exif["gps"], false, "{exif}");
    assert_eq!(exif["exif_tags"], serde_json::json!([]), "{exif}");
    assert_eq!(exif["size"], serde_json::json!([100, 100]));
    for secret in [&b"OrchardTestPhone"[..], b"Alice", b"Model-Secret-42"] {
        assert!(!contains(&stored, secret));
    }
    let record_bytes = std::fs::read(folder.join("record.json")).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record_bytes).unwrap();
    assert_eq!(record["receipt"], receipt.as_str());
    assert_eq!(record["answer"]["label"], answer["label"]);
    assert_eq!(record["consent"], "training");
    assert_eq!(record["model"]["sha256"], answer["model"]["sha256"]);
    assert_eq!(record["model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(record["received"].as_str().unwrap().ends_with('Z'));
    for secret in [
        &b"127.0.0.1"[..],
        b"203.0.113.77",
        b"SecretAgent",
        b"IMG_0042",
    ] {
        assert!(!contains(&record_bytes, secret), "{record}");
    }
    let mut names: Vec<String> = files_under(&kept)
        .iter()
        .map(|p| p.strip_prefix(&kept).unwrap().display().to_string())
        .collect();
    names.sort();
    let mut expected = vec![
        format!("{receipt}/photo.jpg"),
        format!("{receipt}/record.json"),
        format!("{second}/photo.jpg"),
        format!("{second}/record.json"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert!(files_under(&work).is_empty());

    // Feedback: unknown receipts, unknown labels and bad bodies refused.
    let unknown = "up_00000000000000000000000000000000";
    assert_eq!(server.feedback(unknown, "lemon").status, 404);
    let wrong = server.feedback(&receipt, "durian");
    assert_eq!(wrong.status, 422, "{wrong:?}");
    assert!(wrong.json()["error"].as_str().unwrap().contains("lemon"));
    assert_eq!(
        server.post("/v1/feedback", "application/json", b"{").status,
        400
    );
    let ok = server.feedback(&receipt, "mango");
    assert_eq!(ok.status, 200, "{ok:?}");
    let corrected = ok.json();
    assert_eq!(corrected["feedback"]["label"], "mango");
    assert_eq!(
        corrected["feedback"]["confirmed"],
        answer["label"] == "mango"
    );

    // Access: the record with the feedback, and the photo as kept.
    let access = server.request("GET", &format!("/v1/uploads/{receipt}"), &[], b"");
    assert_eq!(access.status, 200, "{access:?}");
    assert_eq!(access.json()["feedback"]["label"], "mango");
    let got = server.request("GET", &format!("/v1/uploads/{receipt}/photo"), &[], b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.body, stored);
    assert_eq!(
        server
            .request("GET", &format!("/v1/uploads/{unknown}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        server
            .request("GET", "/v1/uploads/not-a-receipt", &[], b"")
            .status,
        404
    );

    // Erasure: 204, the bytes gone, and 204 again.
    let erase = server.request("DELETE", &format!("/v1/uploads/{receipt}"), &[], b"");
    assert_eq!(erase.status, 204, "{erase:?}");
    assert!(!folder.exists());
    assert_eq!(
        server
            .request("DELETE", &format!("/v1/uploads/{receipt}"), &[], b"")
            .status,
        204
    );
    assert_eq!(
        server
            .request("GET", &format!("/v1/uploads/{receipt}"), &[], b"")
            .status,
        404
    );
    assert_eq!(server.feedback(&receipt, "lemon").status, 404);
    for file in files_under(&kept)
        .iter()
        .filter(|f| !f.starts_with(kept.join(&second)))
    {
        assert!(
            !contains(&std::fs::read(file).unwrap(), &stored[..64]),
            "{} still holds the photo",
            file.display()
        );
    }
    // The audit log: one line for the erasure, without the photo or label.
    let audit = std::fs::read_to_string(kept.join("_audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 1, "{audit}");
    let event: serde_json::Value = serde_json::from_str(audit.trim()).unwrap();
    assert_eq!(event["action"], "erase");
    assert_eq!(event["receipt"], receipt.as_str());
    assert!(!audit.contains("mango") && !holds_image_bytes(audit.as_bytes()));
    // The other upload is still there.
    assert!(kept.join(&second).join("photo.jpg").exists());
}

#[test]
fn keeps_uploads_in_s3_within_the_allowed_regions() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(false);
    s3.fixture(&["create-bucket", "kept-eu", "eu-west-3"]);
    s3.fixture(&["create-bucket", "kept-us", "us-east-2"]);

    // A bucket outside the allowed regions: the service does not start.
    let refused = s3.orchard(&[
        "serve",
        "--classifier",
        small_model().to_str().unwrap(),
        "--bind",
        "127.0.0.1:0",
        "--keep-uploads",
        "s3://kept-us/uploads/",
        "--allowed-regions",
        "eu-*",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("us-east-2"), "{err}");

    let server = Server::spawn(
        s3.orchard_command(&[]),
        small_model(),
        &[
            "--keep-uploads",
            "s3://kept-eu/uploads/",
            "--allowed-regions",
            "eu-*",
        ],
    );
    let apple = photo_with_gps(tmp.path(), "apple/0_100.jpg");
    let plain = server.identify_form(&apple, false);
    assert!(plain.get("receipt").is_none());
    assert!(s3.keys("kept-eu", "").is_empty(), "nothing without consent");

    let answer = server.identify_form(&apple, true);
    let receipt = receipt_of(&answer);
    let mut keys = s3.keys("kept-eu", "uploads/");
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("uploads/{receipt}/photo.jpg"),
            format!("uploads/{receipt}/record.json")
        ]
    );
    let down = tmp.path().join("down");
    s3.fixture(&["download", "kept-eu", "uploads", down.to_str().unwrap()]);
    let photo = down.join(&receipt).join("photo.jpg");
    assert_eq!(exif_of(&photo)["gps"], false);
    assert!(!contains(
        &std::fs::read(&photo).unwrap(),
        b"OrchardTestPhone"
    ));

    assert_eq!(server.feedback(&receipt, "apple").status, 200);
    let access = server.request("GET", &format!("/v1/uploads/{receipt}"), &[], b"");
    assert_eq!(
        access.json()["feedback"]["confirmed"],
        answer["label"] == "apple"
    );
    for _ in 0..2 {
        let erase = server.request("DELETE", &format!("/v1/uploads/{receipt}"), &[], b"");
        assert_eq!(erase.status, 204, "{erase:?}");
    }
    let left = s3.keys("kept-eu", "uploads/");
    assert!(
        left.iter().all(|k| k.starts_with("uploads/_audit/")),
        "the bytes are gone from the store: {left:?}"
    );
    assert_eq!(left.len(), 1, "one audited erasure: {left:?}");
}

/// Sends each photo with consent and feedback (its true label); returns
/// receipt → (label, path of the sample photo).
fn give(server: &Server, photos: &[&str]) -> HashMap<String, String> {
    let mut given = HashMap::new();
    for rel in photos {
        let bytes = std::fs::read(sample_dir().join(rel)).unwrap();
        let receipt = receipt_of(&server.identify_form(&bytes, true));
        let label = rel.split('/').next().unwrap();
        let reply = server.feedback(&receipt, label);
        assert_eq!(reply.status, 200, "{reply:?}");
        given.insert(receipt, label.to_string());
    }
    given
}

#[test]
fn export_train_identify_then_forget_reaches_outputs_exports_and_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve(&["--keep-uploads", kept.to_str().unwrap()], &[]);
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

#[test]
fn expire_erases_what_is_older_than_the_retention_by_a_fake_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let keep = ["--keep-uploads", kept.to_str().unwrap()];
    let apple = std::fs::read(sample_dir().join("apple/0_100.jpg")).unwrap();
    let old: Vec<String> = {
        let server = serve(&keep, &[("ORCHARD_NOW", "2025-01-01T00:00:00Z")]);
        (0..2)
            .map(|_| receipt_of(&server.identify_form(&apple, true)))
            .collect()
    };
    let recent = {
        let server = serve(&keep, &[("ORCHARD_NOW", "2025-02-20T00:00:00Z")]);
        let r = receipt_of(&server.identify_form(&apple, true));
        for receipt in old.iter().chain([&r]) {
            assert_eq!(server.feedback(receipt, "apple").status, 200);
        }
        r
    };
    let export = tmp.path().join("export");
    assert_ok(&orchard(&[
        "uploads",
        "export",
        kept.to_str().unwrap(),
        export.to_str().unwrap(),
    ]));
    let at = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args)
            .env("ORCHARD_NOW", "2025-03-01T00:00:00Z")
            .env("ORCHARD_HOME", tmp.path().join("home"))
            .env_remove("ORCHARD_CONFIG")
            .output()
            .unwrap()
    };

    // No age and no configured retention: told what to do.
    let missing = at(&["uploads", "expire", kept.to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--older-than"));

    // A dry run lists the two old ones and erases nothing.
    let dry = at(&[
        "uploads",
        "expire",
        kept.to_str().unwrap(),
        "--older-than",
        "30d",
        "--dry-run",
    ]);
    assert_ok(&dry);
    let listed = String::from_utf8_lossy(&dry.stdout);
    assert!(old.iter().all(|r| listed.contains(r.as_str())), "{listed}");
    assert!(!listed.contains(&recent), "{listed}");
    assert!(kept.join(&old[0]).exists());

    // The retention from the config file.
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[uploads]\nretention = \"30d\"\n").unwrap();
    let expired = at(&[
        "uploads",
        "expire",
        kept.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--outputs",
        export.to_str().unwrap(),
    ]);
    assert_ok(&expired);
    for r in &old {
        assert!(!kept.join(r).exists(), "{r} kept");
        assert!(!export.join("apple").join(format!("{r}.jpg")).exists());
    }
    assert!(kept.join(&recent).join("photo.jpg").exists());
    assert!(export.join("apple").join(format!("{recent}.jpg")).exists());
    let audit = std::fs::read_to_string(kept.join("_audit.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{audit}");
    assert!(events
        .iter()
        .all(|e| e["action"] == "expire" && e["at"] == "2025-03-01T00:00:00Z"));
    assert!(!holds_image_bytes(audit.as_bytes()));
}

/// The phone page in headless Chromium: the consent box is shown unticked
/// with its sentence; ticked, the photo is kept, and "No, it is …" records
/// the correction on the server.
#[test]
fn the_phone_page_asks_consent_and_takes_feedback_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("phone-page-feedback.png");
    let url = format!("http://{}/", server.addr);
    let photo = sample_dir().join("lemon/0_100.jpg");
    let out = run_python_script(
        "browser_feedback.py",
        &[
            url.as_str(),
            photo.to_str().unwrap(),
            "mango",
            screenshot.to_str().unwrap(),
        ],
        &[],
    );
    let page: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(page["initially_ticked"], false, "{page}");
    assert!(
        page["consent_sentence"]
            .as_str()
            .unwrap()
            .contains("receipt"),
        "{page}"
    );
    assert!(
        page["answer"].as_str().unwrap().starts_with("lemon"),
        "{page}"
    );
    assert!(page["asked"].as_str().unwrap().contains("Right?"), "{page}");
    assert!(page["thanks"].as_str().unwrap().contains("mango"), "{page}");
    let receipt = page["receipt"].as_str().unwrap();
    let record = server
        .request("GET", &format!("/v1/uploads/{receipt}"), &[], b"")
        .json();
    assert_eq!(record["feedback"]["label"], "mango", "{record}");
    assert_eq!(record["feedback"]["confirmed"], false, "{record}");
    assert!(std::fs::read(&screenshot).unwrap().starts_with(b"\x89PNG"));
}

/// Schemathesis (from PyPI, in the project's .venv) against `/openapi.json`
/// of a real server that keeps uploads: no 5xx, no response outside the
/// description (status, content type, headers, schema).
#[test]
fn schemathesis_finds_no_server_error_or_schema_violation() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let server = serve(&["--keep-uploads", kept.to_str().unwrap()], &[]);
    let schemathesis = python().parent().unwrap().join("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run scripts/setup.sh",
        schemathesis.display()
    );
    let report = tmp.path().join("report.xml");
    let out = Command::new(&schemathesis)
        .args([
            "run",
            &format!("http://{}/openapi.json", server.addr),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "24",
            "--workers",
            "2",
            "--report",
            "junit",
            "--report-junit-path",
            report.to_str().unwrap(),
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache and reports stay out of the repository.
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis failed:\n{text}");
    // Every operation was exercised (Schemathesis leaves out the
    // description's own route, /openapi.json).
    let junit = std::fs::read_to_string(&report).unwrap();
    for op in [
        "POST /v1/identify",
        "GET /v1/model",
        "POST /v1/feedback",
        "GET /v1/uploads/{receipt}",
        "GET /v1/uploads/{receipt}/photo",
        "DELETE /v1/uploads/{receipt}",
        "GET /",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ] {
        assert!(
            junit.contains(&format!("testcase name=\"{op}\"")),
            "{op} not tested:\n{text}"
        );
    }
    // And the description itself is served.
    let doc = server.request("GET", "/openapi.json", &[], b"").json();
    assert_eq!(doc["openapi"], "3.1.0");
}
