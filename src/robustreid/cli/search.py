"""``robustreid index build|add`` and ``robustreid search``: a gallery index on disk, and queries against it."""

from __future__ import annotations

import argparse

from robustreid.cli.model_args import add_extractor_options, extractor_from


def add_parsers(sub) -> None:
    _add_index(sub)
    _add_search(sub)


def _add_index(sub) -> None:
    index = sub.add_parser(
        "index",
        help="build or extend a gallery index for `robustreid search`",
        description="A gallery index is a folder: the faiss index of the gallery's features, its image "
        "paths, and the model and preprocessing that made them (another model is refused).",
    )
    actions = index.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="embed gallery images into a new index",
        description="Embeds every image under --images with the checkpoint and writes the index folder "
        "--out. Exact search (faiss IndexFlatIP) unless --ivf is given.",
    )
    add_extractor_options(build, "the trained model (model_best.pth) that embeds the gallery")
    build.add_argument("--images", required=True, nargs="+", help="gallery images or folders (recursive)")
    build.add_argument("--out", required=True, help="the index folder to write")
    build.add_argument(
        "--ivf",
        type=int,
        metavar="NLIST",
        help="approximate search with an inverted-file index of NLIST lists, for galleries of millions "
        "(about 4 x sqrt(images) lists; searches 16 of them unless `search --nprobe` says otherwise)",
    )
    build.set_defaults(func=_run_build)
    add = actions.add_parser(
        "add",
        help="add new images to an index",
        description="Embeds the images under --images that the index does not hold yet, with the model "
        "the index was built with, and saves the index.",
    )
    add_extractor_options(
        add, "the model to embed with (default: the checkpoint recorded in the index)", required=False
    )
    add.add_argument("--index", required=True, help="an index folder made by `robustreid index build`")
    add.add_argument("--images", required=True, nargs="+", help="images or folders (recursive)")
    add.set_defaults(func=_run_add)


def _add_search(sub) -> None:
    p = sub.add_parser(
        "search",
        help="rank a gallery index's images for query images",
        description="Prints each query's nearest gallery images with their cosine distances (1 - cos, "
        "0 = identical); with --threshold, a query whose nearest image is farther is 'not in gallery' "
        "(pick the threshold with `robustreid calibrate`).",
    )
    add_extractor_options(
        p, "the model to embed queries with (default: the checkpoint recorded in the index)", required=False
    )
    p.add_argument("--index", required=True, help="an index folder made by `robustreid index build`")
    p.add_argument("--query", required=True, nargs="+", help="query images or folders (recursive)")
    p.add_argument("--topk", type=int, default=10, help="matches per query (default: %(default)s)")
    p.add_argument(
        "--threshold", type=float, help="the cosine distance beyond which a query is not in the gallery"
    )
    p.add_argument(
        "--rerank", action="store_true", help="k-reciprocal re-ranking of each query's 100 nearest"
    )
    p.add_argument("--nprobe", type=int, help="inverted lists to search in an --ivf index")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--csv", help="write the results to this CSV file (one row per match)")
    p.add_argument("--png", help="write a picture of the ranked lists to this PNG")
    p.set_defaults(func=_run_search)


def _run_build(args: argparse.Namespace) -> None:
    from robustreid.search import GalleryIndex

    extractor = extractor_from(args)
    gallery = GalleryIndex.build(extractor, args.images, ivf_nlist=args.ivf)
    gallery.save(args.out)
    print(f"indexed {len(gallery)} images with {extractor.checkpoint} into {args.out}")


def _run_add(args: argparse.Namespace) -> None:
    from robustreid.search import GalleryIndex

    gallery = GalleryIndex.load(args.index)
    added = gallery.add(extractor_from(args, args.checkpoint or gallery.checkpoint), args.images)
    if added:
        gallery.save(args.index)
    print(f"added {added} new images to {args.index}; it holds {len(gallery)}")


def _run_search(args: argparse.Namespace) -> None:
    from robustreid.search import GalleryIndex
    from robustreid.search.results import format_results, save_results_png, write_csv, write_json

    gallery = GalleryIndex.load(args.index)
    extractor = extractor_from(args, args.checkpoint or gallery.checkpoint)
    results = gallery.query(extractor, args.query, args.topk, args.threshold, args.rerank, args.nprobe)
    print(format_results(results, args.threshold))
    if args.json:
        write_json(results, args.json, args.threshold)
    if args.csv:
        write_csv(results, args.csv)
    if args.png:
        save_results_png(results, args.png, args.threshold)
