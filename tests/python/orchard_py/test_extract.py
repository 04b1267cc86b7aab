"""`orchard.extract` against `orchard extract` on the same photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import orchard
from conftest import read_rows


def metadata_files(output: Path) -> list:
    """The output's non-data files (`_`-prefixed), relative; files under
    `_inputs/` are named by a random commit id, so only their kind counts."""
    names = []
    for p in output.rglob("*"):
        relative = p.relative_to(output)
        if p.is_file() and relative.parts[0].startswith("_"):
            names.append(f"_inputs/*{p.suffix}" if relative.parts[0] == "_inputs" else str(relative))
    return sorted(names)


def assert_json_close(ours, theirs, where="model.json"):
    """Equal JSON, numbers to 1e-6 relative (the fit sums in another order)."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            assert_json_close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list) and theirs and isinstance(theirs[0], (int, float)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9, err_msg=where)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_json_close(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-9), where
    else:
        assert ours == theirs, where


def test_extract_writes_the_cli_output(photos: Path, cli_output: Path, tmp_path: Path):
    dst = tmp_path / "out"
    table, errors = orchard.extract(
        photos, dst, pca_k=10, keep_features=True, return_errors=True
    )
    # The same files, Spark's conventions.
    assert metadata_files(dst) == metadata_files(cli_output)
    assert (dst / "_SUCCESS").is_file()
    ours, theirs = read_rows(dst), read_rows(cli_output)
    assert sorted(ours) == sorted(theirs)
    assert len(ours) == table.num_rows == 4 * 12
    for path, row in theirs.items():
        mine = ours[path]
        assert mine["label"] == row["label"] and mine["label_index"] == row["label_index"]
        # Features bit for bit; the PCA fit merges partial statistics in
        # whatever order partitions finish, so projections agree to rounding.
        assert np.array_equal(np.asarray(mine["features"], np.float32), np.asarray(row["features"], np.float32))
        np.testing.assert_allclose(mine["pca"], row["pca"], rtol=0, atol=1e-4)
    assert_json_close(
        json.loads((dst / "_pca" / "model.json").read_text()),
        json.loads((cli_output / "_pca" / "model.json").read_text()),
    )
    # The returned table is the output's rows; .to_pandas() works.
    returned = {r["path"]: r for r in table.to_pylist()}
    assert sorted(returned) == sorted(ours)
    frame = table.to_pandas()
    assert list(frame.columns[:4]) == list(table.column_names[:4])
    assert errors.num_rows == 0 and errors.column_names == ["path", "stage", "message"]
    report = orchard.run_report(table)
    assert report["counts"]["succeeded"] == 48


def test_extract_without_dst_returns_the_same_rows(photos: Path, cli_output: Path):
    table = orchard.extract(photos, pca_k=10)
    theirs = read_rows(cli_output)
    rows = {r["path"]: r for r in table.to_pylist()}
    assert sorted(rows) == sorted(theirs)
    assert "features" not in table.column_names
    for path, row in theirs.items():
        np.testing.assert_allclose(rows[path]["pca"], row["pca"], rtol=0, atol=1e-4)


def test_extract_reports_bad_photos_as_errors(photos: Path, tmp_path: Path):
    src = tmp_path / "src"
    (src / "apple").mkdir(parents=True)
    for p in sorted((photos / "apple").glob("*.jpg"))[:3]:
        (src / "apple" / p.name).write_bytes(p.read_bytes())
    (src / "apple" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    table, errors = orchard.extract(src, pca_k=2, return_errors=True)
    assert table.num_rows == 3
    [error] = errors.to_pylist()
    assert error["path"].endswith("broken.jpg") and error["stage"] == "decode"


def test_extract_errors_are_typed_and_say_what_to_do(photos: Path, tmp_path: Path):
    dst = tmp_path / "taken"
    dst.mkdir()
    (dst / "something.txt").write_text("x")
    with pytest.raises(orchard.UsageError, match="overwrite=True"):
        orchard.extract(photos, dst)
    with pytest.raises(orchard.UsageError, match="pca_variance"):
        orchard.extract(photos, pca_variance=1.5)
    with pytest.raises(orchard.ModelError, match="no_such_model"):
        orchard.extract(photos, model="no_such_model")
    assert issubclass(orchard.UsageError, orchard.OrchardError)
