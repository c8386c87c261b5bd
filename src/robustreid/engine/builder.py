"""From a config to the parts of a training run: the one place config values become arguments.

:func:`build_trainer` reads a :class:`~robustreid.config.schema.TrainConfig` and
builds the data, model, memory, optimiser, scheduler, clusterer and observers that
:class:`~robustreid.engine.trainer.Trainer` takes. Each part has its own small
builder, so a Python user can build one part differently and keep the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from robustreid.clustering import ClusterConfig, Clusterer, PseudoLabeler
from robustreid.config import DataConfig, OptimConfig, TrainConfig
from robustreid.data import every_nth_identity, load_dataset
from robustreid.data.base import ReidDataset
from robustreid.data.datasets.market_style import time_stamps
from robustreid.distributed import prepare_batchnorm, process_device, sharded_knn
from robustreid.engine.observers import EpochObserver, GroundTruthDiagnostics, RunPictures
from robustreid.engine.run_dir import RunDir
from robustreid.engine.trainer import Trainer, TrainImages
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.models import ReidModel, build_model_from_config
from robustreid.utils.runtime import resolve_inference_dtype

log = logging.getLogger("robustreid")


def build_trainer(
    cfg: TrainConfig,
    dataset: ReidDataset | None = None,
    observers: Sequence[EpochObserver] = (),
    clusterer: Clusterer | None = None,
) -> Trainer:
    """Every part of a run from ``cfg``; ``dataset`` replaces the one ``cfg.data`` names.

    ``observers`` run beside the built-in ones: a benchmark's diagnostics hook in here
    without the library's training ever reading what they read. ``clusterer`` replaces the
    one ``cfg.cluster`` builds: a benchmark that must control the pseudo-labels (fixed
    labels with planted mistakes) hands it in, and the library still reads no identity.

    Under torchrun (a process group exists) the device is this process's GPU and
    BatchNorm is synchronised as ``model.sync_bn`` asks; otherwise nothing changes.
    """
    device = process_device(cfg.device)
    dataset = dataset or build_dataset(cfg.data)
    log.info("\n%s", dataset.summary())
    if clusterer is None:
        clusterer = build_clusterer(cfg.cluster, train_time_stamps(dataset, cfg.cluster))
    model = prepare_batchnorm(build_model_from_config(cfg.model), cfg.model, cfg.optim.batch_size)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg.optim)
    images = TrainImages.from_dataset(dataset, cfg.data.height, cfg.data.width, cfg.data.preload)
    run_dir = RunDir(cfg.output_dir)
    return Trainer(
        model,
        ClusterMemory(cfg.memory),
        optimizer,
        build_scheduler(optimizer, cfg.optim),
        images,
        clusterer,
        schedule=cfg.optim,
        run_dir=run_dir,
        evaluation=cfg.eval,
        device=device,
        inference_dtype=resolve_inference_dtype(cfg.runtime.inference_dtype, device),
        seed=cfg.seed,
        num_workers=cfg.data.num_workers,
        observers=[*build_observers(dataset, run_dir, cfg.eval.camera_filter), *observers],
        config=cfg,
    )


def build_dataset(data: DataConfig) -> ReidDataset:
    return every_nth_identity(
        load_dataset(data.name, data.root, **data.options), data.identity_stride, data.identity_offset
    )


def build_optimizer(model: ReidModel, optim: OptimConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters (frozen stages have none)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(trainable, lr=optim.lr, weight_decay=optim.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig) -> torch.optim.lr_scheduler.StepLR:
    """The learning rate times ``gamma`` every ``step_size`` epochs."""
    return torch.optim.lr_scheduler.StepLR(optimizer, optim.step_size, optim.gamma)


def build_clusterer(cluster: ClusterConfig, stamps: np.ndarray | None = None) -> PseudoLabeler:
    """A labeler whose kNN search is shared by the ranks under torchrun (every rank runs it);
    ``stamps`` are the training images' time stamps, which ``cluster.tracklet_weight`` reads."""
    return PseudoLabeler(cluster, search=sharded_knn, stamps=stamps)


def train_time_stamps(dataset: ReidDataset, cluster: ClusterConfig) -> np.ndarray | None:
    """The training images' recording and frame, read from their names where ``cluster.tracklet_weight``
    asks for them (before any image is decoded, so that a name without one fails at once)."""
    return time_stamps([item.path for item in dataset.train]) if cluster.tracklet_weight else None


def build_observers(dataset: ReidDataset, run_dir: RunDir, camera_filter: bool) -> list[EpochObserver]:
    """Pictures always; ground-truth diagnostics when the training identities are known."""
    observers: list[EpochObserver] = [RunPictures(run_dir, dataset.query, dataset.gallery, camera_filter)]
    true_ids = dataset.train_pids_for_diagnostics()  # monitoring only, never fed to training
    if bool((true_ids >= 0).any()):
        observers.append(GroundTruthDiagnostics(true_ids))
    return observers
