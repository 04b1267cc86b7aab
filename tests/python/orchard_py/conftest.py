"""Fixtures of the `orchard` Python package's tests: a small labelled subset
of the Fruits-360 sample, the CLI's output on it (the reference), a loopback
S3 server (moto_server from the project's .venv) holding the same photos,
and a classifier bundle trained by the CLI.

Run with the package installed in a clean venv (scripts/setup.sh makes
.ci-tools/pyvenv with `pip install ./python`):

    .ci-tools/pyvenv/bin/python -m pytest tests/python/orchard_py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "python"
#: Photos per label in the subset (4 labels): enough for PCA and a classifier.
PER_LABEL = 12


def sample_dir() -> Path:
    for candidate in (
        os.environ.get("ORCHARD_SAMPLE"),
        ROOT.parent / "shared" / "data" / "fruits360-sample",
        "/work/shared/data/fruits360-sample",
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise RuntimeError("the Fruits-360 sample (set ORCHARD_SAMPLE or check ../shared/data)")


def orchard_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = target / "release" / "orchard"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run scripts/setup.sh (cargo build --release)")
    return path


def project_python() -> Path:
    """The project's .venv (moto, boto3: the S3 fixture scripts)."""
    return ROOT / ".venv" / "bin" / "python"


def run_cli(*args: str) -> str:
    done = subprocess.run(
        [str(orchard_bin()), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"orchard {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`PER_LABEL` photos of each of the sample's labels, in label folders."""
    root = tmp_path_factory.mktemp("photos")
    sample = sample_dir()
    for label in sorted(p.name for p in sample.iterdir() if p.is_dir()):
        (root / label).mkdir()
        for photo in sorted((sample / label).glob("*.jpg"))[:PER_LABEL]:
            shutil.copy(photo, root / label / photo.name)
    return root


def read_rows(output: Path) -> dict:
    """Rows of an output folder (part files only) by path."""
    parts = sorted(p for p in output.glob("*.parquet"))
    rows = {}
    for part in parts:
        for row in pq.read_table(part).to_pylist():
            rows[row["path"]] = row
    return rows


@pytest.fixture(scope="session")
def cli_output(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`orchard extract photos out --keep-features --pca-k 10`."""
    out = tmp_path_factory.mktemp("cli") / "out"
    run_cli("extract", str(photos), str(out), "--keep-features", "--pca-k", "10")
    return out


@pytest.fixture(scope="session")
def cli_features(cli_output: Path) -> dict:
    """The CLI's features by the photo's absolute path."""
    return {
        os.path.abspath(path): row["features"] for path, row in read_rows(cli_output).items()
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3(photos: Path):
    """A loopback S3 server with the photos under s3://orchard-photos/fruits/."""
    moto = project_python().parent / "moto_server"
    port = free_port()
    server = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIAORCHARDTEST", AWS_SECRET_ACCESS_KEY="orchard-test-secret")
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {port}")
                time.sleep(0.05)
        fixture = [str(project_python()), str(FIXTURES / "s3_fixture.py"), endpoint]
        subprocess.run(fixture + ["create-bucket", "orchard-photos", "us-east-1"], env=env, check=True)
        subprocess.run(fixture + ["upload", "orchard-photos", "fruits", str(photos)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        yield {
            "endpoint": endpoint,
            "url": "s3://orchard-photos/fruits/",
            "env": {
                "AWS_ACCESS_KEY_ID": "AKIAORCHARDTEST",
                "AWS_SECRET_ACCESS_KEY": "orchard-test-secret",
                "AWS_REGION": "us-east-1",
            },
        }
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def bundle(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier trained by `orchard train` on the subset."""
    out = tmp_path_factory.mktemp("bundle") / "fruit-model"
    run_cli("train", str(photos), "--classifier", str(out))
    return out


def jsonl(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


assert sys.version_info >= (3, 9)
