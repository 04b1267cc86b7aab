#!/usr/bin/env python3
"""Orchard's featurizer in a Ray Data job: ``map_batches`` with a callable
class, so that each Ray worker (an actor) loads the model once and keeps it.

    pip install ./python "ray[data]"
    python examples/ray_featurize.py ../shared/data/fruits360-sample out/ray-features

Batches travel as Arrow (``batch_format="pyarrow"``) and go to Rust without
copies; photos are read by path in Rust (local or ``s3://``, with
``--endpoint`` for an S3-compatible server), so Ray needs no S3 filesystem
of its own. Each actor gets ``--threads`` ONNX Runtime threads (match
``num_cpus``). Ray is not installed by scripts/setup.sh and this example is
not run in CI (Ray's wheel is large); the class below is the whole
integration, and ``orchard.Featurizer`` is what the tests check.
"""

from __future__ import annotations

import argparse
from typing import Optional

import pyarrow as pa

import orchard


class OrchardFeatures:
    """Callable class for ``Dataset.map_batches``: a batch with a ``path``
    (or ``content``) column → the same batch with ``features`` and ``error``."""

    def __init__(self, threads: int = 1, endpoint: Optional[str] = None) -> None:
        storage = {"endpoint": endpoint} if endpoint else {}
        # Made in the actor's process; the model loads on the first batch.
        self.featurizer = orchard.Featurizer(threads=threads, **storage)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.featurizer.featurize(batch)


def main() -> None:
    import ray

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", help="folder or s3:// prefix of labelled photo folders")
    ap.add_argument("output", help="Parquet output folder")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per actor")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--endpoint", default=None)
    a = ap.parse_args()

    storage = {"endpoint": a.endpoint} if a.endpoint else {}
    listing = orchard.list_photos(a.photos, **storage)  # path, label, size
    ds = ray.data.from_arrow(listing)
    features = ds.map_batches(
        OrchardFeatures,
        fn_constructor_kwargs={"threads": a.threads, "endpoint": a.endpoint},
        batch_size=a.batch,
        batch_format="pyarrow",
        concurrency=a.actors,
        num_cpus=a.threads,
    )
    features.write_parquet(a.output)
    failed = features.filter(lambda row: row["error"] is not None).count()
    print(f"{listing.num_rows} photos featurized into {a.output} ({failed} failed)")


if __name__ == "__main__":
    main()
