"""examples/fruits.ipynb runs headless (nbclient) against the loopback S3 server."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, orchard_bin

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_the_notebook_runs(s3, tmp_path, monkeypatch):
    out = tmp_path / "notebook-out"
    for key, value in {
        **s3["env"],
        "ORCHARD_NB_PHOTOS": s3["url"],
        "ORCHARD_NB_ENDPOINT": s3["endpoint"],
        "ORCHARD_NB_OUT": str(out),
        "ORCHARD_BIN": str(orchard_bin()),
        "ORCHARD_NB_PCA_K": "10",
    }.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(ROOT / "examples" / "fruits.ipynb", as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    spark_pca = pd.read_parquet(out / "spark-pca")
    assert len(spark_pca) == 48 and len(spark_pca["pca"].iloc[0]) == 10
    assert (out / "orchard" / "_SUCCESS").is_file()
    assert len(pd.read_parquet(out / "orchard")) == 48
    assert (out / "fruit-model").is_dir()
    # The last answers table was shown.
    shown = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert any("probability" in str(o.get("data", {}).get("text/plain", "")) for o in shown)
