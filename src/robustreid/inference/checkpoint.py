"""The model file format, and :func:`load_model`, which reads any robustreid model file into a ready model.

Every file robustreid writes with weights (a run's ``model_best.pth`` or its
``checkpoint.pth``) starts with the same header: the architecture and the
preprocessing, i.e. what inference needs to use the weights without the training
config. Training adds its state to that header (see :mod:`robustreid.engine.run_dir`);
inference reads only the header and the weights, so it lives here and never
imports the training code.

Files hold only tensors and plain values and are read with
``torch.load(weights_only=True)``, so a file from elsewhere cannot run code. They
are written atomically (a kill or a full disk never leaves half a file) and carry
the sha256 of their payload, checked on every load, so a damaged file is refused
instead of half-loaded.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from robustreid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from robustreid.errors import CheckpointError
from robustreid.models import ReidModel, build_model, model_from_architecture
from robustreid.utils.runtime import atomic_torch_save

#: Bumped when the layout of a model file or checkpoint changes incompatibly.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for a model: resized to height x width, then normalised."""

    height: int
    width: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def as_dict(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        return cls(values["height"], values["width"], tuple(values["mean"]), tuple(values["std"]))


@dataclass
class TrainedModel:
    """A model loaded for inference, with the preprocessing it was trained with."""

    model: ReidModel
    preprocessing: Preprocessing
    architecture: dict[str, Any]
    epoch: int
    metrics: dict[str, float]


def model_header(model: ReidModel, preprocessing: Preprocessing, config: Any = None) -> dict[str, Any]:
    """What every model file holds besides the weights: the architecture, the preprocessing, the run's config."""
    if model.config is None:
        raise ValueError(
            "only models made by robustreid.models.build_model can be saved (model.config is unset)"
        )
    return {
        "architecture": model.config.architecture(),
        "preprocessing": preprocessing.as_dict(),
        "config": OmegaConf.to_container(OmegaConf.structured(config)) if config is not None else None,
    }


def save_file(path: Path, content: dict[str, Any]) -> None:
    """``content`` serialised, wrapped with its format version and sha256, written atomically."""
    buffer = io.BytesIO()
    torch.save(content, buffer)
    payload = buffer.getvalue()
    wrapper = {
        "format_version": FORMAT_VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    try:
        atomic_torch_save(wrapper, path)
    except OSError as err:  # a full disk, a lost network share: the file keeps its previous content
        raise CheckpointError(
            f"could not write {path} ({err.strerror or err}); it keeps its previous content: "
            "free disk space, then rerun with --resume"
        ) from None


def load_file(path: Path, device: torch.device | str) -> dict[str, Any]:
    """A file written by :func:`save_file`, checked, read with ``weights_only=True``: tensors and plain values only."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    wrapper = _torch_load(path, path, "cpu")
    if not isinstance(wrapper, dict) or wrapper.get("format_version") != FORMAT_VERSION:
        found = wrapper.get("format_version") if isinstance(wrapper, dict) else type(wrapper).__name__
        raise CheckpointError(
            f"{path} is not a robustreid checkpoint of format {FORMAT_VERSION} (found {found!r}); "
            "use a model_best.pth or checkpoint.pth written by robustreid train"
        )
    payload = wrapper["payload"].numpy().tobytes()
    if hashlib.sha256(payload).hexdigest() != wrapper["sha256"]:
        raise CheckpointError(f"{path} is damaged: its sha256 does not match; use an earlier copy or retrain")
    return _torch_load(io.BytesIO(payload), path, device)


def _torch_load(source: Path | io.BytesIO, path: Path, device: torch.device | str) -> Any:
    """``torch.load(weights_only=True)``; anything it cannot read is not a checkpoint of ours."""
    try:
        return torch.load(source, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path} is not a robustreid checkpoint: {reason}") from None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> TrainedModel:
    """A model file or training checkpoint as an eval-mode model on ``device``, with its preprocessing."""
    path = Path(path)
    saved = load_file(path, device)
    model = model_from_architecture(saved["architecture"])
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as err:
        raise CheckpointError(f"the weights in {path} do not fit its architecture: {err}") from None
    model = model.to(device).eval()
    return TrainedModel(
        model,
        Preprocessing.from_dict(saved["preprocessing"]),
        saved["architecture"],
        saved.get("epoch", -1),
        saved.get("metrics", {}),
    )


def imagenet_model(backbone: str, preprocessing: Preprocessing, weights: str | None = None) -> TrainedModel:
    """``backbone`` with ImageNet weights under the re-ID head, untrained: what training starts from.

    ``weights`` is an ImageNet state_dict file for backbones without bundled weights
    (resnet50). Evaluating it measures direct transfer, the baseline of every run.
    """
    model = build_model(backbone, weights=weights).eval()
    return TrainedModel(model, preprocessing, model.config.architecture(), epoch=-1, metrics={})
