"""``robustreid config show``: the config a run would use, with every default, before anything runs."""

from __future__ import annotations

import argparse

from robustreid.cli.config_args import add_config_options, config_from


def add_parsers(sub) -> None:
    config = sub.add_parser(
        "config",
        help="show the resolved training config",
        description="Every key of a training config lives in one of several dataclasses; `config show` "
        "prints them all, resolved.",
    )
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the resolved config with every default, as YAML",
        description="Defaults <- --config (after its _base_ chain) <- --set, checked as `robustreid train` "
        "checks them. The output is a config file that `robustreid train --config` reads back.",
    )
    add_config_options(show)
    show.set_defaults(func=_run_show)


def _run_show(args: argparse.Namespace) -> None:
    from robustreid.config import config_yaml

    print(config_yaml(config_from(args)), end="")
