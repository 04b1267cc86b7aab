"""`orchard.Classifier` answers as `orchard identify` does."""

from __future__ import annotations

import pyarrow as pa
import pytest

import orchard
from conftest import jsonl, run_cli


def test_identify_equals_the_cli(bundle, photos):
    folder = photos / "lemon"
    one = sorted((photos / "apple").glob("*.jpg"))[0]
    expected = jsonl(run_cli("identify", str(bundle), str(one), str(folder), "--format", "jsonl"))
    classifier = orchard.Classifier.load(bundle)
    answers = classifier.identify([one, folder])
    assert answers == expected
    assert len(answers) == 1 + 12
    first = answers[0]
    assert set(first) == {"path", "label", "probability", "sure", "unsure_reason", "top", "facts"}
    assert sorted(classifier.labels) == ["apple", "lemon", "mango", "raspberry"]
    # One photo, and the table form.
    assert classifier.identify(one) == expected[:1]
    table = classifier.identify(folder, as_table=True)
    assert isinstance(table, pa.Table) and table.num_rows == 12
    assert table.column("label").to_pylist() == [a["label"] for a in expected[1:]]


def test_identify_reports_unreadable_photos(bundle, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 no")
    expected = jsonl(run_cli("identify", str(bundle), str(bad), "--format", "jsonl"))
    answers = orchard.Classifier.load(bundle).identify(bad)
    assert answers == expected and "error" in answers[0]


def test_a_folder_of_other_formats_says_what_was_left_out(bundle, tmp_path):
    """iPhone photos (HEIC) are not read; the error says so, as the CLI's."""
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    (tmp_path / "IMG_0002.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    with pytest.raises(orchard.UsageError, match=r"left out 2 file\(s\) there \(2 \.heic\)"):
        orchard.Classifier.load(bundle).identify(tmp_path)


def test_a_bundle_refuses_another_model(bundle):
    """The bundle was trained on mobilenet_v2's features (setup installs
    efficientnet_lite2 too)."""
    with pytest.raises(orchard.ModelError, match="efficientnet_lite2|model"):
        orchard.Classifier.load(bundle, model="efficientnet_lite2")


def test_identify_a_photo_on_s3(bundle, photos, s3, monkeypatch):
    """An object URL is one photo (a prefix is listed): the answer is the
    CLI's for the same photo on disk."""
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    local = sorted((photos / "mango").glob("*.jpg"))[3]
    [expected] = jsonl(run_cli("identify", str(bundle), str(local), "--format", "jsonl"))
    url = s3["url"] + "mango/" + local.name
    classifier = orchard.Classifier.load(bundle, endpoint=s3["endpoint"])
    [answer] = classifier.identify(url)
    assert answer == dict(expected, path=url)
    prefix = classifier.identify(s3["url"] + "mango/")
    assert len(prefix) == 12 and prefix[3] == answer
