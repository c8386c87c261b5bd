"""End-to-end training on a tiny synthetic set: it learns, and a killed run resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robustreid.config import ClusterConfig, EvalConfig, OptimConfig, load_config
from robustreid.data import load_dataset
from robustreid.data.base import ImageItem, ReidDataset
from robustreid.engine.builder import build_clusterer, build_optimizer, build_scheduler, build_trainer
from robustreid.engine.run import train_and_report
from robustreid.engine.run_dir import RunDir
from robustreid.engine.trainer import Trainer, TrainImages, format_epoch
from robustreid.errors import DataError
from robustreid.inference.checkpoint import load_model
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.settings import MemoryConfig
from robustreid.models import build_model
from robustreid.utils.runtime import seed_everything

# Learning needs native-size images and clusters that fit ~9 images per identity (small k1).
LEARNING = [
    "data.height=128",
    "data.width=64",
    "cluster.eps=0.6",
    "cluster.k1=10",
    "cluster.k2=3",
    "optim.iters=40",
]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return load_dataset(
        "synthetic",
        tmp_path_factory.mktemp("synthetic"),
        num_train_ids=16,
        num_test_ids=8,
        images_per_id=(8, 10),
        seed=1,
    )


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return load_dataset(
        "synthetic",
        tmp_path_factory.mktemp("synthetic"),
        num_train_ids=40,
        num_test_ids=30,
        images_per_id=(8, 10),
        seed=1,
    )


@pytest.fixture
def tiny_config(tiny_training):
    """``tiny_config(run_dir, *extra)``: the tiny training config writing to ``run_dir``."""
    return lambda run_dir, *extra: load_config(None, [*tiny_training, f"output_dir={run_dir}", *extra])


def seeded_trainer(cfg, dataset):
    """What ``robustreid train`` does before training: seed, then build."""
    seed_everything(cfg.seed)
    return build_trainer(cfg, dataset=dataset)


def test_two_epochs_raise_map_above_the_untrained_model(small_dataset, tmp_path, tiny_config):
    trainer = seeded_trainer(tiny_config(tmp_path, *LEARNING), small_dataset)
    before = trainer.evaluate().mAP
    result = trainer.fit()
    assert result["mAP"] > before + 0.03  # measured: 0.329 -> 0.396
    records = RunDir(tmp_path).read_metrics()
    assert [r["epoch"] for r in records] == [0, 1]
    assert all(r["num_clusters"] > 10 and 0.3 <= r["purity"] <= 1 for r in records)
    # diagnostics: with init "mean" the prototypes are the means; some updates come from misplaced samples
    assert all(r["prototype_error"] == pytest.approx(r["mean_prototype_error"], abs=1e-6) for r in records)
    assert all(0 < r["mean_prototype_error"] < 0.5 and 0 < r["update_noise_rate"] < 1 for r in records)


def test_one_epoch_from_parts_built_by_hand_without_a_config(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", frozen_stages=2)
    schedule = OptimConfig(epochs=1, iters=4, batch_size=16, num_instances=4)
    optimizer = build_optimizer(model, schedule)
    trainer = Trainer(
        model,
        ClusterMemory(MemoryConfig(update="mean")),
        optimizer,
        build_scheduler(optimizer, schedule),
        TrainImages.from_dataset(tiny_dataset, height=64, width=32),
        build_clusterer(ClusterConfig(eps=0.7, k1=10, k2=4, min_samples=3)),
        schedule=schedule,
        run_dir=RunDir(tmp_path),
        evaluation=EvalConfig(batch_size=64),
    )
    result = trainer.fit()
    assert result["epoch"] == 0 and result["num_clusters"] > 3 and np.isfinite(result["loss"])
    assert "purity" not in result  # no diagnostics observer was given: the loop never reads identities
    assert 0 < result["mAP"] <= 1 and not (tmp_path / RunDir.CONFIG).exists()
    trained = load_model(tmp_path / RunDir.BEST_MODEL)
    assert (trained.preprocessing.height, trained.preprocessing.width) == (64, 32)
    for name, value in trained.model.state_dict().items():
        torch.testing.assert_close(value, model.state_dict()[name], msg=name)


class SameLabelsEveryEpoch:
    """A clusterer handed in as a benchmark hands in its planted labels: the same labels every epoch."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels, self.calls = labels, 0

    def __call__(self, features: np.ndarray, cameras: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        self.calls += 1
        return self.labels, {"calls": self.calls}

    def state_dict(self) -> dict:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.calls = state["calls"]


def test_tracklets_read_the_time_stamps_before_any_image_is_decoded(tiny_config, tmp_path):
    unnamed = ReidDataset("folder", [ImageItem(str(tmp_path / "missing" / "crop7.jpg"), -1, 0)])
    with pytest.raises(
        DataError, match="crop7.jpg: cluster.tracklet_weight reads each training image's time stamp"
    ):
        build_trainer(tiny_config(tmp_path, "cluster.tracklet_weight=1"), dataset=unnamed)


def test_a_run_with_tracklets_clusters_them_every_epoch(tiny_dataset, tmp_path, tiny_config):
    cfg = tiny_config(tmp_path, "eval.every=0", "cluster.tracklet_weight=1")
    seeded_trainer(cfg, tiny_dataset).fit()
    counts = [r["tracklets"] for r in RunDir(tmp_path).read_metrics()]
    assert len(counts) == 2 and all(0 < count < len(tiny_dataset.train) for count in counts)


def test_a_clusterer_handed_to_build_trainer_labels_every_epoch(tiny_dataset, tmp_path, tiny_config):
    cfg = tiny_config(tmp_path, "eval.every=0")
    clusterer = SameLabelsEveryEpoch(np.arange(len(tiny_dataset.train)) % 8)
    seed_everything(cfg.seed)
    build_trainer(cfg, dataset=tiny_dataset, clusterer=clusterer).fit()
    records = RunDir(tmp_path).read_metrics()
    assert [(r["calls"], r["num_clusters"]) for r in records] == [(1, 8), (2, 8)]
    assert RunDir(tmp_path).load_checkpoint().clusterer_state == {"calls": 2}


def test_killed_run_resumes_to_the_same_result(tiny_dataset, tmp_path, monkeypatch, tiny_config):
    straight = seeded_trainer(tiny_config(tmp_path / "straight"), tiny_dataset).fit()

    calls = {"n": 0}
    real_update = ClusterMemory.update

    def dies_mid_second_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8 + 3:  # epoch 0 has 8 steps; die at step 3 of epoch 1
            raise KeyboardInterrupt
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(ClusterMemory, "update", dies_mid_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        seeded_trainer(tiny_config(tmp_path / "killed"), tiny_dataset).fit()
    monkeypatch.setattr(ClusterMemory, "update", real_update)
    assert RunDir(tmp_path / "killed").load_checkpoint().epoch == 0

    resumed = seeded_trainer(tiny_config(tmp_path / "killed"), tiny_dataset).fit(resume=True)
    assert resumed["mAP"] == straight["mAP"]
    assert resumed["loss"] == straight["loss"]
    assert [r["epoch"] for r in RunDir(tmp_path / "killed").read_metrics()] == [0, 1]


def test_training_does_not_depend_on_when_it_is_evaluated(tiny_dataset, tmp_path, tiny_config):
    """Evaluating draws DataLoader seeds; on a fork of the random state it leaves training alone."""
    every_epoch = seeded_trainer(tiny_config(tmp_path / "every"), tiny_dataset)
    every_epoch.evaluate()  # before training, as the demo does
    evaluated_often = every_epoch.fit()
    evaluated_once = seeded_trainer(tiny_config(tmp_path / "once", "eval.every=0"), tiny_dataset).fit()
    assert evaluated_often["loss"] == evaluated_once["loss"]
    assert evaluated_often["mAP"] == evaluated_once["mAP"]
    assert [r.get("mAP") is not None for r in RunDir(tmp_path / "every").read_metrics()] == [True, True]
    assert [r.get("mAP") is not None for r in RunDir(tmp_path / "once").read_metrics()] == [False, True]


def test_resume_without_checkpoint_starts_from_the_first_epoch(tiny_dataset, tmp_path, caplog, tiny_config):
    cfg = tiny_config(tmp_path, "optim.epochs=1")
    result = seeded_trainer(cfg, tiny_dataset).fit(resume=True)  # killed before its first checkpoint
    assert result["epoch"] == 0 and "no checkpoint in" in caplog.text


def test_report_writes_summary_curve_and_ranked_picture(tiny_dataset, tmp_path, monkeypatch, tiny_config):
    monkeypatch.setattr("robustreid.engine.builder.load_dataset", lambda *a, **k: tiny_dataset)
    summary = train_and_report(tiny_config(tmp_path, "optim.epochs=1", "eval.before_training=true"))
    assert summary["before"]["mAP"] > 0 and summary["after"]["mAP"] > 0
    for name in (
        "summary.json",
        "learning_curve.png",
        "ranked_results.png",
        "config.yaml",
        "log.txt",
        "model_best.pth",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 1


def test_the_epoch_line_names_the_settings_source_and_the_label_free_scores():
    record = {
        "epoch": 4,
        "num_clusters": 456,
        "num_outliers": 300,
        "loss": 1.5,
        "lr": 3.5e-4,
        "time_extract": 20.0,
        "time_cluster": 1.2,
        "time_train": 60.0,
        "cluster_auto": "kept",
        "identity_size": 2.0,
        "cluster_k1": 4,
        "cluster_k2": 1,
        "cluster_min_samples": 2,
        "cluster_eps": 0.745,
        "cross_camera_share": 0.64,
        "stability": 0.91,
    }
    line = format_epoch(record)
    assert "auto: kept (size 2.0) k1 4 k2 1 min_samples 2 eps 0.745" in line
    assert "| cross_camera_share 0.64 | stability 0.910" in line
    without_cameras = {key: value for key, value in record.items() if key != "cross_camera_share"}
    assert "cross_camera_share" not in format_epoch(without_cameras)
