"""BatchNorm whose statistics do not depend on how many devices share the batch.

With plain BatchNorm under DDP each device normalises by the statistics of its own
slice of the P x K batch, so 4 x 64 trains a different network than 1 x 256: the
reason results of DataParallel re-ID code change with the GPU count.
:class:`GroupBatchNorm` normalises by the statistics of all samples held by a fixed
group of ranks, so a BN group of ``model.samples_per_bn`` samples sees the same
statistics whatever the devices are.

PyTorch's own ``SyncBatchNorm`` refuses CPU tensors; this one works on any device
(gloo on CPUs, nccl on GPUs), which is what lets the test suite check on a CPU that
2 processes train the same network as 1. Each layer exchanges only its per-rank
count, mean and centred sum of squares (2C + 1 numbers), merged exactly.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from robustreid.distributed.collectives import gather_rows_with_grad
from robustreid.distributed.world import World
from robustreid.errors import ConfigError

log = logging.getLogger("robustreid")


class GroupBatchNorm(_BatchNorm):
    """BatchNorm over the samples of every rank in ``group`` (in training mode); plain BatchNorm in eval mode."""

    def __init__(self, num_features: int, group: Any, **options: Any) -> None:
        super().__init__(num_features, **options)
        self.group = group

    @classmethod
    def replacing(cls, layer: _BatchNorm, group: Any) -> GroupBatchNorm:
        """A layer that keeps ``layer``'s parameters (the same objects: optimisers see no change) and statistics."""
        synced = cls(
            layer.num_features,
            group,
            eps=layer.eps,
            momentum=layer.momentum,
            affine=layer.affine,
            track_running_stats=layer.track_running_stats,
        )
        synced.weight, synced.bias = layer.weight, layer.bias
        synced.running_mean, synced.running_var = layer.running_mean, layer.running_var
        synced.num_batches_tracked = layer.num_batches_tracked
        return synced.train(layer.training)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(input)
        x = input.to(torch.promote_types(input.dtype, torch.float32))  # bf16 / fp16 statistics in fp32
        mean, var, count = self._group_statistics(x)
        if self.track_running_stats:
            self._track(mean.detach(), var.detach(), count)
        shape = (1, -1) + (1,) * (input.dim() - 2)
        normalised = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            normalised = normalised * self.weight.view(shape) + self.bias.view(shape)
        return normalised.to(input.dtype)

    def _group_statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Mean and (biased) variance per channel over the group's samples, and their count.

        Each rank sends (n, mean, centred sum of squares); merging them by Chan's formula
        is exact and stable, unlike summing squares. Gradients flow through the merge to
        every rank's inputs.
        """
        dims = [0, *range(2, x.dim())]
        local_count = x.numel() // x.shape[1]
        local_mean = x.mean(dims)
        local_m2 = (x - local_mean.view(1, -1, *([1] * (x.dim() - 2)))).pow(2).sum(dims)
        row = torch.cat([local_mean.new_tensor([local_count]), local_mean, local_m2]).unsqueeze(0)
        rows = gather_rows_with_grad(row, self.group, same_size=True)
        counts, means, m2s = rows[:, :1], rows[:, 1 : 1 + self.num_features], rows[:, 1 + self.num_features :]
        count = counts.sum()
        mean = (counts * means).sum(0) / count
        m2 = (m2s + counts * (means - mean).pow(2)).sum(0)
        return mean, m2 / count, int(count.item())

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        """Running statistics as BatchNorm keeps them (unbiased variance; cumulative when momentum is None)."""
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * count / max(count - 1, 1)
        self.running_mean.mul_(1 - factor).add_(factor * mean.to(self.running_mean.dtype))
        self.running_var.mul_(1 - factor).add_(factor * unbiased.to(self.running_var.dtype))


def ranks_per_bn_group(samples_per_bn: int, per_device_batch: int, world: World) -> int:
    """How many consecutive ranks share BatchNorm statistics so that a group holds ``samples_per_bn`` samples.

    0 means all ranks: the statistics of the whole global batch. A group must be a
    whole number of ranks and the ranks must split into whole groups; a group smaller
    than one device's batch (ghost BatchNorm) is not supported.
    """
    if samples_per_bn == 0:
        return world.size
    ranks, rest = divmod(samples_per_bn, per_device_batch)
    if rest or ranks == 0 or world.size % ranks:
        raise ConfigError(
            f"model.samples_per_bn={samples_per_bn} must be the per-device batch ({per_device_batch}) "
            f"times a divisor of the {world.size} process(es), e.g. "
            f"{per_device_batch * world.size} for one group over all of them, or 0 for the same"
        )
    return ranks


def synchronise_batchnorm(model: nn.Module, ranks_per_group: int, world: World) -> nn.Module:
    """``model`` with its trainable BatchNorm layers replaced by :class:`GroupBatchNorm` over groups of ranks.

    Every rank creates every group (PyTorch requires it), in the same order. Layers
    whose parameters are all frozen (``model.frozen_stages``) stay as they are: they
    always run in eval mode, on their stored statistics.
    """
    if ranks_per_group == 1:
        return model  # a group of one rank is plain BatchNorm
    groups = [
        dist.new_group(list(range(s, s + ranks_per_group))) for s in range(0, world.size, ranks_per_group)
    ]
    _replace_batchnorm(model, groups[world.rank // ranks_per_group])
    log.info("BatchNorm synchronised over groups of %d processes (model.samples_per_bn)", ranks_per_group)
    return model


def _replace_batchnorm(module: nn.Module, group: Any) -> None:
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and _trainable(child):
            setattr(module, name, GroupBatchNorm.replacing(child, group))
        else:
            _replace_batchnorm(child, group)


def _trainable(layer: nn.Module) -> bool:
    """A layer without parameters (affine=False) still normalises by batch statistics in training."""
    parameters = list(layer.parameters())
    return not parameters or any(p.requires_grad for p in parameters)
