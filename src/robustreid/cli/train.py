"""``robustreid train``: unsupervised training from a YAML config into a run folder."""

from __future__ import annotations

import argparse

from robustreid.cli.config_args import add_config_options, config_from


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "train",
        help="unsupervised training from a YAML config",
        description="Cluster-contrast training from unlabeled images. The resolved config, "
        "checkpoints, metrics.jsonl, a learning curve and a ranked-results picture "
        "go to the run folder (output_dir). On several GPUs or machines, start it with "
        "`torchrun --nproc_per_node N -m robustreid train ...`; optim.batch_size is the global batch.",
    )
    add_config_options(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in output_dir from its last checkpoint"
    )
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    config = config_from(args)  # first: a mistake in it is reported without waiting for torch to load
    from robustreid.engine.run import train_and_report

    train_and_report(config, resume=args.resume)
