"""The few collectives training needs, each the identity in a single process.

Every function here returns its input untouched (the same object) when no process
group exists, so the single-process path runs exactly as it would without them.
Rows are gathered in rank order; with :func:`~robustreid.distributed.world.share`
giving each rank a contiguous part, that order is the data set's (or the batch's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from robustreid.distributed.world import current_world
from robustreid.errors import RobustReidError

T = TypeVar("T")


def _communication_device() -> torch.device:
    """nccl moves only GPU tensors; gloo is used with CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _gather_padded(
    tensor: torch.Tensor, group: Any = None, same_size: bool = False
) -> tuple[torch.Tensor, list[int]]:
    """Every rank's rows, concatenated in rank order, and each rank's row count.

    Ranks may hold different numbers of rows (the last shard of a data set, a P x K
    batch that does not split evenly): rows are padded to the largest count for the
    collective and the padding is dropped again. ``same_size`` (the caller knows every
    rank holds as many rows) saves exchanging the counts, one collective of two.
    """
    device = _communication_device()
    local = tensor.to(device).contiguous()
    size = dist.get_world_size(group)
    counts_list = [len(local)] * size if same_size else _row_counts(len(local), size, group, device)
    padded = local.new_zeros((max(counts_list), *local.shape[1:]))
    padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded, group=group)
    gathered = torch.cat([part[:count] for part, count in zip(parts, counts_list, strict=True)])
    return gathered.to(tensor.device), counts_list


def _row_counts(count: int, size: int, group: Any, device: torch.device) -> list[int]:
    counts = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([count], device=device), group=group)  # gloo gathers lists only
    return [int(c) for c in counts]


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of every rank in rank order, on every rank (no gradient)."""
    if not current_world().distributed:
        return tensor
    return _gather_padded(tensor.detach())[0]


class _GatherRowsWithGrad(torch.autograd.Function):
    """All ranks' rows, differentiable: each rank's rows receive the gradient that every rank sends them.

    With every rank computing the same loss on the gathered rows and DDP averaging
    the parameter gradients over ranks, the gradient is exactly the single-process
    gradient of that loss (the sum over ranks here and DDP's mean cancel).
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any, same_size: bool) -> torch.Tensor:
        gathered, counts = _gather_padded(tensor, group, same_size)
        rank = dist.get_rank(group)
        ctx.group, ctx.start, ctx.stop = group, sum(counts[:rank]), sum(counts[: rank + 1])
        return gathered

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        total = grad.to(_communication_device(), copy=True).contiguous()  # autograd may still read ``grad``
        dist.all_reduce(total, group=ctx.group)
        return total[ctx.start : ctx.stop].to(grad.device), None, None


def gather_rows_with_grad(tensor: torch.Tensor, group: Any = None, same_size: bool = False) -> torch.Tensor:
    """:func:`gather_rows` through which the loss's gradient flows back to each rank's own rows.

    ``group`` (a process group; all ranks when None) limits the gather to its ranks;
    ``same_size`` says every rank holds as many rows (see :func:`_gather_padded`).
    """
    if not current_world().distributed:
        return tensor
    return _GatherRowsWithGrad.apply(tensor, group, same_size)


def from_rank0(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 alone, its result sent to every rank.

    Work whose result must be identical everywhere (clustering, reading a checkpoint)
    runs once. A user's mistake raised on rank 0 (a :class:`RobustReidError`) is
    raised on every rank, so all of them stop with the same message instead of
    waiting for rank 0 until the collective times out.
    """
    if not current_world().distributed:
        return compute()
    outcome: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            outcome = [(True, compute())]
        except RobustReidError as err:
            outcome = [(False, err)]
    dist.broadcast_object_list(outcome, src=0)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def on_cpu(value: Any) -> Any:
    """``value`` with every tensor in its dicts, lists and tuples moved to the CPU.

    What is broadcast as an object is unpickled on the device it was pickled from;
    a GPU tensor of rank 0 would land on GPU 0 of every other rank.
    """
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value


def barrier() -> None:
    """Wait for every rank (while rank 0 evaluates or writes, the others wait here)."""
    if current_world().distributed:
        dist.barrier()


def broadcast_buffers(module: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank.

    Without synchronised BatchNorm each rank's running statistics follow its own
    slice of the batch; features extracted on different ranks must come from one model.
    """
    if not current_world().distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
