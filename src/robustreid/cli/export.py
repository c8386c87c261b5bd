"""``robustreid export``: a trained model as an ONNX or TorchScript file, checked against PyTorch."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a trained model as ONNX or TorchScript for deployment",
        description="The exported model takes float32 RGB in [0, 1], (N, 3, H, W) at the trained size "
        "(any N), normalises inside, and returns L2-normalised embeddings. The file is then run on "
        "real images and compared with PyTorch: the max abs difference must be below 1e-4.",
    )
    p.add_argument("--checkpoint", required=True, help="the trained model (model_best.pth)")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    p.add_argument("--out", required=True, help="the file to write, e.g. reid.onnx or reid.pt")
    p.add_argument(
        "--check-images",
        nargs="+",
        help="images or folders for the parity check (default: a few synthetic person crops)",
    )
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from robustreid.inference.export import export_model

    print(export_model(args.checkpoint, args.format, args.out, args.check_images).summary())
