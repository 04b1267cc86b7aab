"""Classifier quality study behind `orchard train`'s defaults (BENCHMARKS.md,
"Identifying fruit"). Features are the default model's, computed here the
seed's way (PIL decode + bicubic resize, x/127.5-1, ONNX Runtime), which
Orchard reproduces exactly (crates/orchard-cli/tests/e2e/seed_parity.rs).

    .venv/bin/python bench/classify_quality.py ~/.cache/orchard/models/mobilenet_v2.onnx \
        ../shared/data --cache /tmp/orchard-quality [--only NAME]

Splits: studio shots 80/20 at random (seed 0); grocery photos split by file,
per variety the last 30 % in name order held out (near-identical consecutive
shots stay on one side). Non-fruit photos: tests/python/nonfruit_photos.py.
Unknown species: banana, kiwi, pineapple and tomato removed from training,
their grocery photos scored against the other species' held-out ones.
"""
import argparse, collections, os, re, subprocess, sys, tempfile
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from scipy import ndimage
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from seed_prep import seed_image, seed_input  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("model"); p.add_argument("data"); p.add_argument("--cache", default="/tmp/orchard-quality")
p.add_argument("--only", default=None)
a = p.parse_args()
os.makedirs(a.cache, exist_ok=True)
so = ort.SessionOptions(); so.intra_op_num_threads = os.cpu_count()
sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
iname = sess.get_inputs()[0].name

def load(f): return seed_image(f, exif=True)
def prep(im): return seed_input(im)
def embed(ims):
    out = [sess.run(None, {iname: np.stack([prep(i) for i in ims[j:j + 32]])})[0].reshape(-1, 1280) for j in range(0, len(ims), 32)]
    return np.concatenate(out)
def features(name, files, transform=lambda im, rng: im, seed=0):
    path = os.path.join(a.cache, name + ".npy")
    if os.path.exists(path): return np.load(path)
    rng = np.random.default_rng(seed); F = []
    for j in range(0, len(files), 256):
        F.append(embed([transform(load(f), rng) for f in files[j:j + 256]])); print(name, j, file=sys.stderr)
    F = np.concatenate(F); np.save(path, F); return F
def listing(root):
    fs = sorted(os.path.join(root, d, f) for d in os.listdir(root) for f in os.listdir(os.path.join(root, d)))
    return fs, [os.path.basename(os.path.dirname(f)) for f in fs]

# --- augmentation prototype (the same parts as orchard-image's augment.rs) ---
def generated_bg(rng, size):
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, size)[None, :, None] if rng.random() < .5 else np.linspace(0, 1, size)[:, None, None]
    img = (c0 * (1 - t) + c1 * t) * np.ones((size, size, 1)) + rng.normal(0, rng.uniform(0, 40), (size, size, 1))
    for _ in range(rng.integers(0, 6)):
        cy, cx, r = rng.integers(0, size), rng.integers(0, size), rng.integers(5, size // 2)
        yy, xx = np.ogrid[:size, :size]; img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)
def augment(parts):
    def f(im, rng):
        x = np.asarray(im)
        if "background" in parts:
            lab, _ = ndimage.label(x.min(axis=2) >= 230)
            border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))) - {0}
            bg = np.isin(lab, list(border)); x = np.where(bg[..., None], generated_bg(rng, x.shape[0])[:x.shape[0], :x.shape[1]], x)
        im = Image.fromarray(x.astype(np.uint8))
        if "crop" in parts:
            W, H = im.size; s = rng.uniform(.5, 1); r = rng.uniform(.75, 1.333)
            cw, ch = min(W, int(W * np.sqrt(s * r))), min(H, int(H * np.sqrt(s / r)))
            x0, y0 = rng.integers(0, W - cw + 1), rng.integers(0, H - ch + 1); im = im.crop((x0, y0, x0 + cw, y0 + ch))
        if "flip" in parts and rng.random() < .5: im = im.transpose(Image.FLIP_LEFT_RIGHT)
        if "color" in parts:
            im = ImageEnhance.Brightness(ImageEnhance.Contrast(ImageEnhance.Color(im).enhance(rng.uniform(.7, 1.3))).enhance(rng.uniform(.7, 1.3))).enhance(rng.uniform(.6, 1.4))
        if "blur" in parts and rng.random() < 1 / 3: im = im.filter(ImageFilter.GaussianBlur(rng.uniform(.5, 2)))
        return im
    return f

sf, sl = listing(os.path.join(a.data, "fruits360-species")); gf, gl = listing(os.path.join(a.data, "grocery-store-train"))
S, G = features("species", sf), features("grocery", gf)
classes = sorted(set(sl)); ci = {c: i for i, c in enumerate(classes)}
ys, yg = np.array([ci[l] for l in sl]), np.array([ci[l] for l in gl])
st = np.random.default_rng(0).random(len(sf)) < .2
gt = np.zeros(len(gf), bool); by = collections.defaultdict(list)
for i, f in enumerate(gf): by[(gl[i], re.sub(r"_\d+\.jpg$", "", os.path.basename(f)))].append(i)
for idx in by.values(): gt[idx[-max(1, round(len(idx) * .3)):]] = True
nfdir = tempfile.mkdtemp()
subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "tests/python/nonfruit_photos.py"), nfdir], check=True, capture_output=True)
NF = embed([load(os.path.join(nfdir, f)) for f in sorted(os.listdir(nfdir))])
l2 = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)
def fit(X, y, C, w=None, cw=None): return LogisticRegression(C=C, max_iter=3000, class_weight=cw).fit(X, y, sample_weight=w)
def acc(m, X, y): return (m.predict(X) == y).mean()
def mixed(Sx=None, sw=.3, extra=None):
    X = np.vstack([l2(S[~st] if Sx is None else Sx), l2(G[~gt])] + ([l2(extra[0])] if extra else []))
    y = np.concatenate([ys[~st], yg[~gt]] + ([extra[1]] if extra else []))
    w = np.concatenate([np.full((~st).sum(), sw), np.ones((~gt).sum())] + ([np.full(len(extra[1]), sw)] if extra else []))
    return X, y, w
row = lambda *c: print("| " + " | ".join(str(x) for x in c) + " |", flush=True)
def want(name): return a.only is None or a.only == name

if want("representation"):
    print("\n### Representation, weights, C (grocery held out by file; studio 20 %)\n")
    row("training data", "representation", "C", "class weights", "studio weight", "studio acc", "grocery acc")
    row(*["---"] * 7)
    pca = PCA(100).fit(S[~st]); m = fit(pca.transform(S[~st]), ys[~st], 1.0)
    row("studio only (seed recipe)", "PCA(100) raw", 1, "-", "-", f"{acc(m, pca.transform(S[st]), ys[st]):.3f}", f"{acc(m, pca.transform(G[gt]), yg[gt]):.3f}")
    m = fit(l2(S[~st]), ys[~st], 10)
    row("studio only", "L2 1280-d", 10, "-", "-", f"{acc(m, l2(S[st]), ys[st]):.3f}", f"{acc(m, l2(G[gt]), yg[gt]):.3f}")
    for C, cw, sw in [(1, None, 1), (10, None, 1), (30, None, 1), (30, None, .3), (30, "balanced", .3), (100, "balanced", .3), (100, "balanced", 1), (300, "balanced", .3)]:
        X, y, w = mixed(sw=sw); m = fit(X, y, C, w, cw)
        row("studio + grocery", "L2 1280-d", C, cw or "none", sw, f"{acc(m, l2(S[st]), ys[st]):.3f}", f"{acc(m, l2(G[gt]), yg[gt]):.3f}")
    X, y, w = mixed()
    for k in (100, 256):
        pc = PCA(k).fit(X); m = fit(pc.transform(X), y, 30, w, "balanced")
        row("studio + grocery", f"PCA({k}) of L2", 30, "balanced", .3, f"{acc(m, pc.transform(l2(S[st])), ys[st]):.3f}", f"{acc(m, pc.transform(l2(G[gt])), yg[gt]):.3f}")

if want("augmentation"):
    print("\n### Augmentation (1 variant per studio shot of the 20 grocery species)\n")
    row("parts", "studio only -> grocery", "studio + grocery -> grocery"); row("---", "---", "---")
    sel = np.isin(ys, np.unique(yg)); base = (~st) & sel
    for name, parts in [("none", None), ("all", "background,crop,flip,color,blur"), ("background", "background"), ("crop,flip,color,blur", "crop,flip,color,blur")]:
        A = None if parts is None else features("aug_" + name.replace(",", "_"), [sf[i] for i in np.where(base)[0]], augment(parts.split(",")), seed=1)
        X = l2(S[base]) if A is None else np.vstack([l2(S[base]), l2(A)]); y = ys[base] if A is None else np.concatenate([ys[base]] * 2)
        a1 = acc(fit(X, y, 30), l2(G[gt]), yg[gt])
        X2 = np.vstack([X, l2(G[~gt])]); y2 = np.concatenate([y, yg[~gt]]); w2 = np.concatenate([np.full(len(y), .3), np.ones((~gt).sum())])
        row(name, f"{a1:.3f}", f"{acc(fit(X2, y2, 100, w2, 'balanced'), l2(G[gt]), yg[gt]):.3f}")

if want("ood"):
    print("\n### Not-sure scores (AUROC; known = held-out grocery photos)\n")
    row("score", "non-fruit (23)", "unknown species (4 held out)", "non-fruit sure @95 % of known", "unknown sure @95 %"); row(*["---"] * 5)
    def scores(X, y, dom, w, Q):
        m = fit(X, y, 100, w, "balanced"); Z = m.decision_function(Q); P = m.predict_proba(Q)
        out = {"max softmax probability": P.max(1), "energy (logsumexp)": np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1)) + Z.max(1),
               "5-NN cosine similarity": np.sort(Q @ X.T, 1)[:, -5]}
        for label, key in [("Mahalanobis, nearest species", y), ("Mahalanobis, nearest mode (species x studio/real)", y * 2 + dom)]:
            ks = np.unique(key); mus = np.stack([X[key == k].mean(0) for k in ks]); R = X - mus[np.searchsorted(ks, key)]
            prec = np.linalg.inv(R.T @ R / len(R) + 1e-3 * np.eye(X.shape[1])); PQ, PM = Q @ prec, mus @ prec
            out[label] = -((PQ * Q).sum(1)[:, None] - 2 * Q @ PM.T + (PM * mus).sum(1)[None, :]).min(1)
        return out
    def setup(out):
        ks, kg = (~st) & ~np.isin(ys, out), (~gt) & ~np.isin(yg, out)
        X = np.vstack([l2(S[ks]), l2(G[kg])]); y = np.concatenate([ys[ks], yg[kg]])
        dom = np.r_[np.zeros(ks.sum(), int), np.ones(kg.sum(), int)]; w = np.r_[np.full(ks.sum(), .3), np.ones(kg.sum())]
        return X, y, dom, w
    X, y, dom, w = setup([]); known = l2(G[gt]); s1 = scores(X, y, dom, w, np.vstack([known, l2(NF)]))
    out = [ci[c] for c in ["banana", "kiwi", "pineapple", "tomato"]]; X2, y2, d2, w2 = setup(out)
    kn2, un2 = gt & ~np.isin(yg, out), np.isin(yg, out); s2 = scores(X2, y2, d2, w2, np.vstack([l2(G[kn2]), l2(G[un2])]))
    n1, n2 = len(known), kn2.sum()
    for k in s1:
        auc = lambda s, n: roc_auc_score(np.r_[np.ones(n), np.zeros(len(s) - n)], s)
        t1, t2 = np.quantile(s1[k][:n1], .05), np.quantile(s2[k][:n2], .05)
        row(k, f"{auc(s1[k], n1):.3f}", f"{auc(s2[k], n2):.3f}", f"{(s1[k][n1:] >= t1).mean():.2f}", f"{(s2[k][n2:] >= t2).mean():.2f}")
