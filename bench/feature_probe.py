"""A linear probe on Orchard's features: how well each feature model, and
several of them concatenated, separate the species of photos never trained
on. It measures whether combining backbones is worth its cost before any
Orchard code is written for it.

For each model, `orchard extract --keep-features` writes the features of
every set once (kept under OUT/MODEL/SET and reused); a logistic regression
(scikit-learn, class-balanced, each model's features L2-normalised, then
concatenated and divided by sqrt(#models)) is fitted on the training sets
at each C and scored on each validation set. No augmentation: the figures
are below `orchard train`'s, and only their differences count.

    .venv/bin/python bench/feature_probe.py OUT \\
        --train ../shared/data/fruits360-species ../shared/data/grocery-store-train \\
        --validate ../shared/data/grocery-store-val STOCK/stock-on-white \\
        --models fruit-default mobilenet_v2 --combine fruit-default+mobilenet_v2

Prints one line per (model or combination, C): accuracy on each validation
set.
"""

import argparse
import glob
import os
import subprocess
import sys
import warnings

import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def orchard_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.environ.get("ORCHARD", os.path.join(target, "release", "orchard"))


def features(out, model, folder, normalise=True):
    """Features (L2-normalised unless told not) and labels of `folder`,
    sorted by path."""
    where = os.path.join(out, model, os.path.basename(os.path.normpath(folder)))
    if not os.path.exists(os.path.join(where, "_SUCCESS")):
        subprocess.run(
            [orchard_binary(), "extract", folder, where, "--model", model,
             "--keep-features", "--pca-k", "2", "--overwrite", "-q"],
            check=True,
        )
    paths, labels, rows = [], [], []
    for part in sorted(glob.glob(os.path.join(where, "part-*.parquet"))):
        table = pq.read_table(part, columns=["path", "label", "features"])
        paths += table.column("path").to_pylist()
        labels += table.column("label").to_pylist()
        rows.append(np.array(table.column("features").to_pylist(), dtype=np.float32))
    order = np.argsort(paths)
    x = np.concatenate(rows)[order]
    if normalise:
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return x, np.array(labels)[order]


def combined(out, models, folder):
    parts = [features(out, m, folder) for m in models]
    for _, labels in parts[1:]:
        assert (labels == parts[0][1]).all(), "the models' rows differ"
    return np.concatenate([x for x, _ in parts], axis=1) / np.sqrt(len(models)), parts[0][1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--validate", nargs="+", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--combine", nargs="*", default=[], help="MODEL+MODEL…")
    ap.add_argument("--c", nargs="+", type=float, default=[1.0, 10.0, 100.0])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    names = [os.path.basename(os.path.normpath(v)) for v in args.validate]
    print(f"{'features':<44} {'C':>5} " + " ".join(f"{n:>18}" for n in names))
    for entry in [[m] for m in args.models] + [c.split("+") for c in args.combine]:
        xs, ys = zip(*[combined(args.out, entry, t) for t in args.train])
        x, y = np.concatenate(xs), np.concatenate(ys)
        vals = [combined(args.out, entry, v) for v in args.validate]
        for c in args.c:
            clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, y)
            scores = [(clf.predict(xv) == yv).mean() for xv, yv in vals]
            print(f"{'+'.join(entry):<44} {c:>5g} " + " ".join(f"{s:>18.3f}" for s in scores))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
