"""Training on 2 processes (gloo, CPU) gives what 1 process gives for the same global batch.

The processes are started with torch.multiprocessing and the environment torchrun
would set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), then run the real
``train_and_report``, so the test exercises the path ``torchrun -m robustreid train`` takes.

What may differ between 1 and 2 processes, and so what the tolerances cover:

* nothing from random augmentation: every rank augments the whole global batch from
  rank 0's random state and keeps its slice, so the runs use the real training transform;
* BatchNorm: per-process statistics unless synchronised, so the runs use
  ``model.sync_bn=true`` (a no-op on one process, whose BatchNorm sees the whole batch);
* float rounding: the gathered BatchNorm and the gradient all-reduce add up in another
  order. Measured on this test's run (2-core CPU): the first step's loss agrees to 1.6e-7
  and its gradient to 6.7e-6 (relative norm); after the epoch's 4 steps the mean loss to
  1.8e-5 and mAP to 2.5e-5. Without sync_bn the gradients differ by more than 100 %.
  The tolerances below leave a margin of about 50x or more for other CPUs' arithmetic.

Within one multi-process run the ranks must agree exactly: same pseudo-labels, same memory.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from robustreid.clustering import ClusterConfig, PseudoLabeler, knn
from robustreid.clustering.neighbours import backend_for
from robustreid.config import load_config
from robustreid.data import load_dataset
from robustreid.distributed import (
    GroupBatchNorm,
    World,
    from_rank0,
    gather_rows,
    local_rows,
    per_device_batch,
    ranks_per_bn_group,
    shard,
    sharded_knn,
    share,
    training,
)
from robustreid.engine import trainer as trainer_module
from robustreid.engine.run import train_and_report
from robustreid.engine.run_dir import RunDir
from robustreid.errors import ConfigError

FIRST_LOSS_TOLERANCE = 1e-5  # relative, the first step's loss (measured: 1.6e-7)
FIRST_GRADIENT_TOLERANCE = 1e-3  # relative norm of the first step's gradient difference (measured: 6.7e-6)
LOSS_TOLERANCE = 1e-3  # relative, an epoch's mean loss (measured: 1.8e-5)
MAP_TOLERANCE = 0.005  # absolute, mAP in [0, 1] (measured: 2.5e-5)

DATA_OPTIONS = {"num_train_ids": 16, "num_test_ids": 8, "images_per_id": [8, 10], "seed": 1}

#: What this file adds to the tiny training run: BatchNorm synchronised over the processes.
DISTRIBUTED = ["model.frozen_stages=5", "model.sync_bn=true", "optim.iters=4"]  # frozen: less BN to sync


# ---------------------------------------------------------------------------- one process
def test_rank_slices_are_the_single_process_batch_without_overlap():
    batch = torch.arange(24)
    for size in (2, 3, 8):
        slices = []
        for rank in range(size):
            with mock.patch.object(training, "current_world", return_value=World(rank, size)):
                slices.append(local_rows(batch))
        assert torch.equal(torch.cat(slices), batch)


def test_a_batch_smaller_than_the_process_count_is_refused():
    with mock.patch.object(training, "current_world", return_value=World(0, 16)):
        with pytest.raises(ConfigError, match="cannot be split over 16 processes"):
            local_rows(torch.arange(8))


def test_shares_tile_the_items_in_rank_order():
    for count, size in ((10, 3), (2, 2), (7, 4)):
        parts = [list(range(count))[share(count, rank, size)] for rank in range(size)]
        assert sum(parts, []) == list(range(count))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_global_batch_must_split_over_the_processes():
    assert per_device_batch(64, World(size=4)) == 16
    with pytest.raises(ConfigError, match="optim.batch_size=64 is the global batch"):
        per_device_batch(64, World(size=3))


def test_bn_groups_are_whole_numbers_of_processes():
    four = World(size=4)
    assert ranks_per_bn_group(0, 64, four) == 4  # all of them
    assert ranks_per_bn_group(128, 64, four) == 2  # 4 x 64 in groups of 128
    assert ranks_per_bn_group(256, 256, World()) == 1  # 1 x 256: the same statistics
    for samples in (32, 96, 192):  # ghost BN, not whole ranks, groups that do not tile 4 ranks
        with pytest.raises(ConfigError, match="model.samples_per_bn"):
            ranks_per_bn_group(samples, 64, four)


def test_samples_per_bn_needs_sync_bn():
    with pytest.raises(ConfigError, match="model.samples_per_bn"):
        load_config(None, ["model.samples_per_bn=64"])
    assert load_config(None, ["model.sync_bn=true", "model.samples_per_bn=64"]).model.samples_per_bn == 64


def test_without_a_process_group_every_collective_is_the_identity():
    rows, items = torch.randn(5, 3), list(range(7))
    assert gather_rows(rows) is rows and shard(items) is items and local_rows(rows) is rows
    assert from_rank0(lambda: "computed here") == "computed here"


# ------------------------------------------------------------------------ two processes
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _spawn(worker: Any, size: int, *args: Any) -> None:
    """``worker(rank, size, port, *args)`` in ``size`` fresh processes, as torchrun would place them."""
    mp.spawn(worker, args=(size, _free_port(), *args), nprocs=size, join=True)


def _join_world(rank: int, size: int, port: int) -> None:
    """The environment torchrun gives a process; one thread each, as the 2 processes share the CPU."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def _batchnorm_worker(rank: int, size: int, port: int, out: Path) -> None:
    _join_world(rank, size, port)
    dist.init_process_group("gloo")
    torch.manual_seed(0)  # the same whole batch on every rank
    images = torch.randn(10, 3, 4, 4, requires_grad=True)
    layer = GroupBatchNorm.replacing(nn.BatchNorm2d(3), dist.new_group([0, 1]))
    part = share(len(images), rank, size)
    (layer(images[part]) * torch.arange(3.0).view(1, 3, 1, 1)).sum().backward()
    seen = {"grad": images.grad[part], "weight_grad": layer.weight.grad}
    torch.save({**seen, "mean": layer.running_mean, "var": layer.running_var}, out / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_group_batchnorm_over_two_processes_equals_batchnorm_over_the_whole_batch(tmp_path):
    _spawn(_batchnorm_worker, 2, tmp_path)
    torch.manual_seed(0)
    images = torch.randn(10, 3, 4, 4, requires_grad=True)
    layer = nn.BatchNorm2d(3)
    (layer(images) * torch.arange(3.0).view(1, 3, 1, 1)).sum().backward()
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    torch.testing.assert_close(torch.cat([r["grad"] for r in ranks]), images.grad)
    for r in ranks:
        torch.testing.assert_close(r["mean"], layer.running_mean)
        torch.testing.assert_close(r["var"], layer.running_var)
    # each rank's weight gradient is its own samples' share of the whole batch's
    torch.testing.assert_close(ranks[0]["weight_grad"] + ranks[1]["weight_grad"], layer.weight.grad)


def _identities(n: int = 1501, people: int = 60, dim: int = 32) -> np.ndarray:
    """Seeded unit features of people around random centres (an odd count: the ranks' shares differ)."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((people, dim))[rng.integers(0, people, n)] + 0.6 * rng.standard_normal(
        (n, dim)
    )
    return (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32)


def _labelling(search) -> dict[str, np.ndarray]:
    """Each ``cluster.knn``'s neighbours and pseudo-labels of :func:`_identities`, searched by ``search``."""
    features, seen = _identities(), {}
    for knn_setting in ("exact", "approximate"):
        similarities, indices = search(features, 30, backend_for(knn_setting, len(features)))
        labels, _ = PseudoLabeler(ClusterConfig(knn=knn_setting), search=search)(features)
        seen |= {f"{knn_setting}_similarities": similarities, f"{knn_setting}_indices": indices}
        seen[f"{knn_setting}_labels"] = labels
    return seen


def _labelling_worker(rank: int, size: int, port: int, out: Path) -> None:
    _join_world(rank, size, port)
    dist.init_process_group("gloo")
    np.savez(out / f"rank{rank}.npz", **_labelling(sharded_knn))
    dist.destroy_process_group()


def test_two_processes_share_the_knn_search_and_find_the_neighbours_and_labels_of_one(tmp_path):
    _spawn(_labelling_worker, 2, tmp_path)
    alone = _labelling(knn)
    assert len(np.unique(alone["exact_labels"])) > 30
    for rank in range(2):
        together = np.load(tmp_path / f"rank{rank}.npz")
        for key, expected in alone.items():
            if key.endswith("similarities"):
                np.testing.assert_allclose(together[key], expected, atol=1e-6, err_msg=key)
            else:
                np.testing.assert_array_equal(together[key], expected, err_msg=key)


@contextmanager
def _recorded_training() -> Iterator[dict[str, list[Any]]]:
    """What this process saw: each epoch's pseudo-labels and final memory,
    and each step's loss and (all-reduced) gradient."""
    seen: dict[str, list[Any]] = {"labels": [], "prototypes": [], "losses": [], "gradients": []}
    train_iterations, train_step = trainer_module.Trainer.train_iterations, trainer_module.Trainer.train_step

    def recording(self: trainer_module.Trainer, epoch: int, features: torch.Tensor, labels: np.ndarray):
        seen["labels"].append(labels.copy())
        record = train_iterations(self, epoch, features, labels)
        seen["prototypes"].append(self.memory.prototypes.clone())
        return record

    def stepping(self: trainer_module.Trainer, *batch: torch.Tensor) -> tuple[float, torch.Tensor]:
        loss, updaters = train_step(self, *batch)
        seen["losses"].append(loss)
        seen["gradients"].append(
            torch.cat([p.grad.flatten() for p in self.model.parameters() if p.requires_grad])
        )
        return loss, updaters

    with (
        mock.patch.object(trainer_module.Trainer, "train_iterations", recording),
        mock.patch.object(trainer_module.Trainer, "train_step", stepping),
    ):
        yield seen


def _config(tiny_training: Sequence[str], training_root: Path, run_dir: Path, epochs: int) -> Any:
    options = [f"data.options.{key}={value}" for key, value in DATA_OPTIONS.items()]
    run = [f"data.root={training_root}", f"output_dir={run_dir}", f"optim.epochs={epochs}"]
    return load_config(None, [*tiny_training, *DISTRIBUTED, *options, *run])


def _train(cfg: Any, resume: bool = False) -> dict[str, Any]:
    with _recorded_training() as seen:
        summary = train_and_report(cfg, resume=resume)
    return {**seen, "summary": summary}


def _training_worker(rank: int, size: int, port: int, cfg: Any) -> None:
    _join_world(rank, size, port)
    run_dir = Path(cfg.output_dir)
    torch.save(_train(cfg), run_dir.parent / f"{run_dir.name}.rank{rank}.pt")


@pytest.fixture(scope="module")
def training_root(tmp_path_factory) -> Path:
    """The images, generated once here so that the processes only read them."""
    root = tmp_path_factory.mktemp("synthetic")
    options = {**DATA_OPTIONS, "images_per_id": tuple(DATA_OPTIONS["images_per_id"])}
    load_dataset("synthetic", root, **options)
    return root


@pytest.fixture(scope="module")
def runs(tiny_training, training_root, tmp_path_factory) -> dict[str, Any]:
    """1 process for 1 epoch; 2 processes for 2 epochs, then 1 process resuming them for a third."""
    folder = tmp_path_factory.mktemp("runs")
    single = _train(_config(tiny_training, training_root, folder / "single", epochs=1))
    _spawn(_training_worker, 2, _config(tiny_training, training_root, folder / "ddp", epochs=2))
    ranks = [torch.load(folder / f"ddp.rank{rank}.pt", weights_only=False) for rank in range(2)]
    resumed = _train(_config(tiny_training, training_root, folder / "ddp", epochs=3), resume=True)
    return {"single": single, "ranks": ranks, "resumed": resumed, "folder": folder}


@pytest.mark.slow
def test_both_ranks_hold_the_same_pseudo_labels_and_memory(runs):
    first, second = runs["ranks"]
    assert len(first["labels"]) == 2 and (first["labels"][0] >= 0).sum() > 50
    for epoch in range(2):
        np.testing.assert_array_equal(first["labels"][epoch], second["labels"][epoch])
        assert torch.equal(first["prototypes"][epoch], second["prototypes"][epoch])
    assert all(map(torch.equal, first["gradients"], second["gradients"]))  # so the same weights
    assert first["summary"] == second["summary"]  # every rank returns rank 0's summary


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains_for_the_same_global_batch(runs):
    alone, together = runs["single"], runs["ranks"][0]
    np.testing.assert_array_equal(together["labels"][0], alone["labels"][0])
    assert together["losses"][0] == pytest.approx(alone["losses"][0], rel=FIRST_LOSS_TOLERANCE)
    gradient = alone["gradients"][0]
    assert (together["gradients"][0] - gradient).norm() / gradient.norm() < FIRST_GRADIENT_TOLERANCE
    one = RunDir(runs["folder"] / "single").read_metrics()[0]
    two = RunDir(runs["folder"] / "ddp").read_metrics()[0]
    assert two["num_clusters"] == one["num_clusters"]
    assert two["loss"] == pytest.approx(one["loss"], rel=LOSS_TOLERANCE)
    assert two["mAP"] == pytest.approx(one["mAP"], abs=MAP_TOLERANCE)


@pytest.mark.slow
def test_a_run_of_two_processes_resumes_on_one(runs):
    resumed = runs["resumed"]
    assert len(resumed["labels"]) == 1  # epochs 0 and 1 came from the 2-process checkpoint
    assert [r["epoch"] for r in RunDir(runs["folder"] / "ddp").read_metrics()] == [0, 1, 2]
    assert resumed["summary"]["epochs"] == 3 and 0 < resumed["summary"]["after"]["mAP"] <= 1
