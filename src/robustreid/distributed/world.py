"""Which process this is, on which device, and its share of the work.

``torchrun`` starts one process per device and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, and the rendezvous address).
:func:`process_group` turns that into a PyTorch process group; without those
variables (a plain ``robustreid train``) it does nothing, so a single process runs
exactly the code it ran before distributed training existed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from robustreid.errors import ConfigError, DeviceError
from robustreid.utils.runtime import resolve_device

log = logging.getLogger("robustreid")

#: How long a collective waits for the slowest rank. Rank 0 alone evaluates while the others
#: wait in a barrier, and the ranks meet in the kNN's gather only once each has searched its
#: rows: an exact search of 1M images took about 2 hours on one CPU process (docs/scaling.md),
#: far beyond PyTorch's 10-30 minute default.
COLLECTIVE_TIMEOUT = timedelta(hours=3)


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` processes, and its device index on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 is the one process that evaluates and writes the run folder."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_world() -> World:
    """The place torchrun gave this process (a single process when no launcher set one)."""
    return World(
        rank=int(os.environ.get("RANK", 0)),
        size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def current_world() -> World:
    """This process's place once the process group exists; a single process before (or without) it."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def process_device(name: str = "auto") -> torch.device:
    """The device this process trains on: ``device`` as configured, or GPU ``LOCAL_RANK`` under torchrun.

    Under torchrun every process owns the GPU of its local rank, so a config names
    ``cuda`` or ``auto``, never one GPU for all of them.
    """
    world = current_world() if dist.is_available() and dist.is_initialized() else launched_world()
    if not world.distributed:
        return resolve_device(name)
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name not in ("auto", "cuda"):
        raise ConfigError(
            f"device={name!r} under torchrun: each process uses the GPU of its local rank; "
            "set device=cuda (or auto) and choose the GPUs with CUDA_VISIBLE_DEVICES"
        )
    if world.local_rank >= torch.cuda.device_count():
        raise DeviceError(
            f"process {world.rank} has local rank {world.local_rank} but this machine shows "
            f"{torch.cuda.device_count()} GPU(s); start at most that many processes per machine"
        )
    return torch.device("cuda", world.local_rank)


@contextmanager
def process_group(device_name: str = "auto") -> Iterator[World]:
    """The process group torchrun asked for (nccl on GPUs, gloo on CPUs), torn down on the way out.

    Yields the single-process :class:`World` and changes nothing when this process was
    not launched as one of several, or when a group already exists (the caller owns it).
    """
    world = launched_world()
    if not world.distributed or dist.is_initialized():
        yield current_world()
        return
    device = process_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # collectives on objects use the current device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)
    try:
        yield current_world()
    finally:
        dist.destroy_process_group()


def share(count: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous part of ``count`` items: near-equal parts, in rank order, no overlap.

    Concatenating the parts of ranks 0..size-1 gives the items back in their order,
    which is what makes a gathered result equal the single-process one.
    """
    return slice(count * rank // size, count * (rank + 1) // size)
