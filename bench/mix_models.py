"""Mixes an installed fine-tuned model with its parent, as `orchard train
--tune-mix SHARE` does at the end of fine-tuning, without training again:

    NAME = SHARE * TUNED + (1 - SHARE) * PARENT, initializer by initializer

(only the fine-tuned tail differs; every other weight is the parent's), and
installs NAME in the model home with TUNED's manifest (its `fine_tuning.mix`
set to SHARE). Used by bench/mix_quality.sh.

    .venv/bin/python bench/mix_models.py MODELS_DIR TUNED SHARE NAME
"""
import hashlib
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(models, tuned, share, name):
    manifest = json.load(open(f"{models}/{tuned}.json"))
    parent_name = manifest["fine_tuning"]["parent_model"]
    if manifest["fine_tuning"].get("mix", 1.0) != 1.0:
        sys.exit(f"{tuned} is already mixed; mix a model trained with --tune-mix 1")
    parent = {
        i.name: numpy_helper.to_array(i)
        for i in onnx.load(f"{models}/{parent_name}.onnx").graph.initializer
    }
    model = onnx.load(f"{models}/{tuned}.onnx")
    changed = 0
    for init in model.graph.initializer:
        mine = numpy_helper.to_array(init)
        theirs = parent[init.name]
        if np.array_equal(mine, theirs):
            continue
        changed += 1
        # In f32, as candle mixes them.
        mixed = np.float32(share) * mine + np.float32(1 - share) * theirs
        init.CopyFrom(numpy_helper.from_array(mixed.astype(mine.dtype), init.name))
    onnx.save(model, f"{models}/{name}.onnx")
    manifest["spec"]["name"] = name
    manifest["sha256"] = hashlib.sha256(open(f"{models}/{name}.onnx", "rb").read()).hexdigest()
    manifest["fine_tuning"]["mix"] = share
    json.dump(manifest, open(f"{models}/{name}.json", "w"), indent=2)
    print(f"{name}: {changed} weights mixed, {share} {tuned} + {1 - share:g} {parent_name}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
