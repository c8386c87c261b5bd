"""``robustreid calibrate``: the search threshold for a target false-match rate, from labelled data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robustreid.cli.data_args import add_dataset_options, load_dataset_from
from robustreid.cli.model_args import add_extractor_options, extractor_from
from robustreid.errors import DataError


def add_parsers(sub) -> None:

    p = sub.add_parser(
        "calibrate",
        help="pick the `search --threshold` for a target false-match rate on labelled data",
        description="Embeds a labelled data set's query and gallery, and prints the largest cosine "
        "distance at which at most --target-fmr of the different-identity pairs match, with the share "
        "of same-identity pairs it keeps.",
    )
    add_extractor_options(p, "the trained model (model_best.pth)")
    add_dataset_options(p)
    p.add_argument(
        "--target-fmr", type=float, default=0.01, help="false-match rate to allow (default: %(default)s)"
    )
    p.add_argument(
        "--no-camera-filter",
        action="store_true",
        help="count same-camera pairs of one identity as matches (for data without camera ids)",
    )
    p.add_argument("--png", help="write the distance histograms with the threshold to this PNG")
    p.add_argument("--json", help="write the threshold and its rates to this JSON file")
    p.set_defaults(func=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> None:
    from robustreid.inference.features import labels_of
    from robustreid.search.calibrate import HISTOGRAM_EDGES, calibrate_threshold
    from robustreid.viz.calibration import plot_distance_histograms

    dataset = load_dataset_from(args)
    if not dataset.query or not dataset.gallery:
        raise DataError(f"{args.dataset} has no labelled query and gallery; calibration needs both")
    extractor = extractor_from(args)
    query = extractor([it.path for it in dataset.query], numpy=True)
    gallery = extractor([it.path for it in dataset.gallery], numpy=True)
    q_pids, q_cams = labels_of(dataset.query)
    g_pids, g_cams = labels_of(dataset.gallery)
    calibration = calibrate_threshold(
        query,
        gallery,
        q_pids,
        g_pids,
        q_cams,
        g_cams,
        target_fmr=args.target_fmr,
        camera_filter=not args.no_camera_filter,
    )
    print(calibration.summary())
    if args.png:
        plot_distance_histograms(
            HISTOGRAM_EDGES,
            calibration.positive_counts,
            calibration.negative_counts,
            calibration.threshold,
            args.png,
            title=f"{args.dataset}: cosine distance of query/gallery pairs",
        )
    if args.json:
        Path(args.json).write_text(json.dumps(calibration.as_dict(), indent=2))
