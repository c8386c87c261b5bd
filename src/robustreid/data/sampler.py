"""P x K batches over pseudo-labels.

Each batch holds P pseudo-identities and K instances of each. Instances from
cameras other than the anchor's come first, because cross-camera positives are
what the contrastive loss must learn to pull together. Outliers (label -1) sit
out the epoch. The sampler draws from its own seeded generator so a resumed
epoch replays exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from robustreid.errors import ConfigError


class PKBatchSampler(Sampler[list[int]]):
    def __init__(
        self,
        labels: np.ndarray,
        camids: np.ndarray,
        batch_size: int,
        num_instances: int,
        num_batches: int,
        seed: int,
    ) -> None:
        if batch_size % num_instances:
            raise ConfigError(
                f"optim.batch_size {batch_size} must be a multiple of optim.num_instances {num_instances}"
            )
        labels = np.asarray(labels)
        self.members = [np.flatnonzero(labels == c) for c in np.unique(labels[labels >= 0])]
        if not self.members:
            raise ValueError("no clusters to sample from: every sample is an outlier")
        self.camids = np.asarray(camids)
        self.num_instances = num_instances
        self.clusters_per_batch = min(batch_size // num_instances, len(self.members))
        self.num_batches = num_batches
        self.seed = seed

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        order: list[int] = []
        for _ in range(self.num_batches):
            if len(order) < self.clusters_per_batch:  # next pass over all clusters, leftovers first
                order = [c for c in rng.permutation(len(self.members)) if c not in order] + order
            chosen = [order.pop() for _ in range(self.clusters_per_batch)]
            yield [int(i) for c in chosen for i in self._instances(self.members[c], rng)]

    def _instances(self, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """K members: a random anchor, then other-camera members, then same-camera ones, repeating if short."""
        shuffled = rng.permutation(members)
        anchor, rest = shuffled[0], shuffled[1:]
        same_camera = self.camids[rest] == self.camids[anchor]
        rest = rest[np.argsort(same_camera, kind="stable")]
        picked = np.concatenate([[anchor], rest])
        return np.resize(picked, self.num_instances)
