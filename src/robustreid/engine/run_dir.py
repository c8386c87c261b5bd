"""The run folder: every file name in it, its metrics log, and the training checkpoint.

A run folder holds everything a training run leaves behind; :class:`RunDir` knows
every file name in it and what a training checkpoint holds besides the model. Two
kinds of model file exist:

* ``checkpoint.pth``: the whole training state after the last complete epoch, for
  ``--resume``;
* ``model_best.pth`` (or any file written by :meth:`RunDir.save_model`): the weights
  plus what inference needs to use them, i.e. the architecture and the
  preprocessing.

Both use the file format of :mod:`robustreid.inference.checkpoint` (checksummed,
written atomically, read with ``weights_only=True``), so
:func:`~robustreid.inference.load_model` reads either into a ready model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from robustreid.config import TrainConfig, save_config
from robustreid.errors import CheckpointError
from robustreid.inference.checkpoint import Preprocessing, load_file, model_header, save_file
from robustreid.models import ReidModel
from robustreid.utils.runtime import atomic_write_text, require_writable_folder


@dataclass
class TrainingState:
    """Everything ``--resume`` restores: the state dicts of the parts, the RNGs, and the bookkeeping."""

    epoch: int  # the last complete epoch
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    best: dict[str, Any]  # {"mAP", "epoch"} of model_best.pth
    memory_state: dict[str, Any]  # MemoryState.state_dict(): what strategies carry across epochs
    clusterer_state: dict[
        str, Any
    ]  # Clusterer.state_dict(), e.g. PseudoLabeler's previous labels and kept settings
    rng: dict[str, Any]


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
        save_file(self / self.CHECKPOINT, {**model_header(model, preprocessing, config), **payload})

    def load_checkpoint(self, device: torch.device | str = "cpu") -> TrainingState:
        """The state saved by :meth:`save_checkpoint`, for ``--resume``."""
        path = self / self.CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"--resume: no checkpoint at {path}; start without --resume")
        saved = load_file(path, device)
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
        header = model_header(model, preprocessing, config)
        save_file(path, {**header, "model": model.state_dict(), "epoch": epoch, "metrics": metrics})
        return path


def _json_or_none(line: str) -> Any | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None
