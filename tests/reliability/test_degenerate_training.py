"""Epochs whose clustering degenerates, and a loss that diverges: handled, and the last checkpoint kept."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from robustreid.config import EvalConfig, OptimConfig
from robustreid.engine.builder import build_observers, build_optimizer, build_scheduler
from robustreid.engine.run_dir import RunDir
from robustreid.engine.trainer import Trainer, TrainImages
from robustreid.errors import TrainingDivergedError
from robustreid.inference.checkpoint import load_model
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.settings import MemoryConfig
from robustreid.models import build_model


class PlantedLabels:
    """A clusterer that returns the labels it was given: the outcomes DBSCAN can produce on bad features."""

    def __init__(self, labels_for: Callable[[int], np.ndarray]) -> None:
        self.labels_for = labels_for

    def __call__(self, features: np.ndarray, cameras: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        return self.labels_for(len(features)).astype(np.int64), {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@pytest.fixture(scope="module")
def images(tiny_dataset) -> TrainImages:
    return TrainImages.from_dataset(tiny_dataset, height=64, width=32)


def planted_trainer(tiny_dataset, images, run_dir, labels_for, epochs: int = 1) -> Trainer:
    """A tiny run on ``images`` whose clustering always returns ``labels_for(N)``, with the usual observers."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", pretrained=False)
    schedule = OptimConfig(epochs=epochs, iters=2, batch_size=16, num_instances=4)
    optimizer = build_optimizer(model, schedule)
    return Trainer(
        model,
        ClusterMemory(MemoryConfig(update="hard")),
        optimizer,
        build_scheduler(optimizer, schedule),
        images,
        PlantedLabels(labels_for),
        schedule=schedule,
        run_dir=RunDir(run_dir),
        evaluation=EvalConfig(batch_size=256),
        observers=build_observers(tiny_dataset, RunDir(run_dir), camera_filter=True),
    )


def outliers_but(count: int) -> Callable[[int], np.ndarray]:
    """``count`` images in cluster 0, every other one an outlier."""
    return lambda n: np.where(np.arange(n) < count, 0, -1)


def singletons(n: int) -> np.ndarray:
    """Every image a cluster of its own."""
    return np.arange(n)


@pytest.mark.parametrize(
    "labels_for",
    [
        pytest.param(outliers_but(0), id="only-outliers"),
        pytest.param(lambda n: np.zeros(n), id="single-cluster"),
        pytest.param(outliers_but(2), id="one-cluster-of-two"),
    ],
)
def test_an_epoch_without_two_clusters_is_skipped_and_recorded(
    tiny_dataset, images, tmp_path, caplog, labels_for
):
    """Nothing to contrast: the epoch skips training with a warning, and is still logged and checkpointed."""
    trainer = planted_trainer(tiny_dataset, images, tmp_path, labels_for)
    before = {name: value.clone() for name, value in trainer.model.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="robustreid"):
        result = trainer.fit()
    assert [r["epoch"] for r in RunDir(tmp_path).read_metrics()] == [0]
    assert RunDir(tmp_path).load_checkpoint().epoch == 0
    assert 0 <= result["mAP"] <= 1 and load_model(tmp_path / RunDir.BEST_MODEL).epoch == 0
    assert (tmp_path / RunDir.LEARNING_CURVE).stat().st_size > 0
    assert "skipping training" in caplog.text and math.isnan(result["loss"])
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=name)


def test_a_nan_loss_stops_with_the_last_checkpoint_intact(tiny_dataset, images, tmp_path, monkeypatch):
    """Epoch 0 trains on singletons (every image its own cluster, as DBSCAN gives with min_samples=1)."""
    trainer = planted_trainer(tiny_dataset, images, tmp_path, singletons, epochs=2)
    real_loss = ClusterMemory.forward
    steps = {"n": 0}

    def nan_from_epoch_1(self, features, targets, indices=None):
        steps["n"] += 1
        loss = real_loss(self, features, targets, indices)
        return loss * float("nan") if steps["n"] > 2 else loss  # epoch 0 has 2 steps

    monkeypatch.setattr(ClusterMemory, "forward", nan_from_epoch_1)
    with pytest.raises(TrainingDivergedError, match="the loss became nan at epoch 1, step 0.*--resume"):
        trainer.fit()
    run = RunDir(tmp_path)
    assert run.load_checkpoint().epoch == 0 and [r["epoch"] for r in run.read_metrics()] == [0]
    saved = load_model(tmp_path / RunDir.CHECKPOINT)
    assert saved.epoch == 0 and all(torch.isfinite(v).all() for v in saved.model.state_dict().values())
    assert not list(tmp_path.glob(".*.tmp"))
