"""``flatcore status DB``: the studies in a store and how far each has got."""

from __future__ import annotations

from ._common import USER_ERRORS, fail, format_table, load_results


def status(args) -> int:
    """Print the studies, their counts by status, and the errors of failed runs."""
    try:
        with load_results(args.db, args.study) as res:
            if res.studies.empty:
                print(f"{args.db}: no studies")
                return 0
            print(format_table(res.studies[["study", "runs", "done", "failed", "pending"]]))
            failed = res.runs[res.runs["status"] == "failed"]
            if len(failed):
                print(f"\n{len(failed)} failed run(s):")
                for row in failed.head(args.errors).itertuples():
                    first = (row.error or "").strip().splitlines()[0] if row.error else "?"
                    where = f"d={row.d}, n={row.n}, width={row.width}, lr={row.lr}, seed={row.seed}"
                    print(f"  {row.run_id} ({where}): {first}")
                if len(failed) > args.errors:
                    print(f"  ... and {len(failed) - args.errors} more")
    except USER_ERRORS as exc:
        return fail(str(exc).strip("'\""))
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore status``."""
    p = sub.add_parser("status", help="what a store holds: studies, runs done, failed, pending")
    p.add_argument("db", help="the SQLite store")
    p.add_argument("--study", help="only this study")
    p.add_argument("--errors", type=int, default=10, help="failed runs to list (default 10)")
    p.set_defaults(func=status)
