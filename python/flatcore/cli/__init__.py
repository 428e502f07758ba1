"""The ``flatcore`` command line, one module per command.

flatcore reproduce   the shattering experiments end to end: store, figures, report.html
flatcore demo        a small experiment end to end: GD at a small and a large step size
flatcore run         run a study file into a store (resumes; local pool or Dask)
flatcore studies     the built-in studies (the papers' experiments)
flatcore status      what a store holds: studies, runs done, failed, pending
flatcore summarize   medians over seeds, grouped by the swept settings
flatcore export      the runs (and histories) as CSV or Parquet
flatcore plot        figures of a store: sharpness, activations, rates, bound, regions, function
flatcore info        version, build flags, threads
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import demo, export, info, plot, reproduce, run, status, studies, summarize

_COMMANDS = (reproduce, demo, run, studies, status, summarize, export, plot, info)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``flatcore`` command."""
    parser = argparse.ArgumentParser(prog="flatcore", description="Exact numerics for two-layer ReLU networks.")
    parser.add_argument("--version", action="version", version=f"flatcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the ``flatcore`` command with ``argv`` (default: the process arguments); return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "noise", 0.0) < 0:
        parser.error("--noise must be non-negative")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (flatcore studies | head): stop quietly, as a pipe does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
