#!/usr/bin/env python3
"""Checks that building the Python extension alone (`cargo build -p orchard-py`,
what maturin and `pip install ./python` run) enables the same features of every
dependency as `cargo build --workspace --all-targets`: then it reuses the
workspace's artifacts in the shared build folder and compiles only itself,
instead of compiling DataFusion, Arrow, tract and every Orchard crate a second
time. Compares `cargo tree`'s feature lists; exits 1 and names the packages that
differ (add the dependency, or the features, that the workspace brings in to
crates/orchard-py/Cargo.toml).
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def features(*args):
    out = subprocess.run(
        ["cargo", "tree", "--offline", "-f", "{p}|{f}", "--prefix", "none", *args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        package, names = line.replace(" (*)", "").split("|", 1)
        found.setdefault(package.strip(), set()).update(n for n in names.split(",") if n)
    return found


def main():
    workspace = features("--workspace", "-e", "normal,build,dev")
    extension = features("-p", "orchard-py", "-e", "normal,build")
    differ = {
        p: (sorted(workspace.get(p, set()) - f), sorted(f - workspace.get(p, set())))
        for p, f in extension.items()
        if workspace.get(p) != f
    }
    for package, (missing, extra) in sorted(differ.items()):
        print(f"{package}: the workspace adds {missing}, orchard-py alone adds {extra}")
    if differ:
        sys.exit(f"{len(differ)} dependencies of orchard-py would be compiled a second time")
    print(f"orchard-py alone: the workspace's features for all {len(extension)} packages")


if __name__ == "__main__":
    main()
