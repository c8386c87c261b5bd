"""``robustreid datasets``: the registered data sets, or one of them summarised."""

from __future__ import annotations

import argparse

from robustreid.cli.data_args import add_dataset_options, load_dataset_from


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "datasets",
        help="list the data sets, or summarise one at a root",
        description="Without --dataset: list the registered data sets. With it: load and "
        "print ids / images / cameras per split.",
    )
    add_dataset_options(p, required=False)
    p.set_defaults(func=_run_datasets)


def _run_datasets(args: argparse.Namespace) -> None:
    from robustreid.data import dataset_names

    if args.dataset is None:
        print("\n".join(dataset_names()))
        return
    print(load_dataset_from(args).summary())
