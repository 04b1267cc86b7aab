//! Kept uploads end to end, with real processes and real files: consent,
//! metadata stripping, feedback, access and erasure over HTTP (to a folder and
//! to a loopback S3 server); export → train → identify; erasure reaching an
//! extraction output and an exported folder; expiry with a fake clock; the
//! phone page's consent and feedback in headless Chromium; and Schemathesis
//! against `/openapi.json`.

use std::process::Command;

use crate::common::serve::{small_model, Server};
use crate::common::uploads::*;
use crate::common::*;

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
    let lemon = photo_with_gps(tmp.path(), "lemon/0_100.jpg", "jpg");
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
    let apple = photo_with_gps(tmp.path(), "apple/0_100.jpg", "jpg");
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

#[test]
fn expire_erases_what_is_older_than_the_retention_by_a_fake_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let keep = ["--keep-uploads", kept.to_str().unwrap()];
    let apple = std::fs::read(sample_dir().join("apple/0_100.jpg")).unwrap();
    let old: Vec<String> = {
        let server = serve_uploads(&keep, &[("ORCHARD_NOW", "2025-01-01T00:00:00Z")]);
        (0..2)
            .map(|_| receipt_of(&server.identify_form(&apple, true)))
            .collect()
    };
    let recent = {
        let server = serve_uploads(&keep, &[("ORCHARD_NOW", "2025-02-20T00:00:00Z")]);
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
