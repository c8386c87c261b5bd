"""Options shared by the commands that use a model: which one, on which device, in what precision, in what batches.

Every such command embeds through :class:`~robustreid.inference.FeatureExtractor`, so
they share one batch-size default and one ``--dtype``. ``extract`` and ``evaluate``
also take an ImageNet-initialised ``--backbone`` instead of a checkpoint, to measure
where training starts.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from robustreid.config.schema import DataConfig
from robustreid.errors import ConfigError
from robustreid.inference.defaults import DEFAULT_BATCH_SIZE
from robustreid.models.config import ModelConfig

if TYPE_CHECKING:
    from robustreid.inference import FeatureExtractor


def add_extractor_options(
    p: argparse.ArgumentParser, checkpoint_help: str, required: bool = True, dtype: str = "auto"
) -> None:
    """``dtype``: the default precision; ``evaluate``/``extract`` measure, so theirs is the exact fp32."""
    p.add_argument("--checkpoint", required=required, help=checkpoint_help)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="images per forward pass (default: %(default)s)",
    )
    p.add_argument(
        "--dtype",
        default=dtype,
        help="auto | fp32 | bf16; auto: bf16 on CUDA, fp32 on the CPU (default: %(default)s)",
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    """A checkpoint, or an ImageNet-initialised backbone; and the input size, which a checkpoint knows."""
    add_extractor_options(
        p,
        "a trained robustreid checkpoint (model_best.pth); without it, --backbone",
        required=False,
        dtype="fp32",
    )
    p.add_argument(
        "--backbone",
        default=ModelConfig.backbone,
        help="ImageNet-initialised backbone when no --checkpoint is given (default: %(default)s)",
    )
    p.add_argument("--weights", help="ImageNet weights file for backbones without bundled weights (resnet50)")
    p.add_argument(
        "--height", type=int, help=f"input height (default: the checkpoint's, else {DataConfig.height})"
    )
    p.add_argument(
        "--width", type=int, help=f"input width (default: the checkpoint's, else {DataConfig.width})"
    )


def extractor_from(args: argparse.Namespace, checkpoint: str | Path | None = None) -> FeatureExtractor:
    """The :class:`FeatureExtractor` the options ask for; ``checkpoint`` wins over ``--checkpoint``."""
    from robustreid.inference import FeatureExtractor

    checkpoint = checkpoint or args.checkpoint
    if checkpoint is None:
        raise ConfigError("give the trained model with --checkpoint FILE (a model_best.pth)")
    return FeatureExtractor(checkpoint, args.device, args.batch_size, args.dtype)


def model_extractor_from(args: argparse.Namespace) -> FeatureExtractor:
    """--checkpoint's model, else --backbone's ImageNet one; at --height x --width where given."""
    from robustreid.inference import FeatureExtractor, Preprocessing, imagenet_model, load_model
    from robustreid.utils.runtime import resolve_device

    device = resolve_device(args.device)
    if args.checkpoint:
        trained = load_model(args.checkpoint, device)
    else:
        trained = imagenet_model(
            args.backbone, Preprocessing(DataConfig.height, DataConfig.width), args.weights
        )
    size = {
        "height": args.height or trained.preprocessing.height,
        "width": args.width or trained.preprocessing.width,
    }
    trained.preprocessing = replace(trained.preprocessing, **size)
    return FeatureExtractor(trained, device, args.batch_size, args.dtype)
