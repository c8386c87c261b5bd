"""The ``robustreid`` command line: the root parser, and how a user's mistake is reported.

Each command lives in its own module of this package with an ``add_parsers(sub)``
that adds its parser and sets ``func``, the function that runs it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from robustreid import __version__
from robustreid.errors import RobustReidError

log = logging.getLogger("robustreid")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a user's mistake (:class:`RobustReidError`) prints one line and returns 2.

    Every other exception is a bug and keeps its traceback; ``--debug`` shows the
    traceback of a user's mistake too.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_console()
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        note = (
            "; the last completed epoch is checkpointed: rerun with --resume"
            if args.command == "train"
            else ""
        )
        print(f"robustreid {args.command}: interrupted{note}", file=sys.stderr)
        return 130
    except RobustReidError as err:
        if args.debug:
            raise
        print(f"robustreid {args.command}: error: {err}", file=sys.stderr)
        return 2


def _log_to_console() -> None:
    """Our INFO lines on stderr; other libraries' loggers (faiss, matplotlib) stay at WARNING."""
    for old in [h for h in log.handlers if h.get_name() == "console"]:
        log.removeHandler(old)  # main() called again in this process (tests, notebooks): stderr may be new
    handler = logging.StreamHandler()
    handler.set_name("console")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    from robustreid.cli import (
        calibrate,
        config,
        datasets,
        evaluate,
        export,
        extract,
        report,
        search,
        train,
        viz,
    )

    parser = argparse.ArgumentParser(
        prog="robustreid",
        description=(
            "Unsupervised person re-identification: train on unlabeled crops, evaluate, extract features."
        ),
    )
    parser.add_argument("--version", action="version", version=f"robustreid {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (datasets, extract, evaluate, train, config, search, export, calibrate, viz, report):
        command.add_parsers(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
