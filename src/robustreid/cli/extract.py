"""``robustreid extract``: features of a data set split or a folder of images, to .npy."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustreid.cli.data_args import add_dataset_options, load_dataset_from
from robustreid.cli.model_args import add_model_options, model_extractor_from
from robustreid.errors import DataError


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="features of a data set split or a folder of images to .npy",
        description="Writes OUT.npy (N x D float32, L2-normalised) and OUT.txt (one image path "
        "per line, same order).",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="a folder of images (searched recursively)")
    add_dataset_options(p, group=source)
    p.add_argument("--split", default="gallery", choices=["train", "query", "gallery"])
    add_model_options(p)
    p.add_argument("--out", required=True, help="output prefix: writes OUT.npy and OUT.txt")
    p.set_defaults(func=_run_extract)


def _run_extract(args: argparse.Namespace) -> None:
    """Cheap checks first (the output folder, the images' names, the model), then the reading of every image."""
    import numpy as np

    from robustreid.data.images import screen_paths
    from robustreid.utils.runtime import require_writable_folder

    out = Path(args.out)
    require_writable_folder(out.parent, "--out")
    paths = _image_paths(args)
    extractor = model_extractor_from(args)
    paths = screen_paths(paths, args.folder or f"{args.dataset} {args.split}")
    features = extractor(paths, numpy=True)
    np.save(out.with_suffix(".npy"), features)
    out.with_suffix(".txt").write_text("\n".join(paths) + "\n")
    print(f"wrote {out.with_suffix('.npy')} {features.shape} and {out.with_suffix('.txt')}")


def _image_paths(args: argparse.Namespace) -> list[str]:
    from robustreid.data.datasets.layout import list_images

    if args.folder:
        paths = [str(p) for p in list_images(Path(args.folder), recursive=True)]
    else:
        paths = [it.path for it in load_dataset_from(args).split(args.split)]
    if not paths:
        raise DataError(f"no images found under {args.folder}" if args.folder else "no images in that split")
    return paths
