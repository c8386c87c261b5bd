"""The ``robustreid`` command line: datasets, extract, evaluate, train."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from robustreid import __version__
from robustreid.cli.data_args import add_dataset_options, load_dataset_from
from robustreid.config import DataConfig
from robustreid.errors import DataError, RobustReidError
from robustreid.models import ModelConfig

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
    parser = argparse.ArgumentParser(
        prog="robustreid",
        description=(
            "Unsupervised person re-identification: train on unlabeled crops, evaluate, extract features."
        ),
    )
    parser.add_argument("--version", action="version", version=f"robustreid {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_datasets(sub)
    _add_extract(sub)
    _add_evaluate(sub)
    _add_train(sub)
    _add_model_use_commands(sub)
    return parser


def _add_model_use_commands(sub) -> None:
    """Commands that use a trained model; each lives in its own module of this package."""
    from robustreid.cli import calibrate, export, report, search, viz

    for command in (search, export, calibrate, viz, report):
        command.add_parsers(sub)


# ------------------------------------------------------------------ shared options
def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="a trained robustreid checkpoint (model_best.pth)")
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
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")


def _load_model(args: argparse.Namespace):
    """(model, height, width) from --checkpoint, or an ImageNet-initialised --backbone."""
    from robustreid.inference.checkpoint import load_model
    from robustreid.models import build_model
    from robustreid.utils.runtime import resolve_device

    device = resolve_device(args.device)
    if args.checkpoint:
        trained = load_model(args.checkpoint, device)
        model, height, width = trained.model, trained.preprocessing.height, trained.preprocessing.width
    else:
        model = build_model(args.backbone, weights=args.weights).to(device).eval()
        height, width = DataConfig.height, DataConfig.width
    return model, args.height or height, args.width or width


def _images(paths: list[str], height: int, width: int):
    from robustreid.data.images import ImageDataset
    from robustreid.data.transforms import build_test_transform

    return ImageDataset(paths, height, width, build_test_transform(), preload=False)


# ---------------------------------------------------------------------- datasets
def _add_datasets(sub) -> None:
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


# ----------------------------------------------------------------------- extract
def _add_extract(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="features of a data set split or a folder of images to .npy",
        description="Writes OUT.npy (N x D float32, L2-normalised) and OUT.txt (one image path "
        "per line, same order).",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="data set name (with --split)")
    source.add_argument("--folder", help="a folder of images (searched recursively)")
    p.add_argument("--split", default="gallery", choices=["train", "query", "gallery"])
    p.add_argument("--data-root", default=None)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    _model_options(p)
    p.add_argument("--out", required=True, help="output prefix: writes OUT.npy and OUT.txt")
    p.set_defaults(func=_run_extract)


def _run_extract(args: argparse.Namespace) -> None:
    from robustreid.data.datasets.layout import list_images
    from robustreid.data.images import screen_paths
    from robustreid.inference.features import extract_features
    from robustreid.utils.runtime import require_writable_folder

    paths = (
        [str(p) for p in list_images(Path(args.folder), recursive=True)]
        if args.folder
        else [it.path for it in load_dataset_from(args).split(args.split)]
    )
    if not paths:
        raise DataError(f"no images found under {args.folder}" if args.folder else "no images in that split")
    out = Path(args.out)
    require_writable_folder(out.parent, "--out")
    paths = screen_paths(paths, args.folder or f"{args.dataset} {args.split}")
    model, height, width = _load_model(args)
    features = extract_features(model, _images(paths, height, width), args.batch_size)
    np.save(out.with_suffix(".npy"), features.numpy())
    out.with_suffix(".txt").write_text("\n".join(paths) + "\n")
    print(f"wrote {out.with_suffix('.npy')} {tuple(features.shape)} and {out.with_suffix('.txt')}")


# ---------------------------------------------------------------------- evaluate
def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="mAP / Rank-k of a backbone or checkpoint on a data set",
        description="Extracts query and gallery features and reports mAP, Rank-1/5/10 and mINP "
        "under the standard protocol (same identity + same camera excluded).",
    )
    add_dataset_options(p)
    _model_options(p)
    p.add_argument(
        "--no-camera-filter",
        action="store_true",
        help="do not exclude same-camera matches (for data without camera ids)",
    )
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--ranked-png", help="write a ranked-results picture to this PNG")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    from robustreid.data.images import screen_dataset
    from robustreid.evaluation import format_metrics
    from robustreid.inference.features import evaluate_model
    from robustreid.utils.runtime import require_writable_folder
    from robustreid.viz.ranked import save_ranked_results

    for option, output in (("--json", args.json), ("--ranked-png", args.ranked_png)):
        if output:
            require_writable_folder(Path(output).parent, option)
    dataset = screen_dataset(load_dataset_from(args))
    print(dataset.summary())
    model, height, width = _load_model(args)
    metrics, qf, gf = evaluate_model(
        model,
        _images([it.path for it in dataset.query], height, width),
        _images([it.path for it in dataset.gallery], height, width),
        dataset.query,
        dataset.gallery,
        args.batch_size,
        camera_filter=not args.no_camera_filter,
        rerank=args.rerank,
    )
    print(format_metrics(metrics))
    if args.json:
        summary = {
            "dataset": args.dataset,
            "checkpoint": args.checkpoint,
            "backbone": args.backbone,
            "height": height,
            "width": width,
            "mAP": float(metrics["mAP"]),
            "cmc": [float(x) for x in metrics["cmc"][:20]],
            "mINP": float(metrics["mINP"]),
        }
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if args.ranked_png:
        save_ranked_results(
            qf.numpy(),
            gf.numpy(),
            dataset.query,
            dataset.gallery,
            args.ranked_png,
            camera_filter=not args.no_camera_filter,
        )


# ------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="unsupervised training from a YAML config",
        description="Cluster-contrast training from unlabeled images. The resolved config, "
        "checkpoints, metrics.jsonl, a learning curve and a ranked-results picture "
        "go to the run folder (output_dir). On several GPUs or machines, start it with "
        "`torchrun --nproc_per_node N -m robustreid train ...`; optim.batch_size is the global batch.",
    )
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
    p.add_argument(
        "--resume", action="store_true", help="continue the run in output_dir from its last checkpoint"
    )
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from robustreid.config import load_config
    from robustreid.engine.run import train_and_report

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    cfg = load_config(args.config, overrides)
    train_and_report(cfg, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
