"""What the reliability tests share: image files of every kind, a tiny data set, a tiny training config."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from robustreid.config import TrainConfig, load_config
from robustreid.data import load_dataset
from robustreid.data.base import ReidDataset
from robustreid.data.synthetic import generate_synthetic
from robustreid.engine.builder import build_trainer
from robustreid.engine.observers import EpochObserver
from robustreid.engine.run_dir import RunDir
from robustreid.utils.runtime import seed_everything

#: The tiny synthetic set: 10 training and 6 test identities of 6-8 crops at 64 x 32.
SYNTHETIC = {
    "num_train_ids": 10,
    "num_test_ids": 6,
    "images_per_id": (6, 8),
    "height": 64,
    "width": 32,
    "seed": 1,
}

#: What the reliability runs change in the tiny training run: a few seconds (about 12 clusters of 70 images),
#: on the set above, evaluated after the last epoch only.
FASTER = [
    "data.name=synthetic",
    "model.frozen_stages=4",  # a faster backward pass
    "optim.batch_size=16",
    "optim.iters=4",
    "cluster.eps=0.6",
    "cluster.k1=6",
    "cluster.k2=3",
    "eval.every=0",  # evaluate after the last epoch only
    "eval.batch_size=256",  # one batch per split: fewer shapes for the CPU kernels to prepare
]

WriteImage = Callable[..., Path]


def synthetic_overrides(root: Path) -> list[str]:
    """``--set`` values that make ``data.name=synthetic`` read the set generated under ``root``."""
    options = ", ".join(
        f"{key}: {list(value) if isinstance(value, tuple) else value}" for key, value in SYNTHETIC.items()
    )
    return [f"data.root={root}", f"data.options={{{options}}}"]


@pytest.fixture(scope="session")
def market_style_root(tmp_path_factory) -> Path:
    """The tiny set, generated once, laid out like Market-1501 (``--dataset market1501 --data-root`` it)."""
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), **SYNTHETIC)


@pytest.fixture(scope="session")
def synthetic_root(market_style_root) -> Path:
    """``data.root`` for ``data.name=synthetic``: the folder in which the loader finds the set generated."""
    return market_style_root.parent


@pytest.fixture(scope="session")
def tiny_dataset(synthetic_root) -> ReidDataset:
    return load_dataset("synthetic", synthetic_root, **SYNTHETIC)


def gradient_image(mode: str, size: tuple[int, int]) -> Image.Image:
    """A (width, height) image in ``mode``, dark at the top and bright at the bottom, so its values are known."""
    width, height = size
    ramp = np.linspace(0, 1, height)[:, None].repeat(width, axis=1)
    if mode == "I;16":
        return Image.fromarray((ramp * 65535).astype(np.uint16))  # PIL stores uint16 as I;16
    return Image.fromarray((ramp * 255).astype(np.uint8)).convert(mode)


@pytest.fixture
def write_image() -> WriteImage:
    """``write_image(path, mode="RGB", size=(32, 64))``: an image file in that mode, format from the suffix."""

    def write(path: Path, mode: str = "RGB", size: tuple[int, int] = (32, 64)) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        gradient_image(mode, size).save(path)
        return path

    return write


@pytest.fixture(scope="session")
def tiny_sets(tiny_training) -> list[str]:
    """The ``--set`` values of a reliability run: the tiny training run, made :data:`FASTER`."""
    return [*tiny_training, *FASTER]


@pytest.fixture
def tiny_train(tiny_sets, synthetic_root) -> Callable[..., list[str]]:
    """``tiny_train(output_dir, *overrides, synthetic=True)``: the arguments of a few-second ``robustreid train``."""

    def args(output_dir: Path, *overrides: str, synthetic: bool = True) -> list[str]:
        """``synthetic``: train on the tiny synthetic set; else ``overrides`` name the data."""
        sets = [*tiny_sets, *(synthetic_overrides(synthetic_root) if synthetic else []), *overrides]
        return [
            "train",
            "--output-dir",
            str(output_dir),
            *(item for value in sets for item in ("--set", value)),
        ]

    return args


@pytest.fixture(scope="session")
def tiny_config(tiny_sets, synthetic_root) -> Callable[..., TrainConfig]:
    """``tiny_config(output_dir, *overrides)``: the config of ``tiny_train``, for a run in this process."""
    return lambda output_dir, *overrides: load_config(
        None, [*tiny_sets, *synthetic_overrides(synthetic_root), f"output_dir={output_dir}", *overrides]
    )


class LabelRecorder(EpochObserver):
    """Keeps every epoch's pseudo-labels."""

    def __init__(self) -> None:
        self.labels: list[np.ndarray] = []

    def on_clustered(self, epoch: int, features: torch.Tensor, labels: np.ndarray) -> None:
        self.labels.append(labels.copy())


@dataclass
class FinishedRun:
    """What a run leaves to compare: its pseudo-labels, its epoch records without timings, its folder."""

    labels: list[np.ndarray]
    records: list[dict[str, Any]]
    seconds: float  # of training, after the parts were built
    run_dir: Path


def without_timings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Epoch records without their timings, which no two runs share."""
    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in records]


def seeded_run(cfg: TrainConfig, dataset: ReidDataset) -> FinishedRun:
    """What ``robustreid train`` does (seed, build, fit), also recording the pseudo-labels."""
    seed_everything(cfg.seed)
    trainer = build_trainer(cfg, dataset=dataset)
    recorder = LabelRecorder()
    trainer.observers.append(recorder)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    run_dir = Path(cfg.output_dir)
    return FinishedRun(recorder.labels, without_timings(RunDir(run_dir).read_metrics()), seconds, run_dir)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, tiny_config, tiny_dataset) -> FinishedRun:
    """One undisturbed tiny run: what a repeated run and an interrupted run must both reproduce."""
    return seeded_run(tiny_config(tmp_path_factory.mktemp("reference")), tiny_dataset)


@pytest.fixture
def train_seeded(tiny_dataset) -> Callable[[TrainConfig], FinishedRun]:
    """``train_seeded(cfg)``: :func:`seeded_run` on the tiny set."""
    return lambda cfg: seeded_run(cfg, tiny_dataset)


@pytest.fixture
def records_of() -> Callable[[Path], list[dict[str, Any]]]:
    """``records_of(run_dir)``: its metrics.jsonl without timings, to compare with ``FinishedRun.records``."""
    return lambda run_dir: without_timings(RunDir(run_dir).read_metrics())
