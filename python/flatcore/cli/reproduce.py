"""``flatcore reproduce``: the headline studies, their figures and a report, in one folder."""

from __future__ import annotations

import textwrap

from ._common import USER_ERRORS, fail


def reproduce(args) -> int:
    """Run the headline studies (quick sizes unless --full), draw the figures, write report.html."""
    from ..reproduce import HEADLINE
    from ..reproduce import reproduce as run

    try:
        report, sections = run(
            args.out, full=args.full or (), only=args.only, workers=args.workers, progress=not args.no_progress
        )
    except (*USER_ERRORS, ValueError) as exc:
        return fail(str(exc).strip("'\""))
    print(f"\n  {'':<8}{'quantity':<78}{'flatcore':>22}  paper")
    for s in sections:
        for h in s.headlines:
            *first, last = textwrap.wrap(h.quantity, 76) or [""]
            for line in first:  # long quantities wrap; the numbers stand on their last line
                print(f"  {s.key:<8}{line}")
            print(f"  {s.key:<8}{last:<78}{h.ours:>22}  {h.paper}")
    from ..reproduce import can_draw

    if not can_draw():
        print('\nno figures: matplotlib is not installed (pip install "flatcore[plots]")')
    print(f"\nreport: {report}")
    print(f"figures: {report.parent / 'figures'}; store: {report.parent / 'flatcore.db'}")
    if not args.full:
        print(
            "(quick sizes; the paper's sizes: flatcore reproduce --full "
            f"{' '.join(n.split('-')[0] for n in sorted((*HEADLINE, 'e5')))})"
        )
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore reproduce``."""
    p = sub.add_parser(
        "reproduce",
        help="run the shattering experiments end to end: store, figures, report.html",
        description="Run the built-in studies of the neural shattering phenomenon (edge of stability, "
        "shattering, the curse of dimensionality, the stability bound) at their quick sizes (or full, "
        "with --full), draw their figures and write a self-contained report.html next to the store. "
        "Run it again to resume.",
    )
    p.add_argument("--out", default="flatcore-reproduction", help="the folder (default flatcore-reproduction)")
    p.add_argument("--full", nargs="+", metavar="STUDY", help="run these at their full size (e.g. E2 E3)")
    p.add_argument("--only", nargs="+", metavar="STUDY", help="run only these studies")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=reproduce)
