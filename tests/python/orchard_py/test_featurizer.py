"""`orchard.Featurizer` on bytes and on paths (local and a loopback S3
server) against the CLI's features; bad photos; fork safety; Ctrl-C."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import orchard


def paths_of(photos: Path) -> list:
    return [str(p) for p in sorted(photos.glob("*/*.jpg"))]


def assert_features_equal(out, paths, cli_features):
    assert out.column("error").null_count == len(paths), out.column("error").to_pylist()
    for path, features in zip(paths, out.column("features").to_pylist()):
        expected = np.asarray(cli_features[os.path.abspath(path)], np.float32)
        assert np.array_equal(np.asarray(features, np.float32), expected), path


@pytest.fixture(scope="module")
def featurizer():
    return orchard.Featurizer(threads=2)


def test_content_column_gives_the_cli_features(featurizer, photos, cli_features):
    paths = paths_of(photos)
    batch = pa.RecordBatch.from_pydict(
        {"path": paths, "content": [Path(p).read_bytes() for p in paths]}
    )
    out = featurizer.featurize(batch)
    assert isinstance(out, pa.RecordBatch)
    assert out.schema.names == ["path", "content", "features", "error"]
    assert out.schema.field("features").type == pa.list_(pa.float32())
    assert out.column("path").to_pylist() == paths
    assert_features_equal(out, paths, cli_features)
    assert featurizer.feature_width == 1280 and featurizer.model == "mobilenet_v2"


def test_path_column_local_gives_the_cli_features(featurizer, photos, cli_features):
    paths = paths_of(photos)
    table = pa.table({"path": paths})  # a table (a stream) gives a table
    out = featurizer.featurize(table)
    assert isinstance(out, pa.Table)
    assert_features_equal(out, paths, cli_features)


def test_path_column_on_s3_gives_the_cli_features(s3, photos, cli_features, monkeypatch):
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    featurizer = orchard.Featurizer(threads=2, endpoint=s3["endpoint"])
    local = paths_of(photos)
    urls = [s3["url"] + str(Path(p).relative_to(photos)) for p in local]
    out = featurizer.featurize(pa.table({"photo": urls}), path_col="photo")
    assert out.column("error").null_count == len(urls), out.column("error").to_pylist()[:3]
    for path, features in zip(local, out.column("features").to_pylist()):
        assert np.array_equal(np.asarray(features, np.float32), np.asarray(cli_features[path], np.float32))
    missing = featurizer.featurize(pa.table({"path": [s3["url"] + "apple/none.jpg"]}))
    assert missing.column("features")[0].as_py() is None
    assert missing.column("error")[0].as_py().startswith("read: ")


def test_bad_photos_give_an_error_not_an_exception(featurizer, photos, cli_features):
    good = paths_of(photos)[0]
    jpeg = Path(good).read_bytes()
    contents = [
        jpeg,
        b"not a photo at all",
        jpeg[: len(jpeg) // 3],  # truncated
        None,
        b"",
        jpeg,
    ]
    out = featurizer.featurize(pa.table({"content": pa.array(contents, pa.binary())}))
    errors = out.column("error").to_pylist()
    features = out.column("features").to_pylist()
    assert errors[0] is None and errors[5] is None
    expected = np.asarray(cli_features[good], np.float32)
    assert np.array_equal(np.asarray(features[0], np.float32), expected)
    assert np.array_equal(np.asarray(features[5], np.float32), expected)
    for i in (1, 2, 3, 4):
        assert features[i] is None, i
        assert errors[i], i
    assert errors[1].startswith("decode: ")
    paths = pa.table({"path": [good, "/nonexistent/photo.jpg", None]})
    out = featurizer.featurize(paths)
    assert out.column("error").to_pylist()[0] is None
    assert out.column("error")[1].as_py().startswith("read: cannot read /nonexistent/photo.jpg")
    assert out.column("error")[2].as_py() is not None


def test_wrong_columns_are_usage_errors(featurizer):
    with pytest.raises(orchard.UsageError, match="binary `content` column or a string `path`"):
        featurizer.featurize(pa.table({"x": [1]}))
    with pytest.raises(orchard.UsageError, match="must be binary"):
        featurizer.featurize(pa.table({"content": ["a string"]}))


def _child(featurizer, content, queue):
    out = featurizer.featurize(pa.table({"content": pa.array([content], pa.binary())}))
    queue.put((os.getpid(), out.column("error")[0].as_py(), out.column("features")[0].as_py()))


def test_a_featurizer_used_before_a_fork_works_in_the_child(photos, cli_features):
    featurizer = orchard.Featurizer(threads=2)
    good = paths_of(photos)[1]
    content = Path(good).read_bytes()
    before = featurizer.featurize(pa.table({"content": pa.array([content], pa.binary())}))
    assert before.column("error")[0].as_py() is None  # the parent's model and threads exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(featurizer, content, queue))
    child.start()
    pid, error, features = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0 and pid != os.getpid()
    assert error is None
    assert np.array_equal(np.asarray(features, np.float32), np.asarray(cli_features[good], np.float32))
    # And the parent still works after its child did.
    after = featurizer.featurize(pa.table({"content": pa.array([content], pa.binary())}))
    assert after.column("features")[0].as_py() == before.column("features")[0].as_py()


def test_featurizer_pickles_by_its_arguments():
    import pickle

    copy = pickle.loads(pickle.dumps(orchard.Featurizer(threads=1)))
    assert copy.threads == 1 and copy.model == "mobilenet_v2"


def test_ctrl_c_interrupts_a_long_batch(photos):
    """SIGINT during featurize raises KeyboardInterrupt well before the batch ends."""
    photo = paths_of(photos)[0]
    script = textwrap.dedent(
        f"""
        import time, pyarrow as pa, orchard
        f = orchard.Featurizer(threads=1)
        content = open({photo!r}, "rb").read()
        f.featurize(pa.table({{"content": pa.array([content], pa.binary())}}))  # model loaded
        batch = pa.table({{"content": pa.array([content] * 5000, pa.binary())}})
        print("ready", flush=True)
        start = time.time()
        try:
            f.featurize(batch)
            print("finished", flush=True)
        except KeyboardInterrupt:
            print("interrupted %.1f" % (time.time() - start), flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    import time

    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert out.startswith("interrupted"), out
    assert float(out.split()[1]) < 10


def test_the_ray_example_callable_class(photos, cli_features):
    """examples/ray_featurize.py's map_batches class, called as Ray calls it
    (one instance per actor, one pyarrow table per batch), without Ray."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("ray_featurize", ROOT / "examples" / "ray_featurize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    actor = module.OrchardFeatures(threads=1)
    listing = orchard.list_photos(photos)
    assert listing.num_rows == 48 and listing.column_names == ["path", "label", "size"]
    out = actor(listing.slice(0, 10))
    assert_features_equal(out, listing.column("path").to_pylist()[:10], cli_features)
    assert out.column("label").to_pylist() == listing.column("label").to_pylist()[:10]
