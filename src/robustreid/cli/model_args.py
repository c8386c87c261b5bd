"""Options shared by the commands that use a trained model: which checkpoint, on which device, in what precision."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustreid.errors import ConfigError


def add_extractor_options(p: argparse.ArgumentParser, checkpoint_help: str, required: bool = True) -> None:
    p.add_argument("--checkpoint", required=required, help=checkpoint_help)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    p.add_argument(
        "--batch-size", type=int, default=64, help="images per forward pass (default: %(default)s)"
    )
    p.add_argument(
        "--dtype",
        default="auto",
        help="auto | fp32 | bf16; auto: bf16 on CUDA, fp32 on the CPU (default: auto)",
    )


def extractor_from(args: argparse.Namespace, checkpoint: str | Path | None = None):
    """The :class:`FeatureExtractor` the options ask for; ``checkpoint`` wins over ``--checkpoint``."""
    from robustreid.inference.extractor import FeatureExtractor

    checkpoint = checkpoint or args.checkpoint
    if checkpoint is None:
        raise ConfigError("give the trained model with --checkpoint FILE (a model_best.pth)")
    return FeatureExtractor(checkpoint, args.device, args.batch_size, args.dtype)
