"""Options shared by the commands that read a data set: which one, where, and its extra options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from robustreid.errors import ConfigError

if TYPE_CHECKING:
    from robustreid.data.base import ReidDataset


def add_dataset_options(
    p: argparse.ArgumentParser, required: bool = True, group: argparse._ActionsContainer | None = None
) -> None:
    """``--dataset`` (in ``group`` when it is one of several exclusive sources), ``--data-root``, ``--option``."""
    (group or p).add_argument(
        "--dataset", required=required and group is None, help="data set name (see `robustreid datasets`)"
    )
    p.add_argument("--data-root", default=None, help="folder holding the data set (not needed for synthetic)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra data set option, e.g. num_train_ids=50 for synthetic (repeatable)",
    )


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings to a dict; values are typed as in a YAML file (ints, floats, bools)."""
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--option expects KEY=VALUE, got {pair!r}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(pairs))


def load_dataset_from(args: argparse.Namespace) -> ReidDataset:
    """The data set named by ``--dataset``, ``--data-root`` and ``--option`` (imported late: ``--help`` stays fast)."""
    from robustreid.data import load_dataset

    return load_dataset(args.dataset, args.data_root, **_parse_options(args.option))
