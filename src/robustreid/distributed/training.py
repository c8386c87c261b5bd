"""What the training loop does differently on several processes; on one, each leaves the run as it was.

The design goal is that the *global* batch, not the number of devices, decides the
result: every rank builds the same global P x K batch and trains on its contiguous
slice, the loss is computed on the gathered batch (:mod:`.collectives`), the cluster
memory is identical on every rank, and BatchNorm can be synchronised over a fixed
number of samples (:mod:`.batchnorm`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, Subset

from robustreid.distributed.batchnorm import ranks_per_bn_group, synchronise_batchnorm
from robustreid.distributed.collectives import from_rank0, on_cpu
from robustreid.distributed.world import World, current_world, share
from robustreid.errors import ConfigError
from robustreid.utils.runtime import rng_state, set_rng_state

if TYPE_CHECKING:
    from robustreid.memory.cluster_memory import ClusterMemory
    from robustreid.models.config import ModelConfig

log = logging.getLogger("robustreid")


def per_device_batch(global_batch: int, world: World) -> int:
    """``optim.batch_size`` is the global batch; each of the ``world.size`` processes trains on an equal part."""
    if global_batch % world.size:
        raise ConfigError(
            f"optim.batch_size={global_batch} is the global batch and must split evenly over the "
            f"{world.size} processes; use a multiple of {world.size}"
        )
    return global_batch // world.size


def prepare_batchnorm(model: nn.Module, config: ModelConfig, global_batch: int) -> nn.Module:
    """``model`` with BatchNorm synchronised as ``model.sync_bn`` / ``model.samples_per_bn`` ask.

    Also says in the log how the batch splits, and warns when BatchNorm statistics
    (and so the result) depend on the number of processes.
    """
    world = current_world()
    per_device = per_device_batch(global_batch, world)
    log.info("batch: %d global = %d process(es) x %d per device", global_batch, world.size, per_device)
    if not config.sync_bn:
        if world.distributed:
            log.warning(
                "model.sync_bn is false: BatchNorm normalises each process's %d samples, so the "
                "result depends on the number of processes; model.sync_bn=true removes that",
                per_device,
            )
        return model
    ranks = ranks_per_bn_group(config.samples_per_bn, per_device, world)
    return synchronise_batchnorm(model, ranks, world) if world.distributed else model


def wrap_for_training(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` (which averages gradients over ranks); ``model`` itself on one.

    DDP starts every rank from rank 0's weights. The unwrapped model stays what is
    extracted with, evaluated and saved, so a checkpoint loads into any number of processes.
    """
    if not current_world().distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard(dataset: Dataset) -> Dataset:
    """This rank's contiguous part of ``dataset`` (``dataset`` itself on one process)."""
    world = current_world()
    if not world.distributed:
        return dataset
    return Subset(dataset, range(len(dataset))[share(len(dataset), world.rank, world.size)])


def local_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous slice of a global batch (the batch itself on one process).

    Every rank loads and augments the whole global batch, from the same random state
    (:func:`same_random_state`), and keeps its slice: concatenated in rank order the
    slices are exactly the batch a single process trains on, augmentation included.
    Loading costs each rank the whole batch's decoding and augmentation, which on the
    CPU is small next to the forward and backward pass of its slice.
    """
    world = current_world()
    if not world.distributed:
        return batch
    if len(batch) < world.size:
        raise ConfigError(
            f"a batch of {len(batch)} samples (fewer clusters than optim.batch_size asks for) "
            f"cannot be split over {world.size} processes; train on fewer processes"
        )
    return batch[share(len(batch), world.rank, world.size)]


def same_random_state() -> None:
    """Rank 0's random state on every rank, so that every rank draws the same augmentation.

    All ranks start from one seed, but rank 0 alone evaluates and runs the observers,
    which may draw random numbers; re-sharing the state before each epoch's
    training keeps the ranks' draws, and so their global batches, identical.
    """
    if current_world().distributed:
        set_rng_state(from_rank0(rng_state))


def broadcast_memory(memory: ClusterMemory) -> None:
    """Rank 0's freshly initialised memory (prototypes and strategy state, e.g. the trained SAA) on every rank.

    Every rank initialises from the same gathered features, pseudo-labels and random
    state, but GPU kernels need not be bitwise deterministic, and CSA trains its SAA
    for many steps. Sending rank 0's result makes the memories identical, so the
    identical gathered updates keep them so. (The
    members' reliability is not sent: it is a deterministic function of the features
    and labels, which are the same on every rank.)
    """
    world = current_world()
    if not world.distributed:
        return
    sent = [None]
    if world.is_main:
        buffers = dict(memory.named_buffers(recurse=False))
        sent = [on_cpu({"buffers": buffers, "state": memory.state.state_dict()})]
    dist.broadcast_object_list(sent, src=0)
    if world.is_main:
        return
    for name, value in sent[0]["buffers"].items():
        setattr(memory, name, value.to(getattr(memory, name).device))
    device = memory.prototypes.device
    memory.state.load_state_dict(sent[0]["state"], memory.config.saa, device)
