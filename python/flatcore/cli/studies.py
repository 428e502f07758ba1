"""``flatcore studies``: the built-in studies (the experiments of the papers), their sizes."""

from __future__ import annotations

from .. import studies as builtin


def list_studies(args) -> int:
    """Print each built-in study: its runs at the quick and full sizes, and what it shows."""
    for name in sorted((*builtin.NAMES, *builtin.COMPUTED)):
        time = builtin.FULL_WALL_TIME.get(name, "not measured")
        if name in builtin.COMPUTED:
            quick_size, full_size, description = builtin.COMPUTED[name]
            print(f"{name}  (computed directly, no training: quick {quick_size}; full {full_size}: {time})")
            if args.verbose:
                print(f"    {description}")
                print(f"    flatcore reproduce --only {name.split('-')[0]} [--full {name.split('-')[0]}] runs it")
            continue
        full = builtin.study(name)
        quick = builtin.study(name, quick=True)
        print(f"{name}  ({len(quick)} runs quick, {len(full)} full: {time} on 2 cores; swept: {', '.join(full.swept)})")
        if args.verbose:
            print(f"    {full.description}")
            print(f"    file: {builtin.path(name)}")
    print(
        "\nflatcore run NAME [--quick] runs one (NAME may be e1, e2, ...); "
        "flatcore reproduce runs them all (E1-E7) and writes the report."
    )
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore studies``."""
    p = sub.add_parser("studies", help="the built-in studies (the papers' experiments)")
    p.add_argument("-v", "--verbose", action="store_true", help="also what each shows and its file")
    p.set_defaults(func=list_studies)
