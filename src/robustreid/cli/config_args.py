"""Options shared by the commands that resolve a training config: the file, the ``--set`` overrides, two shortcuts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robustreid.config import TrainConfig


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (see configs/); unspecified keys keep their defaults")
    p.add_argument("--data-root", help="shortcut for --set data.root=DIR")
    p.add_argument("--output-dir", help="shortcut for --set output_dir=DIR")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config value, e.g. --set optim.epochs=10 (repeatable; unknown keys and "
        "wrong types are rejected)",
    )


def config_from(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- --config <- --set <- the shortcuts, checked (imported late: ``--help`` stays fast)."""
    from robustreid.config import load_config

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    return load_config(args.config, overrides)
