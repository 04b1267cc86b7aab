"""Check that an Orchard output folder opens as is in pyarrow and DuckDB with
the documented schema.

    python tests/python/check_output.py OUT --rows N --k K [--features 1280]

Exits non-zero (with the reason) when anything differs.
"""
import argparse
import json
import os
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--features", type=int, default=0)
    a = ap.parse_args()

    assert os.path.exists(os.path.join(a.out, "_SUCCESS")), "no _SUCCESS"

    # pyarrow: the folder is a plain Parquet dataset (files starting with _ are ignored).
    table = ds.dataset(a.out, format="parquet").to_table()
    same = pq.read_table(a.out)
    assert table.num_rows == same.num_rows == a.rows, (table.num_rows, same.num_rows, a.rows)
    expected = [
        ("path", pa.string()),
        ("label", pa.string()),
        ("label_index", pa.int32()),
        ("pca", None),
    ]
    if a.features:
        expected.append(("features", None))
    names = table.schema.names
    assert names == [n for n, _ in expected], names
    for name, typ in expected:
        field = table.schema.field(name)
        if typ is not None:
            assert field.type == typ, (name, field.type)
    pca = table.schema.field("pca").type
    assert pa.types.is_fixed_size_list(pca) and pca.list_size == a.k, pca
    assert pca.value_type == pa.float32(), pca
    if a.features:
        f = table.schema.field("features").type
        assert pa.types.is_fixed_size_list(f) and f.list_size == a.features, f

    # DuckDB: the part files, and the metadata files beside them.
    con = duckdb.connect()
    parts = os.path.join(a.out, "part-*.parquet")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{parts}')").fetchone()[0]
    assert n == a.rows, (n, a.rows)
    width = con.execute(f"SELECT max(len(pca)) FROM read_parquet('{parts}')").fetchone()[0]
    assert width == a.k, width
    labels = json.load(open(os.path.join(a.out, "_labels.json")))
    bad = con.execute(
        f"SELECT count(*) FROM read_parquet('{parts}') WHERE label IS NOT NULL AND label_index IS NULL"
    ).fetchone()[0]
    assert bad == 0, bad
    got = dict(con.execute(f"SELECT DISTINCT label, label_index FROM read_parquet('{parts}') WHERE label IS NOT NULL").fetchall())
    assert all(labels[l] == i for l, i in got.items()), (got, labels)
    errors = con.execute(f"SELECT count(*) FROM read_parquet('{os.path.join(a.out, '_errors.parquet')}')").fetchone()[0]
    run = json.load(open(os.path.join(a.out, "_run.json")))
    assert run["counts"]["succeeded"] == a.rows and run["counts"]["failed"] == errors, run["counts"]
    print(f"ok: {a.rows} rows, pca[{a.k}], {errors} errors; pyarrow and DuckDB agree")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"output check failed: {e!r}", file=sys.stderr)
        sys.exit(1)
