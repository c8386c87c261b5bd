"""``robustreid evaluate``: mAP / Rank-k of a trained or ImageNet-initialised model on a data set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robustreid.cli.data_args import add_dataset_options, load_dataset_from
from robustreid.cli.model_args import add_model_options, model_extractor_from


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="mAP / Rank-k of a backbone or checkpoint on a data set",
        description="Extracts query and gallery features and reports mAP, Rank-1/5/10 and mINP "
        "under the standard protocol (same identity + same camera excluded).",
    )
    add_dataset_options(p)
    add_model_options(p)
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
    """Cheap checks first (output folders, the model), then the data set, whose screening reads every image."""
    from robustreid.data.images import screen_dataset
    from robustreid.evaluation import format_metrics
    from robustreid.inference import evaluate_split
    from robustreid.utils.runtime import require_writable_folder
    from robustreid.viz.ranked import save_ranked_results

    for option, output in (("--json", args.json), ("--ranked-png", args.ranked_png)):
        if output:
            require_writable_folder(Path(output).parent, option)
    extractor = model_extractor_from(args)
    dataset = screen_dataset(load_dataset_from(args))
    print(dataset.summary())
    query = extractor([it.path for it in dataset.query])
    gallery = extractor([it.path for it in dataset.gallery])
    camera_filter = not args.no_camera_filter
    metrics = evaluate_split(query, gallery, dataset.query, dataset.gallery, camera_filter, args.rerank)
    print(format_metrics(metrics))
    if args.json:
        Path(args.json).write_text(json.dumps(_summary(args, extractor.preprocessing, metrics), indent=2))
    if args.ranked_png:
        save_ranked_results(
            query.numpy(),
            gallery.numpy(),
            dataset.query,
            dataset.gallery,
            args.ranked_png,
            camera_filter=camera_filter,
        )


def _summary(args: argparse.Namespace, preprocessing, metrics: dict) -> dict:
    return {
        "dataset": args.dataset,
        "checkpoint": args.checkpoint,
        "backbone": args.backbone,
        "height": preprocessing.height,
        "width": preprocessing.width,
        "mAP": float(metrics["mAP"]),
        "cmc": [float(x) for x in metrics["cmc"][:20]],
        "mINP": float(metrics["mINP"]),
    }
