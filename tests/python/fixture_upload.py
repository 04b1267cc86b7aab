"""Uploading fixture trees to the storage emulators, once for the S3, GCS
and Azure fixture scripts: every file under a folder under a key prefix
(`PREFIX/relative/path`), and `n` tiny objects for listing tests, each with
16 uploads at once through the store's own `put(key, bytes)`."""
import os
from concurrent.futures import ThreadPoolExecutor


def keyed_files(root, prefix):
    """(path, key) of every file under `root` (following links), keys
    `prefix/relative/path` with `/` separators."""
    files = []
    for dirpath, _, names in os.walk(root, followlinks=True):
        for name in names:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            files.append((path, f"{prefix.strip('/')}/{rel}".lstrip("/")))
    return files


def upload_tree(root, prefix, put):
    """Uploads every file under `root` with `put(key, bytes)`; returns how many."""
    files = keyed_files(root, prefix)

    def upload(item):
        with open(item[0], "rb") as f:
            put(item[1], f.read())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, files))
    return len(files)


def fill(prefix, n, put):
    """`n` one-byte objects `prefix/000000.txt`, … with `put(key, bytes)`."""
    keys = [f"{prefix.strip('/')}/{i:06d}.txt" for i in range(int(n))]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: put(k, b"x"), keys))
