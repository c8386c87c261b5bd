"""``robustreid viz ranks|tsne|clusters|curves``: pictures of what a trained model does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robustreid.cli.data_args import add_dataset_options, load_dataset_from
from robustreid.cli.model_args import add_extractor_options, extractor_from
from robustreid.errors import ConfigError, DataError


def add_parsers(sub) -> None:
    viz = sub.add_parser(
        "viz",
        help="pictures: ranked lists, t-SNE, clusters, learning curves",
        description="Each picture is a PNG. With --run RUN_DIR (or a RUN_DIR argument) the model, data "
        "set and clustering settings are the run's and the PNG goes into the run folder unless --out says "
        "otherwise; `robustreid report RUN_DIR` shows them all on one page.",
    )
    pictures = viz.add_subparsers(dest="picture", required=True, metavar="PICTURE")
    ranks = _with_source(
        pictures.add_parser(
            "ranks",
            help="queries and their top-k matches, green/red by identity",
            description="Each row a query (captioned with its AP), then its top-k gallery matches under the "
            "evaluation protocol, framed green (same identity) or red, captioned with the cosine distance.",
        )
    )
    ranks.add_argument("--topk", type=int, default=10, help="matches per query (default: %(default)s)")
    ranks.add_argument("--num-queries", type=int, default=8, help="rows to draw (default: %(default)s)")
    ranks.add_argument(
        "--sort-by-ap", action="store_true", help="draw the lowest-AP queries (default: random ones)"
    )
    ranks.add_argument("--no-camera-filter", action="store_true", help="keep same-camera matches")
    ranks.add_argument(
        "--json", help="write every query's ranked list (paths, ids, distances, AP) to this JSON"
    )
    ranks.set_defaults(func=_run_ranks)

    tsne = _with_source(
        pictures.add_parser(
            "tsne",
            help="a t-SNE map of the features, by identity or pseudo-label",
            description="t-SNE (scikit-learn) of a split's features; outliers and unknown identities grey.",
        )
    )
    tsne.add_argument("--split", default="train", choices=["train", "query", "gallery"])
    tsne.add_argument(
        "--color-by",
        default="truth",
        choices=["truth", "pseudo"],
        help="ground-truth identity, or pseudo-labels of the plotted images (the run's cluster settings "
        "with --run, the defaults otherwise) (default: %(default)s)",
    )
    tsne.add_argument("--max-points", type=int, default=2000, help="a seeded sample of this many images")
    tsne.set_defaults(func=_run_tsne)

    clusters = pictures.add_parser(
        "clusters",
        help="sample members of pseudo-label clusters and the cluster sizes",
        description="Re-clusters the run's training images with its model and cluster settings and draws "
        "sample members of clusters from the largest to the smallest (green/red by majority identity, "
        "with purity, when labels exist) and a histogram of cluster sizes.",
    )
    clusters.add_argument("run_dir", help="a run folder (output_dir of `robustreid train`)")
    clusters.add_argument(
        "--num-clusters", type=int, default=8, help="clusters to draw (default: %(default)s)"
    )
    clusters.add_argument("--members", type=int, default=8, help="members per cluster (default: %(default)s)")
    clusters.add_argument("--out", help="the PNG to write (default: RUN_DIR/clusters.png)")
    add_extractor_options(clusters, "a model to use instead of the run's model_best.pth", required=False)
    clusters.set_defaults(func=_run_clusters)

    curves = pictures.add_parser(
        "curves",
        help="loss, clusters, outliers and mAP per epoch of a run",
        description="Redraws a run's learning curve from its metrics.jsonl.",
    )
    curves.add_argument("run_dir", help="a run folder (output_dir of `robustreid train`)")
    curves.add_argument("--out", help="the PNG to write (default: RUN_DIR/learning_curve.png)")
    curves.set_defaults(func=_run_curves)


def _with_source(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Where the model and images come from: a run folder, or a checkpoint and a data set."""

    p.add_argument("--run", help="a run folder: its model_best.pth, data set and cluster settings")
    add_extractor_options(p, "a trained model (with --dataset, instead of --run)", required=False)
    add_dataset_options(p, required=False)
    p.add_argument("--out", help="the PNG to write (default with --run: a PNG in the run folder)")
    return p


def _source(args: argparse.Namespace):
    """(extractor, data set, the run or None) from --run, or from --checkpoint and --dataset."""
    from robustreid.report import RunInputs

    if args.run:
        run = RunInputs(args.run)
        extractor = extractor_from(args, args.checkpoint or run.model_file)
        return extractor, run.dataset(), run
    if not (args.checkpoint and args.dataset):
        raise ConfigError(
            "give --run RUN_DIR, or --checkpoint FILE with --dataset NAME (and --data-root DIR)"
        )
    return extractor_from(args), load_dataset_from(args), None


def _out_png(args: argparse.Namespace, run, name: str) -> Path:
    """--out, else the picture's file in the run folder (where `robustreid report` looks for it)."""
    if args.out:
        return Path(args.out)
    if run is None:
        raise ConfigError("--out PNG is needed without --run")
    return run.run / name


def _run_ranks(args: argparse.Namespace) -> None:
    from robustreid.report.pictures import known_identities, ranks_picture
    from robustreid.report.run_inputs import RANKS_PNG
    from robustreid.viz.ranked import choose_rank_lists

    extractor, dataset, run = _source(args)
    if not dataset.query or known_identities(dataset.query) is None:
        raise DataError(
            "viz ranks needs a labelled query split (and a gallery); for unlabelled images draw "
            "`robustreid search --png`"
        )
    out = _out_png(args, run, RANKS_PNG)
    lists = ranks_picture(
        extractor, dataset, out, args.topk, args.num_queries, args.sort_by_ap, not args.no_camera_filter
    )
    print(f"wrote {out}")
    if args.json:
        ordered = choose_rank_lists(lists, len(lists), sort_by_ap=True) if args.sort_by_ap else lists
        Path(args.json).write_text(json.dumps([rl.as_dict() for rl in ordered], indent=1))
        print(f"wrote {args.json} ({len(ordered)} ranked lists)")


def _run_tsne(args: argparse.Namespace) -> None:
    from robustreid.clustering import cluster_pseudo_labels
    from robustreid.report.pictures import tsne_picture
    from robustreid.report.run_inputs import TSNE_PNG

    extractor, dataset, run = _source(args)
    items = dataset.split(args.split)
    if len(items) < 3:
        raise DataError(f"the {args.split} split has {len(items)} images; t-SNE needs at least 3")
    labeler = None
    if args.color_by == "pseudo":
        labeler = run.pseudo_labels if run is not None else cluster_pseudo_labels
    out = _out_png(args, run, TSNE_PNG)
    title = f"{dataset.name} {args.split}, {extractor.checkpoint.name}"
    tsne_picture(extractor, items, out, title, labeler, args.max_points)
    print(f"wrote {out}")


def _run_clusters(args: argparse.Namespace) -> None:
    from robustreid.report import RunInputs
    from robustreid.report.pictures import cluster_picture
    from robustreid.report.run_inputs import CLUSTERS_PNG

    run = RunInputs(args.run_dir)
    out = Path(args.out) if args.out else run.run / CLUSTERS_PNG
    stats = cluster_picture(
        run, extractor_from(args, args.checkpoint or run.model_file), out, args.num_clusters, args.members
    )
    purity = f", purity {stats['purity']:.3f}" if "purity" in stats else ""
    print(f"wrote {out}: {stats['num_clusters']} clusters, {stats['num_outliers']} outliers{purity}")


def _run_curves(args: argparse.Namespace) -> None:
    from robustreid.engine.run_dir import RunDir
    from robustreid.viz.curves import plot_learning_curve

    run = RunDir(args.run_dir)
    records = run.read_metrics()
    if not records:
        raise DataError(f"no {RunDir.METRICS} in {run.path}: give a run folder that has trained an epoch")
    out = Path(args.out) if args.out else run / RunDir.LEARNING_CURVE
    plot_learning_curve(records, out, title=str(run.path))
    print(f"wrote {out}")
