"""The run folder and the checkpoint format, in one place.

A run folder holds everything a training run leaves behind; :class:`RunDir` knows
every file name in it and is the only code that knows what a checkpoint contains.
Two kinds of model file exist:

* ``checkpoint.pth``: the whole training state after the last complete epoch, for
  ``--resume``;
* ``model_best.pth`` (or any file written by :meth:`RunDir.save_model`): the weights
  plus what inference needs to use them, i.e. the architecture and the
  preprocessing.

Both hold only tensors and plain values and are read with
``torch.load(weights_only=True)``, so a file from elsewhere cannot run code. Both
are written atomically (a kill or a full disk never leaves half a file) and carry
the sha256 of their payload, checked on every load, so a damaged file is refused
instead of half-loaded.
Both carry the architecture and preprocessing, and :func:`load_model` reads either
into a ready model.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from robustreid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from robustreid.engine.config import TrainConfig, save_config
from robustreid.errors import CheckpointError
from robustreid.models import ReidModel, model_from_architecture
from robustreid.utils.runtime import atomic_torch_save, atomic_write_text, require_writable_folder

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
class TrainingState:
    """Everything ``--resume`` restores: the state dicts of the parts, the RNGs, and the bookkeeping."""

    epoch: int  # the last complete epoch
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    best: dict[str, Any]  # {"mAP", "epoch"} of model_best.pth
    memory_state: dict[str, Any]  # MemoryState.state_dict(): what strategies carry across epochs
    clusterer_state: dict[str, Any]  # PseudoLabeler.state_dict(): the previous epoch's labels
    rng: dict[str, Any]


@dataclass
class TrainedModel:
    """A model loaded for inference, with the preprocessing it was trained with."""

    model: ReidModel
    preprocessing: Preprocessing
    architecture: dict[str, Any]
    epoch: int
    metrics: dict[str, float]


class RunDir:
    """One run folder: its file names, its metrics log, and its checkpoints."""

    CONFIG = "config.yaml"
    CHECKPOINT = "checkpoint.pth"
    BEST_MODEL = "model_best.pth"
    LAST_MODEL = "model_last.pth"  # every epoch: the model to use when a data set cannot be evaluated
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"
    INITIAL_METRICS = "initial_metrics.json"
    LOG = "log.txt"
    LEARNING_CURVE = "learning_curve.png"
    RANKED_RESULTS = "ranked_results.png"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def create(self) -> RunDir:
        """Make the folder and prove it writable now, not at the first checkpoint an epoch later.

        Also deletes what saves cut short by SIGKILL left behind (``.<name>.*.tmp``, see
        :func:`~robustreid.utils.runtime.atomic_write`): every preemption during a save
        would otherwise leave a checkpoint-sized file.
        """
        require_writable_folder(self.path, "output_dir (--output-dir)")
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        return self

    # ------------------------------------------------------------ config and json
    def save_config(self, config: TrainConfig) -> None:
        """The resolved config, so that the run can be reproduced from this file alone."""
        save_config(config, self / self.CONFIG)

    def write_json(self, name: str, value: Any) -> None:
        """Atomically: a kill while writing must not leave a file that --resume cannot read."""
        atomic_write_text(self / name, json.dumps(value, indent=2))

    def read_json(self, name: str) -> Any | None:
        path = self / name
        return json.loads(path.read_text()) if path.exists() else None

    # ------------------------------------------------------------ metrics log
    def append_metrics(self, record: dict[str, Any]) -> None:
        """One JSON line per epoch."""
        with open(self / self.METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self / self.METRICS
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def truncate_metrics(self, after_epoch: int) -> None:
        """Drop the lines of epochs that the checkpoint does not include (a kill mid-epoch).

        A line cut short by a kill or a full disk while it was appended is dropped too.
        """
        path = self / self.METRICS
        lines = path.read_text().splitlines() if path.exists() else []
        records = [record for record in map(_json_or_none, lines) if record is not None]
        kept = [r for r in records if r["epoch"] <= after_epoch]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))

    # ------------------------------------------------------------ checkpoints
    @property
    def has_checkpoint(self) -> bool:
        return (self / self.CHECKPOINT).exists()

    def save_checkpoint(
        self,
        state: TrainingState,
        model: ReidModel,
        preprocessing: Preprocessing,
        config: TrainConfig | None = None,
    ) -> None:
        """The training state after an epoch, written atomically (a kill never leaves half a file)."""
        payload = {field.name: getattr(state, field.name) for field in fields(state)}
        _save(self / self.CHECKPOINT, {**_model_header(model, preprocessing, config), **payload})

    def load_checkpoint(self, device: torch.device | str = "cpu") -> TrainingState:
        """The state saved by :meth:`save_checkpoint`, for ``--resume``."""
        path = self / self.CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"--resume: no checkpoint at {path}; start without --resume")
        saved = _load(path, device)
        return TrainingState(**{field.name: saved[field.name] for field in fields(TrainingState)})

    def save_model(
        self,
        model: ReidModel,
        preprocessing: Preprocessing,
        epoch: int,
        metrics: dict[str, float],
        config: TrainConfig | None = None,
        name: str = BEST_MODEL,
    ) -> Path:
        """Weights plus what inference needs (architecture, preprocessing); safe to load from anywhere."""
        path = self / name
        header = _model_header(model, preprocessing, config)
        _save(path, {**header, "model": model.state_dict(), "epoch": epoch, "metrics": metrics})
        return path


def _json_or_none(line: str) -> Any | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _model_header(model: ReidModel, preprocessing: Preprocessing, config: Any) -> dict[str, Any]:
    if model.config is None:
        raise ValueError(
            "only models made by robustreid.models.build_model can be saved (model.config is unset)"
        )
    return {
        "architecture": model.config.architecture(),
        "preprocessing": preprocessing.as_dict(),
        "config": OmegaConf.to_container(OmegaConf.structured(config)) if config is not None else None,
    }


def _save(path: Path, content: dict[str, Any]) -> None:
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


def _load(path: Path, device: torch.device | str) -> dict[str, Any]:
    """A file written by :func:`_save`, checked, read with ``weights_only=True``: tensors and plain values only."""
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
    saved = _load(path, device)
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
