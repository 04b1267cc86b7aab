"""Top-1 agreement of int8 and fp32 features under classifiers fitted on fp32
features only (issue 14: >= 99 % of held-out photos). Run by
bench/int8_agreement.sh, which extracts the photos.

    python int8_agreement.py WORK FP32_MODEL INT8_MODEL

Held out: every photo whose `label/name` hashes (FNV-1a) to the last fifth,
the same rule for both models; bench/int8_agreement.sh calibrates the int8
model on grocery photos of the other four fifths only.
"""
import glob
import os
import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import normalize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8_layers import cosine  # noqa: E402


def fnv1a(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def rows(out):
    table = pq.read_table(sorted(glob.glob(os.path.join(out, "part-*.parquet"))))
    paths = table.column("path").to_pylist()
    keys = ["/".join(p.split("/")[-2:]) for p in paths]
    features = np.asarray(table.column("features").to_pylist(), dtype=np.float32)
    labels = table.column("label").to_pylist()
    return dict(zip(keys, zip(features, labels)))


def main():
    work, fp32_name, int8_name = sys.argv[1:4]
    kinds = ("fruits360-species", "grocery-store-train")
    fp32 = {kind: rows(os.path.join(work, f"{fp32_name}-{kind}")) for kind in kinds}
    int8 = {kind: rows(os.path.join(work, f"{int8_name}-{kind}")) for kind in kinds}
    # One classifier for studio and real photos, as `orchard train` fits it.
    train = [(kind, k) for kind in kinds for k in sorted(fp32[kind]) if fnv1a(k) % 5 != 4]
    x = np.stack([fp32[kind][k][0] for kind, k in train])
    y = [fp32[kind][k][1] for kind, k in train]
    recipes = {
        "PCA(100) + logistic regression (the seed's)":
            make_pipeline(PCA(n_components=100, random_state=0), LogisticRegression(max_iter=3000)),
        "logistic regression on L2-normalised features (as orchard train)":
            LogisticRegression(max_iter=3000),
    }
    for name, clf in recipes.items():
        clf.fit(normalize(x) if "L2" in name else x, y)
    print(f"fitted on fp32 features of {len(train)} photos (studio and real)")
    for kind in kinds:
        held = [k for k in sorted(fp32[kind]) if fnv1a(k) % 5 == 4]
        a = np.stack([fp32[kind][k][0] for k in held])
        b = np.stack([int8[kind][k][0] for k in held])
        truth = np.array([fp32[kind][k][1] for k in held])
        cos = cosine(a, b)
        print(f"{kind}: {len(held)} held-out photos; int8 vs fp32 cosine "
              f"mean {cos.mean():.4f}, p1 {np.percentile(cos, 1):.4f}, min {cos.min():.4f}")
        for name, clf in recipes.items():
            pa = clf.predict(normalize(a) if "L2" in name else a)
            pb = clf.predict(normalize(b) if "L2" in name else b)
            print(f"  {name}: same top-1 on {np.mean(pa == pb) * 100:.2f} % "
                  f"({int((pa != pb).sum())} differ); accuracy fp32 "
                  f"{np.mean(pa == truth) * 100:.1f} %, int8 {np.mean(pb == truth) * 100:.1f} %")


if __name__ == "__main__":
    main()
