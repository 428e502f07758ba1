"""``flatcore run STUDY``: run a study (a file, or a built-in one) into a store, skipping what is stored."""

from __future__ import annotations

import os

from ._args import positive_int
from ._common import USER_ERRORS, fail


def run(args) -> int:
    """Run the study; 0 when every run is stored done, 1 with failures, 130 when interrupted."""
    from ..experiments import Study, run_study

    try:
        if os.path.exists(args.study) or args.study.endswith(".toml"):
            if args.quick:
                return fail("--quick is for the built-in studies (flatcore studies lists them), not a file")
            study = Study.from_toml(args.study)
            db = args.db or os.path.splitext(args.study)[0] + ".db"
        else:  # a built-in study: e3, e3-curse-of-dimensionality
            from .. import studies

            study = studies.study(args.study, quick=args.quick)
            db = args.db or f"{study.name}.db"
        print(f"{study.name}: {len(study)} runs (swept: {', '.join(study.swept) or 'nothing'}); store: {db}")
        client = None
        if args.dask and args.workers:
            return fail(
                "--workers sets the size of the local pool; on a Dask cluster its own workers run the study "
                "(start more with `dask worker ADDRESS --nworkers N`)"
            )
        if args.dask:
            from ..experiments.dask_executor import connect

            try:
                client = connect(args.dask)
            except (ImportError, ValueError, OSError) as exc:  # not installed, a bad address, no scheduler
                return fail(str(exc))
        try:
            summary = run_study(
                study,
                db,
                workers=args.workers,
                threads_per_run=args.threads_per_run,
                client=client,
                retry_failed=args.retry_failed,
                progress=not args.no_progress,
            )
        finally:
            if client is not None:
                client.close()
    except USER_ERRORS as exc:
        return fail(str(exc).strip("'\""))
    print(summary)
    if summary.interrupted:
        return 130
    return 1 if summary.failed or summary.skipped_failed else 0


def add_parser(sub) -> None:
    """Register ``flatcore run``."""
    p = sub.add_parser(
        "run",
        help="run a study file into a store (resumes where it stopped)",
        description="Run every run of a study (a TOML file) that the store does not hold yet, on a "
        "local process pool or a Dask cluster, writing each run to the SQLite store as it finishes. "
        "Run it again after an interruption to go on.",
    )
    p.add_argument(
        "study", help="the study file (TOML), or a built-in study's name (e1, e3-curse-of-dimensionality, ...)"
    )
    p.add_argument("--quick", action="store_true", help="a built-in study's quick size")
    p.add_argument("--db", help="the SQLite store (default: the study file's name with .db)")
    p.add_argument("--workers", type=positive_int, help="runs at once on this machine (default: one per core)")
    p.add_argument("--threads-per-run", type=positive_int, help="threads for each run (default 1)")
    p.add_argument(
        "--dask", metavar="ADDRESS", help="run on the Dask cluster at this scheduler address (tcp://host:port)"
    )
    p.add_argument("--retry-failed", action="store_true", help="run the stored failures again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
