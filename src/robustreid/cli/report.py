"""``robustreid report``: a run folder as one self-contained HTML page."""

from __future__ import annotations

import argparse

from robustreid.cli.model_args import add_extractor_options, extractor_from


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "report",
        help="a run folder as one static HTML page (summary, metrics, pictures, config)",
        description="Writes a self-contained HTML page (pictures embedded, nothing fetched) of a training "
        "run: its summary, metrics per epoch, every picture in the folder and its config. --pictures first "
        "draws the pictures that need the model and data (clusters, t-SNE, lowest-AP ranked lists).",
    )
    p.add_argument("run_dir", help="a run folder (output_dir of `robustreid train`)")
    p.add_argument("--out", help="the HTML file to write (default: RUN_DIR/report.html)")
    p.add_argument(
        "--pictures",
        action="store_true",
        help="draw clusters.png, tsne.png and ranks.png into the run folder first (extracts features)",
    )
    add_extractor_options(
        p, "a model to draw --pictures with instead of the run's model_best.pth", required=False
    )
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> None:
    from robustreid.report import write_report

    if args.pictures:
        _draw_pictures(args)
    print(f"wrote {write_report(args.run_dir, args.out)}")


def _draw_pictures(args: argparse.Namespace) -> None:
    from robustreid.report import RunInputs
    from robustreid.report.pictures import cluster_picture, known_identities, ranks_picture, tsne_picture
    from robustreid.report.run_inputs import CLUSTERS_PNG, RANKS_PNG, TSNE_PNG

    run = RunInputs(args.run_dir)
    extractor = extractor_from(args, args.checkpoint or run.model_file)
    cluster_picture(run, extractor, run.run / CLUSTERS_PNG)
    dataset = run.dataset()
    tsne_picture(extractor, dataset.train, run.run / TSNE_PNG, f"{dataset.name} train", run.pseudo_labels)
    if dataset.query and known_identities(dataset.query) is not None:
        camera_filter = run.config.eval.camera_filter
        ranks_picture(extractor, dataset, run.run / RANKS_PNG, sort_by_ap=True, camera_filter=camera_filter)
