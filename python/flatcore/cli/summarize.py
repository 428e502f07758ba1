"""``flatcore summarize DB``: medians over seeds, grouped by the swept settings."""

from __future__ import annotations

from ._common import USER_ERRORS, fail, format_table, load_results


def summarize(args) -> int:
    """Print the table of :meth:`flatcore.experiments.Results.summarize`."""
    try:
        with load_results(args.db, args.study) as res:
            table = res.summarize(by=args.by, metrics=args.metrics)
            if args.csv:
                try:
                    table.to_csv(args.csv, index=False)
                except OSError as exc:  # a missing or read-only folder
                    return fail(f"cannot write {args.csv}: {exc.strerror or exc}")
            print(format_table(table))
    except USER_ERRORS as exc:
        return fail(str(exc).strip("'\""))
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore summarize``."""
    p = sub.add_parser(
        "summarize",
        help="medians over seeds, grouped by the swept settings",
        description="The median of each metric over the finished runs of each group (default groups: "
        "every swept setting but the seed), with the number of runs and failures per group.",
    )
    p.add_argument("db", help="the SQLite store")
    p.add_argument("--study", help="only this study")
    p.add_argument("--by", nargs="+", help="settings to group by (default: the swept ones but seed)")
    p.add_argument("--metrics", nargs="+", help="metrics to show (default: the main ones)")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.set_defaults(func=summarize)
