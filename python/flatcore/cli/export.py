"""``flatcore export DB``: the runs table (and the histories) as CSV or Parquet files."""

from __future__ import annotations

import os

from ._common import USER_ERRORS, fail, load_results


def export(args) -> int:
    """Write ``<out>.csv`` / ``<out>.parquet`` and, with ``--histories``, ``<out>-histories.*``."""
    fmt = "parquet" if args.parquet else "csv"
    out = args.out or os.path.splitext(args.db)[0]
    try:
        with load_results(args.db, args.study) as res:
            tables = {f"{out}.{fmt}": res.runs}
            if args.histories:
                tables[f"{out}-histories.{fmt}"] = res.histories
            for path, table in tables.items():
                try:
                    if fmt == "parquet":
                        table.to_parquet(path, index=False)
                    else:
                        table.to_csv(path, index=False)
                except ImportError as exc:
                    return fail(f'Parquet needs pyarrow (pip install "flatcore[parquet]"): {exc}')
                except OSError as exc:  # a missing or read-only folder
                    return fail(f"cannot write {path}: {exc.strerror or exc}")
                print(f"wrote {path} ({len(table)} rows)")
    except USER_ERRORS as exc:
        return fail(str(exc).strip("'\""))
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore export``."""
    p = sub.add_parser("export", help="the runs (and histories) as CSV or Parquet")
    p.add_argument("db", help="the SQLite store")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--csv", action="store_true", help="CSV files (the default)")
    group.add_argument("--parquet", action="store_true", help="Parquet files (needs pyarrow)")
    p.add_argument("--out", help="file name without extension (default: the store's)")
    p.add_argument("--study", help="only this study")
    p.add_argument("--histories", action="store_true", help="also the histories (long table)")
    p.set_defaults(func=export)
