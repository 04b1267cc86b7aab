//! `orchard extract` against a real S3-protocol server (moto_server) on
//! loopback: the same job as on local disk, pagination, credentials, data
//! residency and a server restart mid-run.

use crate::common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn s3_run_equals_the_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 4), ("lemon", 3), ("raspberry", 3)]);
    let server = S3Server::start(false);
    server.fixture(&["create-bucket", "fruits-eu", "eu-west-3"]);
    assert_eq!(
        server
            .fixture(&["upload", "fruits-eu", "Test", photos.to_str().unwrap()])
            .trim(),
        "10"
    );

    // The seed's s3a:// URL for the input, s3:// for the output.
    let remote = server.orchard(&[
        "extract",
        "s3a://fruits-eu/Test/",
        "s3://fruits-eu/Results/",
        "--allowed-regions",
        "eu-*",
        "--keep-features",
        "--pca-k",
        "5",
    ]);
    assert_ok(&remote);
    let local_out = tmp.path().join("local");
    assert_ok(&orchard(&[
        "extract",
        photos.to_str().unwrap(),
        local_out.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "5",
    ]));

    // The report of a remote output is written next to it.
    let report = server.orchard(&[
        "report",
        "s3://fruits-eu/Results/",
        "--allowed-regions",
        "eu-*",
    ]);
    assert_ok(&report);
    assert!(
        String::from_utf8_lossy(&report.stdout).contains("10 listed, 10 rows, 0 errors"),
        "{}",
        String::from_utf8_lossy(&report.stdout)
    );
    let mut keys = server.keys("fruits-eu", "Results/");
    keys.sort();
    assert!(
        keys.contains(&"Results/_report.html".to_string()),
        "{keys:?}"
    );
    keys.retain(|k| k != "Results/_report.html");
    assert_complete_output(&keys, "Results/");

    let downloaded = tmp.path().join("downloaded");
    server.fixture(&[
        "download",
        "fruits-eu",
        "Results",
        downloaded.to_str().unwrap(),
    ]);
    let s3_rows = rows_by_relative(&downloaded, "/Test/");
    let local_rows = rows_by_relative(&local_out, "/photos/");
    assert_eq!(s3_rows.len(), 10);
    assert_eq!(
        s3_rows.keys().collect::<std::collections::BTreeSet<_>>(),
        local_rows.keys().collect::<std::collections::BTreeSet<_>>()
    );
    for (path, s3) in &s3_rows {
        let local = &local_rows[path];
        assert_eq!(s3.label, local.label, "{path}");
        assert_eq!(s3.label_index, local.label_index, "{path}");
        assert_eq!(s3.features, local.features, "features of {path} differ");
        assert_eq!(s3.pca.len(), 5);
        for (a, b) in s3.pca.iter().zip(&local.pca) {
            assert!((a - b).abs() < 1e-4, "pca of {path}: {a} vs {b}");
        }
    }

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(downloaded.join("_run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["listed"], 10);
    assert_eq!(run["input"], "s3a://fruits-eu/Test/");
    for entry in files_under(&downloaded) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !contains(&bytes, TEST_SECRET.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
    assert!(!contains(&remote.stdout, TEST_SECRET.as_bytes()));
    assert!(!contains(&remote.stderr, TEST_SECRET.as_bytes()));
}

#[test]
fn listing_pages_beyond_1000_keys_and_filters_while_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3)]);
    let server = S3Server::start(false);
    server.fixture(&["create-bucket", "many", "us-east-1"]);
    // 1,005 non-photos sort before the photos: only a listing that follows
    // every page finds the apples.
    server.fixture(&["fill", "many", "in/aaa", "1005"]);
    server.fixture(&["upload", "many", "in", photos.to_str().unwrap()]);
    let out = tmp.path().join("out");
    let result = server.orchard(&[
        "extract",
        "s3://many/in/",
        out.to_str().unwrap(),
        "--pca-k",
        "2",
    ]);
    assert_ok(&result);
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["listed"], 3, "{run}");
    assert_eq!(run["counts"]["skipped"], 1005, "{run}");
    let rows = rows_by_path(&out);
    assert!(
        rows.keys().all(|p| p.starts_with("s3://many/in/apple/")),
        "{rows:?}"
    );
}

#[test]
fn wrong_credentials_fail_clearly_and_the_secret_is_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(true);
    let secret = "wJalrXUtnFEMI-orchard-must-never-print-this";
    let out = tmp.path().join("out");
    let result = server
        .orchard_command(&["extract", "s3://photos/Test/", out.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "AKIAWRONGKEY0000")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(err.contains("access denied"), "{err}");
    assert!(err.contains("`photos`"), "names the bucket: {err}");
    assert!(err.contains("s3:ListBucket"), "names the permission: {err}");
    assert!(!contains(&result.stdout, secret.as_bytes()));
    assert!(!contains(&result.stderr, secret.as_bytes()));
    for entry in files_under(tmp.path()) {
        assert!(!contains(
            &std::fs::read(&entry).unwrap(),
            secret.as_bytes()
        ));
    }
    assert!(!out.join("_SUCCESS").exists());
}

#[test]
fn buckets_outside_the_allowed_regions_are_refused_before_any_io() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 2), ("lemon", 2)]);
    let server = S3Server::start(false);
    server.fixture(&["create-bucket", "fruits-us", "us-east-2"]);
    server.fixture(&["create-bucket", "fruits-eu", "eu-west-3"]);
    server.fixture(&["upload", "fruits-us", "Test", photos.to_str().unwrap()]);
    server.fixture(&["upload", "fruits-eu", "Test", photos.to_str().unwrap()]);

    // A US input, refused by the command-line allow-list.
    let result = server.orchard(&[
        "extract",
        "s3://fruits-us/Test/",
        "s3://fruits-eu/Results/",
        "--allowed-regions",
        "eu-*",
    ]);
    assert!(!result.status.success());
    let err = stderr(&result);
    assert!(err.contains("us-east-2") && err.contains("eu-*"), "{err}");
    assert!(server.keys("fruits-eu", "Results/").is_empty());

    // A US output, refused by the config file's allow-list.
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[storage]\nallowed_regions = [\"eu-*\"]\n").unwrap();
    let result = server.orchard(&[
        "extract",
        "s3://fruits-eu/Test/",
        "s3://fruits-us/Results/",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    assert!(stderr(&result).contains("us-east-2"), "{}", stderr(&result));
    assert!(server.keys("fruits-us", "Results/").is_empty());

    // Both in the EU: accepted.
    let result = server.orchard(&[
        "extract",
        "s3://fruits-eu/Test/",
        "s3://fruits-eu/Results/",
        "--config",
        config.to_str().unwrap(),
        "--pca-k",
        "2",
    ]);
    assert_ok(&result);
    assert!(server
        .keys("fruits-eu", "Results/")
        .contains(&"Results/_SUCCESS".to_string()));
}

#[test]
fn a_server_restart_mid_run_completes_or_fails_without_success_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 150), ("lemon", 150), ("raspberry", 100)],
    );
    let mut server = S3Server::start(false);
    let setup = |server: &S3Server| {
        server.fixture(&["create-bucket", "fruits-eu", "eu-west-3"]);
        server.fixture(&["upload", "fruits-eu", "Test", photos.to_str().unwrap()]);
    };
    setup(&server);
    let mut child = server.orchard_command(&[
        "extract",
        "s3://fruits-eu/Test/",
        "s3://fruits-eu/Results/",
        "--pca-k",
        "4",
        "--max-retries",
        "6",
    ]);
    child.stderr(std::process::Stdio::piped());
    let mut run = EventRun::start(child);
    // The photos are listed and the job planned: the server goes down while
    // the photos are read.
    assert!(run.wait_for_event("planned").is_some());
    let child = run.child;
    // Down, then back with the photos restored (moto forgets everything).
    server.restart();
    setup(&server);
    let result = child.wait_with_output().unwrap();
    let keys = server.keys("fruits-eu", "Results/");
    if result.status.success() {
        // Carried through: every photo is a row, or (read while the server
        // had lost them) a read error; none twice, none missing.
        assert!(keys.contains(&"Results/_SUCCESS".to_string()), "{keys:?}");
        let downloaded = tmp.path().join("downloaded");
        server.fixture(&[
            "download",
            "fruits-eu",
            "Results",
            downloaded.to_str().unwrap(),
        ]);
        let rows = rows_by_path(&downloaded);
        let mut seen: std::collections::HashSet<String> = rows.keys().cloned().collect();
        for batch in read_parquet(&downloaded.join("_errors.parquet")) {
            use datafusion::arrow::array::AsArray;
            let path = batch.column(0).as_string::<i32>();
            let stage = batch.column(1).as_string::<i32>();
            for i in 0..batch.num_rows() {
                assert_eq!(stage.value(i), "read");
                assert!(
                    seen.insert(path.value(i).to_string()),
                    "{} twice",
                    path.value(i)
                );
            }
        }
        assert_eq!(seen.len(), 400);
    } else {
        assert!(
            !keys.contains(&"Results/_SUCCESS".to_string()),
            "a failed run left _SUCCESS: {keys:?}"
        );
        let err = stderr(&result);
        assert!(err.contains("Error") || err.contains("error"), "{err}");
        assert!(
            err.contains("fruits-eu"),
            "the error names the store: {err}"
        );
    }
}

#[test]
fn trains_and_identifies_from_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 12), ("lemon", 12), ("raspberry", 12)],
    );
    let server = S3Server::start(false);
    server.fixture(&["create-bucket", "fruits-eu", "eu-west-3"]);
    server.fixture(&["upload", "fruits-eu", "Train", photos.to_str().unwrap()]);
    // One input is photos on S3, the other an extraction output on S3.
    assert_ok(&server.orchard(&[
        "extract",
        "s3://fruits-eu/Train/",
        "s3://fruits-eu/Features/",
        "--keep-features",
        "--pca-k",
        "5",
    ]));
    let model = tmp.path().join("fruit-model");
    let trained = server.orchard(&[
        "train",
        "s3://fruits-eu/Train/",
        "s3://fruits-eu/Features/",
        "--classifier",
        model.to_str().unwrap(),
        "--holdout",
        "0.25",
    ]);
    assert_ok(&trained);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("classifier.json")).unwrap()).unwrap();
    // 36 photos read as photos (studio shots) and 36 rows read from the output.
    let per_label = &meta["training"]["photos_per_label"];
    assert_eq!(per_label["apple"], 24, "{per_label}");
    assert_eq!(meta["training"]["studio_photos"], 36);
    let identified = server.orchard(&[
        "identify",
        model.to_str().unwrap(),
        "s3://fruits-eu/Train/lemon/",
        "--format",
        "jsonl",
    ]);
    assert_ok(&identified);
    let text = String::from_utf8_lossy(&identified.stdout);
    assert_eq!(text.lines().count(), 12);
    assert!(
        text.lines().all(|l| l.contains("\"label\":\"lemon\"")),
        "{text}"
    );
}
