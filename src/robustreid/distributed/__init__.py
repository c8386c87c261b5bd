"""Training on several processes (``torchrun``), with a result that depends on the global batch only.

How each phase of an epoch is distributed (docs/scaling.md has the costs):

* feature extraction: each rank extracts a contiguous shard of the images, the shards
  are gathered in rank order, i.e. in data set order;
* pseudo-labels: every rank labels the gathered features; the kNN search, which dominates
  at scale, is split over the ranks by rows and its lists all-gathered (:mod:`.neighbours`),
  and the rest (Jaccard distance, DBSCAN) is deterministic, so every rank finds rank 0's labels;
* memory initialisation: run on every rank, then rank 0's memory is broadcast;
* training: every rank loads and augments the same global P x K batch, from rank 0's
  random state, and trains on its contiguous slice; the loss is computed on the gathered batch and the memory is
  updated with the gathered features, targets and indices, as a single process would;
  BatchNorm is optionally synchronised over a fixed number of samples;
* evaluation, checkpoints, logs, metrics and pictures: rank 0 only.

Nothing here changes a single process's run: every function is the identity (or does
nothing) when no process group exists.
"""

from robustreid.distributed.batchnorm import GroupBatchNorm, ranks_per_bn_group, synchronise_batchnorm
from robustreid.distributed.collectives import (
    barrier,
    broadcast_buffers,
    from_rank0,
    gather_rows,
    gather_rows_with_grad,
    on_cpu,
)
from robustreid.distributed.neighbours import sharded_knn
from robustreid.distributed.training import (
    broadcast_memory,
    local_rows,
    per_device_batch,
    prepare_batchnorm,
    same_random_state,
    shard,
    wrap_for_training,
)
from robustreid.distributed.world import (
    World,
    current_world,
    launched_world,
    process_device,
    process_group,
    share,
)

__all__ = [
    "GroupBatchNorm",
    "World",
    "barrier",
    "broadcast_buffers",
    "broadcast_memory",
    "current_world",
    "from_rank0",
    "gather_rows",
    "gather_rows_with_grad",
    "launched_world",
    "local_rows",
    "on_cpu",
    "per_device_batch",
    "prepare_batchnorm",
    "process_device",
    "process_group",
    "ranks_per_bn_group",
    "same_random_state",
    "shard",
    "share",
    "sharded_knn",
    "synchronise_batchnorm",
    "wrap_for_training",
]
