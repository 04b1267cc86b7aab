"""The package as installed by `pip install ./python` in a clean venv."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orchard
from conftest import ROOT


def test_installed_from_the_wheel_not_the_source_tree():
    installed = Path(orchard.__file__).resolve()
    assert (ROOT / "python") not in installed.parents, installed
    assert "site-packages" in installed.parts
    core = Path(orchard._core.__file__)
    assert core.parent == installed.parent and core.name.endswith(".so")
    # The stable ABI: one wheel for every CPython from 3.9 on.
    assert ".abi3." in core.name, core.name
    for stub in ("_core.pyi", "py.typed"):
        assert (installed.parent / stub).is_file(), stub


def test_nothing_starts_at_import():
    """Importing orchard starts no thread (fork safety): the process has the
    threads pyarrow's import starts (its allocator's), and no more."""

    def threads(imports):
        code = f"import os, {imports}; print(len(os.listdir('/proc/self/task')))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return int(done.stdout)

    assert threads("pyarrow, orchard, orchard.spark") == threads("pyarrow")


def test_onnxruntime_from_the_wheel_when_orchard_home_has_none(tmp_path, photos, cli_features):
    """With an empty $ORCHARD_HOME and no ORT_DYLIB_PATH, the library of the
    installed `onnxruntime` package is used, and the features are the CLI's."""
    home = Path(os.environ.get("ORCHARD_HOME", Path.home() / ".cache" / "orchard"))
    model = home / "models" / "mobilenet_v2.onnx"
    photo = sorted(photos.glob("*/*.jpg"))[0]
    script = textwrap.dedent(
        f"""
        import pyarrow as pa, orchard
        f = orchard.Featurizer({str(model)!r}, threads=1)
        out = f.featurize(pa.table({{"path": [{str(photo)!r}]}}))
        print(orchard.onnxruntime_library())
        print(out.column("error")[0].as_py())
        print(repr(out.column("features")[0].as_py()[:4]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DYLIB_PATH"}
    env["ORCHARD_HOME"] = str(tmp_path / "empty-home")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    library, error, head = done.stdout.splitlines()
    import onnxruntime  # noqa: F401 (only to find where its wheel is)

    wheel = Path(onnxruntime.__file__).parent / "capi"
    assert Path(library).parent == wheel, library
    assert error == "None"
    assert head == repr(cli_features[str(photo)][:4])


def test_unknown_storage_option_is_a_type_error():
    import pytest

    with pytest.raises(TypeError, match="endpiont"):
        orchard.Featurizer(endpiont="http://127.0.0.1:9")
