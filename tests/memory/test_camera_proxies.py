"""Camera-aware proxies: the (cluster, camera) grouping, the inter-camera loss, and what they do in training."""

import math

import pytest
import torch
import torch.nn.functional as F

from robustreid.memory.camera_proxies import cluster_camera_groups, inter_camera_nce
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.settings import MemoryConfig

E = torch.eye(6)


def test_groups_number_proxies_by_cluster_then_camera_and_skip_outliers():
    labels = torch.tensor([1, 0, 0, 1, -1, 0, 1])
    cameras = torch.tensor([0, 2, 0, 0, 1, 2, -1])  # -1: unknown camera counts as camera 0
    sample_proxy, proxy_cluster = cluster_camera_groups(labels, cameras)
    assert proxy_cluster.tolist() == [0, 0, 1]  # (0, cam 0), (0, cam 2), (1, cam 0)
    assert sample_proxy.tolist() == [2, 1, 0, 2, -1, 1, 2]


def test_loss_is_the_mean_negative_log_likelihood_of_the_cluster_proxies_against_the_hardest_negatives():
    unit = torch.tensor([[1.0, 0.0]])
    proxies = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]]), dim=1)
    proxy_cluster = torch.tensor([0, 0, 1, 2])
    loss = inter_camera_nce(
        unit, torch.tensor([0]), proxies, proxy_cluster, temperature=0.5, hard_negatives=1
    )
    # logits: 2.0, 1.2 (the cluster's two proxies); 0.0 (hardest negative) and -2.0 (left out)
    log_z = math.log(math.exp(2.0) + math.exp(1.2) + math.exp(0.0))
    assert loss.item() == pytest.approx(-((2.0 - log_z) + (1.2 - log_z)) / 2, rel=1e-5)


def two_camera_memory(camera_weight: float) -> tuple[ClusterMemory, torch.Tensor, torch.Tensor]:
    """Cluster 0 seen by camera 0 (near E0) and camera 1 (near E1); cluster 1 far away (E4)."""
    features = F.normalize(
        torch.stack([E[0], E[0] + 0.1 * E[2], E[1], E[1] + 0.1 * E[3], E[4], E[4] + 0.1 * E[5]])
    )
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    cameras = torch.tensor([0, 0, 1, 1, 0, 1])
    memory = ClusterMemory(MemoryConfig(update="mean", camera_weight=camera_weight))
    memory.initialise(features, labels, cameras=cameras)
    return memory, features, labels


def pull_towards_other_camera(camera_weight: float) -> float:
    """Cosine gain towards cluster 0's camera-1 view of a camera-0 sample after 20 gradient steps."""
    memory, features, labels = two_camera_memory(camera_weight)
    x = features[:1].clone().requires_grad_(True)
    other_view = F.normalize(E[1], dim=0)
    before = F.cosine_similarity(x.detach(), other_view[None]).item()
    optimiser = torch.optim.SGD([x], lr=0.05)
    for _ in range(20):
        optimiser.zero_grad()
        memory(x, labels[:1]).backward()
        optimiser.step()
    return F.cosine_similarity(x.detach(), other_view[None]).item() - before


def test_inter_camera_loss_pulls_a_sample_towards_its_cluster_seen_from_the_other_camera():
    assert pull_towards_other_camera(1.0) > pull_towards_other_camera(0.0) + 0.05


def test_each_sample_moves_only_its_own_camera_proxy():
    memory, features, labels = two_camera_memory(0.5)
    before = memory.camera_proxies.clone()
    memory.update(features[2:3] + E[5], labels[2:3], indices=torch.tensor([2]))
    moved = (memory.camera_proxies - before).norm(dim=1) > 1e-6
    assert moved.tolist() == [False, True, False, False]  # (0, cam 0), (0, cam 1), (1, cam 0), (1, cam 1)


def test_camera_weight_off_builds_no_proxies_and_leaves_the_loss_unchanged():
    memory, features, labels = two_camera_memory(0.0)
    assert memory.camera_proxies.numel() == 0
    plain = F.cross_entropy(F.normalize(features) @ memory.prototypes.t() / 0.05, labels)
    assert memory(features, labels).item() == pytest.approx(plain.item(), rel=1e-6)
