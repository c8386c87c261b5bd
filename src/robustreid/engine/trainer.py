"""Unsupervised cluster-contrast training, as a loop over parts built elsewhere.

Each epoch: extract features of all training images -> pseudo-label them by
clustering -> initialise one memory prototype per cluster -> train a fixed number
of P x K iterations with ClusterNCE -> (evaluate) -> checkpoint. The loop never
holds training identities: the observers (:mod:`robustreid.engine.observers`) that
monitor with them, or draw pictures, run around it.

:class:`Trainer` takes ready parts (model, memory, optimiser, scheduler, images,
clusterer), so a Python user can train without any config file;
:func:`robustreid.engine.builder.build_trainer` makes them from a config.

Under torchrun the same loop runs on every process (see :mod:`robustreid.distributed`):
each extracts a shard of the images, labels them all (searching the neighbours of its share
of them) and trains on a slice of the global batch; rank 0 evaluates and writes the run
folder, and the others wait for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from robustreid.clustering import Clusterer, pseudo_label_stats
from robustreid.config import EvalConfig, OptimConfig, TrainConfig
from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.images import ImageDataset
from robustreid.data.sampler import PKBatchSampler
from robustreid.data.transforms import build_test_transform, build_train_transform
from robustreid.distributed import (
    barrier,
    broadcast_buffers,
    broadcast_memory,
    current_world,
    from_rank0,
    gather_rows,
    gather_rows_with_grad,
    local_rows,
    same_random_state,
    shard,
    wrap_for_training,
)
from robustreid.engine.observers import EpochObserver, Evaluation
from robustreid.engine.run_dir import RunDir, TrainingState
from robustreid.errors import CheckpointError, TrainingDivergedError
from robustreid.inference.checkpoint import Preprocessing
from robustreid.inference.features import evaluate_model, extract_features
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.models import ReidModel
from robustreid.utils.runtime import autocast, rng_state, set_rng_state, training_dtype

log = logging.getLogger("robustreid")


@dataclass
class TrainImages:
    """What the loop reads: training images and cameras (never identities), and the evaluation splits."""

    train: ImageDataset
    train_camids: np.ndarray
    query: ImageDataset
    gallery: ImageDataset
    query_items: list[ImageItem]
    gallery_items: list[ImageItem]

    @classmethod
    def from_dataset(cls, dataset: ReidDataset, height: int, width: int, preload: bool = True) -> TrainImages:
        """The data set's splits under the test transform (training swaps in augmentation), resized once."""

        def images(items: list[ImageItem]) -> ImageDataset:
            return ImageDataset([it.path for it in items], height, width, build_test_transform(), preload)

        train, query, gallery = (images(items) for items in (dataset.train, dataset.query, dataset.gallery))
        return cls(train, dataset.train_camids, query, gallery, dataset.query, dataset.gallery)

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.train.height, self.train.width)

    @property
    def can_evaluate(self) -> bool:
        """Training needs only unlabeled images; evaluation also needs a labelled query and gallery."""
        return bool(self.query_items and self.gallery_items)


class Trainer:
    def __init__(
        self,
        model: ReidModel,
        memory: ClusterMemory,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        images: TrainImages,
        clusterer: Clusterer,
        *,
        schedule: OptimConfig,
        run_dir: RunDir,
        evaluation: EvalConfig | None = None,
        device: torch.device | str = "cpu",
        inference_dtype: torch.dtype = torch.float32,
        seed: int = 1,
        num_workers: int = 0,
        observers: Sequence[EpochObserver] = (),
        config: TrainConfig | None = None,
    ) -> None:
        """``schedule`` gives epochs, iterations and the P x K batch; ``seed`` the sampler's order;
        ``config`` (if any) is saved beside the checkpoints so the run can be reproduced.
        Under torchrun ``model`` is trained through DistributedDataParallel; ``self.model``
        stays the unwrapped network that is extracted with, evaluated and saved."""
        self.model, self.memory, self.optimizer, self.scheduler = model, memory, optimizer, scheduler
        self.images, self.clusterer = images, clusterer
        self.schedule = schedule
        self.evaluation = evaluation or EvalConfig()
        self.world = current_world()
        self.run_dir = run_dir.create() if self.world.is_main else run_dir  # rank 0 alone writes it
        self.device = torch.device(device)
        self.train_model = wrap_for_training(model, self.device)
        self.inference_dtype = inference_dtype
        self.seed, self.num_workers = seed, num_workers
        self.observers = list(observers)
        self.config = config
        self.start_epoch = 0
        self.best: dict[str, Any] = {"mAP": -1.0, "epoch": -1}
        if not images.can_evaluate:
            log.warning(
                "no query/gallery split: training without evaluation; model_best.pth will not be written"
            )

    # ----------------------------------------------------------------- epochs
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train from the start, or from the last checkpoint in the run folder when ``resume``."""
        main = self.world.is_main
        if self.config is not None and main:
            self.run_dir.save_config(self.config)
        if resume and from_rank0(lambda: self.run_dir.has_checkpoint):
            self._resume()
        elif resume:
            log.warning("--resume: no checkpoint in %s yet; starting from epoch 0", self.run_dir.path)
        if self.start_epoch == 0 and main:
            self.run_dir.truncate_metrics(after_epoch=-1)  # a new run in an old folder starts a new log
        last: dict[str, Any] = {}
        for epoch in range(self.start_epoch, self.schedule.epochs):
            last = self.run_epoch(epoch)
            if main:
                self._record_epoch(epoch, last)
        if main:
            self._notify("on_fit_end", self.run_dir.read_metrics())
        return {**last, "best_mAP": self.best["mAP"], "best_epoch": self.best["epoch"]}

    def _record_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        """The epoch's metrics line, checkpoint and last model, then its log line."""
        self.run_dir.append_metrics(record)
        self._save_checkpoint(epoch)
        self.run_dir.save_model(
            self.model, self.images.preprocessing, epoch, _headline(record), self.config, RunDir.LAST_MODEL
        )
        log.info(format_epoch(record))

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        record: dict[str, Any] = {"epoch": epoch}
        with _timed(record, "time_extract"):
            # each rank extracts its shard; gathered in rank order, the shards are the data set in order
            features = gather_rows(
                extract_features(
                    self.model,
                    shard(self.images.train),
                    self.evaluation.batch_size,
                    self.num_workers,
                    self.device,
                    desc=f"epoch {epoch} extract",
                    dtype=self.inference_dtype,
                )
            )
        with _timed(record, "time_cluster"):
            # on every rank: its kNN search is shared by the ranks (distributed/neighbours.py); rank 0's
            # labels are then sent to all, so that a rounding difference between hosts cannot split them
            labelled = self.clusterer(features.numpy(), self.images.train_camids)
            labels, clustering = from_rank0(lambda: labelled)
        record.update(pseudo_label_stats(labels), **clustering)
        record.update(self._notify("on_clustered", epoch, features, labels))
        with _timed(record, "time_train"):
            record.update(self.train_iterations(epoch, features, labels))
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        if self._evaluation_due(epoch):
            with _timed(record, "time_eval"):
                evaluation = self.evaluate(epoch)
            record.update(mAP=evaluation.mAP, rank1=evaluation.rank1)
            if evaluation.mAP > self.best["mAP"]:
                self.best = {"mAP": evaluation.mAP, "epoch": epoch}
                self.run_dir.save_model(
                    self.model, self.images.preprocessing, epoch, _headline(evaluation.metrics), self.config
                )
        barrier()  # under torchrun the other ranks wait here while rank 0 evaluates
        record.update(self._notify("on_epoch_end", epoch, record))
        return _jsonable(record)

    def train_iterations(self, epoch: int, features: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
        """A fixed number of P x K iterations of ClusterNCE against a freshly initialised memory."""
        clusters = len(np.unique(labels[labels >= 0]))
        if clusters < 2:  # ClusterNCE over fewer than two prototypes is 0: nothing to learn
            log.warning(
                "epoch %d: clustering found %d cluster(s); skipping training (see the collapse warning)",
                epoch,
                clusters,
            )
            return {"loss": float("nan"), "skipped": True}
        s = self.schedule
        label_tensor = torch.from_numpy(labels)
        record: dict[str, Any] = {}
        same_random_state()  # under torchrun: the same SAA training and augmentation on every rank
        with _timed(record, "time_memory_init"):
            self.memory.initialise(
                features.to(self.device),
                label_tensor.to(self.device),
                cameras=torch.from_numpy(self.images.train_camids).to(self.device),
                epoch=epoch,
            )
        broadcast_memory(self.memory)  # rank 0's memory on every rank: identical before the first update
        record.update(self._notify("on_memory_initialised", epoch, self.memory, features, labels))
        sampler = PKBatchSampler(
            labels,
            self.images.train_camids,
            s.batch_size,
            s.num_instances,
            s.iters,
            seed=self.seed * 100_003 + epoch,
        )
        train_view = self.images.train.with_transform(
            build_train_transform(self.images.train.height, self.images.train.width)
        )
        loader = DataLoader(
            train_view,
            batch_sampler=sampler,  # the whole global batch, also under torchrun (see local_rows)
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.model.train()
        losses = []
        for images, index in tqdm(loader, desc=f"epoch {epoch} train", leave=False, disable=None):
            targets = label_tensor[index].to(self.device)
            loss, updaters = self.train_step(
                local_rows(images).to(self.device, non_blocking=True), targets, index.to(self.device)
            )
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"the loss became {loss} at epoch {epoch}, step {len(losses)}; the checkpoint of the last "
                    "complete epoch is intact: lower optim.lr and rerun with --resume"
                )
            losses.append(loss)
            self._notify("on_step", epoch, index, updaters)
        broadcast_buffers(self.model)  # one set of BatchNorm statistics for extraction, evaluation and saving
        record["loss"] = float(np.mean(losses))
        return record

    def train_step(
        self, images: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor
    ) -> tuple[float, torch.Tensor]:
        """One optimiser step; returns the loss and the batch positions of the samples that updated the memory.

        ``images`` are this rank's slice of the batch; ``targets`` and ``indices`` are the
        whole global batch's. The loss and the memory update see the gathered embeddings,
        so they (and, through DDP, the gradient) equal a single process's on that batch.
        """
        images = images.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, training_dtype(self.device)):
            embeddings = self.train_model(images)
        embeddings = gather_rows_with_grad(embeddings)
        loss = self.memory(embeddings.float(), targets, indices)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        updaters = self.memory.update(embeddings, targets, indices=indices)
        return loss.item(), updaters

    def _evaluation_due(self, epoch: int) -> bool:
        """Whether this rank evaluates after ``epoch``: rank 0 alone does, on schedule."""
        if not (self.images.can_evaluate and self.world.is_main):
            return False
        every, last = self.evaluation.every, epoch == self.schedule.epochs - 1
        return last or (every > 0 and (epoch + 1) % every == 0)

    def evaluate(self, epoch: int = -1) -> Evaluation:
        """mAP / CMC of the current model on the query and gallery splits; ``epoch`` -1 is before training.

        Runs on a fork of the random state: a DataLoader draws its seed from the global
        generator, so without the fork *when* a run is evaluated would change its training.
        """
        e = self.evaluation
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            metrics, query_features, gallery_features = evaluate_model(
                self.model,
                self.images.query,
                self.images.gallery,
                self.images.query_items,
                self.images.gallery_items,
                e.batch_size,
                self.num_workers,
                e.camera_filter,
                e.rerank,
                dtype=self.inference_dtype,
            )
            evaluation = Evaluation(metrics, query_features, gallery_features)
            self._notify("on_evaluated", epoch, evaluation)
        return evaluation

    def _notify(self, hook: str, *args: Any) -> dict[str, Any]:
        """Call ``hook`` on every observer; merge the figures they return. Observers run on rank 0 only."""
        if not self.world.is_main:
            return {}
        figures: dict[str, Any] = {}
        for observer in self.observers:
            figures.update(getattr(observer, hook)(*args) or {})
        return figures

    # ------------------------------------------------------------ persistence
    def _save_checkpoint(self, epoch: int) -> None:
        state = TrainingState(
            epoch=epoch,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            best=self.best,
            memory_state=self.memory.state.state_dict(),
            clusterer_state=self.clusterer.state_dict(),
            rng=rng_state(),
        )
        self.run_dir.save_checkpoint(state, self.model, self.images.preprocessing, self.config)

    def _resume(self) -> None:
        """The last checkpoint, read by rank 0 and sent to the others (whatever their number was when saved)."""
        sent_device = torch.device("cpu") if self.world.distributed else self.device  # ranks' GPUs differ
        state = from_rank0(lambda: self.run_dir.load_checkpoint(sent_device))
        try:
            self.model.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
            self.scheduler.load_state_dict(state.scheduler)
            self.memory.state.load_state_dict(state.memory_state, self.memory.config.saa, self.device)
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(
                f"the checkpoint in {self.run_dir.path} does not fit this config ({str(err).splitlines()[0]}); "
                f"resume with that run's {RunDir.CONFIG}, or train into another output_dir"
            ) from None
        self.best = state.best
        self.clusterer.load_state_dict(state.clusterer_state)
        set_rng_state(state.rng)
        self.start_epoch = state.epoch + 1
        if self.world.is_main:
            self.run_dir.truncate_metrics(after_epoch=state.epoch)
        log.info("resumed from %s at epoch %d", self.run_dir / RunDir.CHECKPOINT, self.start_epoch)


@contextmanager
def _timed(record: dict[str, Any], key: str) -> Iterator[None]:
    """Add the seconds the block took to ``record[key]``."""
    start = time.perf_counter()
    yield
    record[key] = time.perf_counter() - start


def _headline(figures: dict[str, Any]) -> dict[str, float]:
    """What a model file records of the epoch that made it (accuracy only where it was evaluated)."""
    return {key: float(figures[key]) for key in ("mAP", "rank1", "mINP") if key in figures}


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in record.items()}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values, for the JSON metrics log."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def format_epoch(r: dict[str, Any]) -> str:
    """The epoch's log line: clusters, loss and time per phase, then what observers and evaluation added."""
    text = (
        f"epoch {r['epoch']:3d} | clusters {r['num_clusters']:4d} outliers {r['num_outliers']:5d} | "
        f"loss {r['loss']:.3f} lr {r['lr']:.2e} | extract {r['time_extract']:.0f}s "
        f"cluster {r['time_cluster']:.1f}s train {r['time_train']:.0f}s"
    )
    if "cluster_auto" in r:
        text += (
            f" | auto: {r['cluster_auto']} (size {r['identity_size']:.1f}) k1 {r['cluster_k1']} "
            f"k2 {r['cluster_k2']} min_samples {r['cluster_min_samples']} eps {r['cluster_eps']:.3f}"
        )
    if "cluster_camera_penalty" in r:
        text += f" | camera penalty {r['cluster_camera_penalty']:.2f}"
    if "cross_camera_share" in r:
        text += f" | cross_camera_share {r['cross_camera_share']:.2f}"
    if r.get("collapse"):
        text += f" | COLLAPSE: {', '.join(r['collapse'])}"
    if "stability" in r:
        text += f" | stability {r['stability']:.3f}"
    if "purity" in r:
        text += f" | purity {r['purity']:.3f} NMI {r['nmi']:.3f}"
    if "prototype_error" in r:
        text += f" | prototype error {r['prototype_error']:.4f} (mean {r['mean_prototype_error']:.4f})"
    if "update_noise_rate" in r:
        text += f" noisy updates {r['update_noise_rate']:.2f}"
    if "mAP" in r:
        text += f" | mAP {100 * r['mAP']:.1f} R1 {100 * r['rank1']:.1f} ({r['time_eval']:.0f}s)"
    return text
