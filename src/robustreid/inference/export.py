"""A trained model as an ONNX or TorchScript file for deployment, checked against PyTorch.

The exported graph takes what an application has in hand: float32 RGB in [0, 1],
(N, 3, H, W) at the size the model was trained at, any N. The checkpoint's
normalisation is inside the graph and the output is the L2-normalised embedding,
so the file is a drop-in for :class:`robustreid.FeatureExtractor` (whose features of
the same images it reproduces) with nothing left for the caller to get wrong.

Every export ends with a parity check: the file is run (ONNX by onnxruntime,
TorchScript by torch.jit) on real images, in a batch of another size than the one it
was traced with, and compared with the eager PyTorch features; a file whose maximum
absolute difference is not below :data:`PARITY_TOLERANCE` is deleted and the export
fails.

ONNX uses torch's TorchScript-based exporter: the torch.export-based one needs the
onnxscript package besides onnx, and gives the same graph for this convolutional
network. The input size is fixed (the TF "SAME" padding of EfficientNet-Lite is
computed from it when tracing), which is why tracing warnings are silenced.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from inspect import signature
from pathlib import Path

import torch
from torch import nn

from robustreid.data.images import read_resized
from robustreid.data.synthetic import generate_synthetic
from robustreid.errors import ConfigError, RobustReidError
from robustreid.inference.checkpoint import Preprocessing
from robustreid.inference.extractor import FeatureExtractor, image_paths

PARITY_TOLERANCE = 1e-4
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "features"
TRACE_BATCH = 2  # the parity check uses another batch size, which shows the batch axis is dynamic
MAX_CHECK_IMAGES = 16


class NormalisedInputModel(nn.Module):
    """``model((images - mean) / std)``: the deployable graph, with the checkpoint's normalisation built in."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model((images - self.mean) / self.std)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    preprocessing: Preprocessing
    feature_dim: int
    num_check_images: int
    max_abs_diff: float

    def summary(self) -> str:
        p = self.preprocessing
        return (
            f"wrote {self.path} ({self.format}): input {INPUT_NAME!r} float32 (N, 3, {p.height}, {p.width}) "
            f"RGB in [0, 1], output {OUTPUT_NAME!r} (N, {self.feature_dim}) L2-normalised\n"
            f"parity with PyTorch on {self.num_check_images} images: max abs difference "
            f"{self.max_abs_diff:.2e} (< {PARITY_TOLERANCE:.0e})"
        )


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise RobustReidError(
            f"ONNX export needs the onnx and onnxruntime packages ({err.name} is missing): "
            "pip install 'robustreid[export]'"
        ) from None


# torch >= 2.9 defaults to the torch.export-based exporter (which needs onnxscript); before 2.5 there is no choice
_TORCHSCRIPT_BASED_EXPORTER = {"dynamo": False} if "dynamo" in signature(torch.onnx.export).parameters else {}


def _export_onnx(module: nn.Module, example: torch.Tensor, out: Path) -> None:
    import onnx

    batch_axis = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            str(out),
            **_TORCHSCRIPT_BASED_EXPORTER,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: batch_axis, OUTPUT_NAME: batch_axis},
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(str(out))


def _run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})[0])


def _export_torchscript(module: nn.Module, example: torch.Tensor, out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, example, check_trace=False)  # the parity check is stricter
    traced.save(str(out))


def _run_torchscript(path: Path, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.jit.load(str(path), map_location="cpu")(images)


@dataclass(frozen=True)
class _Format:
    export: Callable[[nn.Module, torch.Tensor, Path], None]
    run: Callable[[Path, torch.Tensor], torch.Tensor]
    requires: Callable[[], None] = lambda: None


FORMATS = {
    "onnx": _Format(_export_onnx, _run_onnx, _require_onnx),
    "torchscript": _Format(_export_torchscript, _run_torchscript),
}


def export_model(
    checkpoint: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike,
    check_images: Sequence[str | os.PathLike] | None = None,
) -> ExportResult:
    """Write ``checkpoint`` as ``fmt`` ("onnx" | "torchscript") to ``out`` and check it on images.

    ``check_images``: image files or folders for the parity check; by default a few
    synthetic person crops, drawn on the spot.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}")
    chosen = FORMATS[fmt]
    chosen.requires()
    reference = FeatureExtractor(checkpoint, device="cpu", dtype="fp32")
    p = reference.preprocessing
    module = NormalisedInputModel(reference.model, p).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    chosen.export(module, torch.rand(TRACE_BATCH, 3, p.height, p.width), out)
    images = _check_batch(check_images, p)
    diff = float((chosen.run(out, images) - reference(images)).abs().max())
    if not diff < PARITY_TOLERANCE:
        out.unlink()
        raise RobustReidError(
            f"the {fmt} export differs from PyTorch by {diff:.2e} (>= {PARITY_TOLERANCE:.0e}) on "
            f"{len(images)} images, so it was deleted; please report this with the checkpoint's architecture"
        )
    return ExportResult(out, fmt, p, reference.feature_dim, len(images), diff)


def _check_batch(sources: Sequence[str | os.PathLike] | None, p: Preprocessing) -> torch.Tensor:
    """Up to :data:`MAX_CHECK_IMAGES` images as a float [0, 1] batch at the model's size."""
    if sources:
        return _as_batch(image_paths(sources)[:MAX_CHECK_IMAGES], p)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_synthetic(Path(tmp), num_train_ids=2, num_test_ids=1, images_per_id=(4, 4))
        return _as_batch(sorted(map(str, root.rglob("*.jpg")))[:MAX_CHECK_IMAGES], p)


def _as_batch(paths: list[str], p: Preprocessing) -> torch.Tensor:
    return torch.stack([read_resized(path, p.height, p.width) for path in paths]).float() / 255
