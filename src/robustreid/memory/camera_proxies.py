"""Camera-aware proxies: one prototype per (cluster, camera), and an inter-camera contrastive loss.

Why: an ImageNet backbone ranks a camera's own images first, and a cluster's single
prototype leans towards the cameras that hold most of its members. ClusterNCE then
rewards features that also encode the camera. The inter-camera term pulls each sample
towards *every* camera's view of its cluster at once, against the proxies of other
clusters that look most like it, so encoding the camera stops paying off. CAP, ICE
and O2CAP use this kind of term (docs/method.md section 9; figures in FIELD.md).

Proxies are rebuilt from each epoch's clusters, like the cluster prototypes, and each
batch sample moves its own proxy by momentum. Samples without a camera id (-1) count
as one camera, so on camera-less data the term is a ClusterNCE with hard negatives.
"""

from __future__ import annotations

import torch


def cluster_camera_groups(labels: torch.Tensor, cameras: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's (cluster, camera) group (-1 for outliers), and each group's cluster.

    A group is one (cluster, camera) pair that has at least one member, numbered in
    cluster order, then camera order: one camera proxy each here, and 3C's camera
    groups for the gated updates' reliability (``strategies.member_reliability``).
    """
    keep = labels >= 0
    camera = cameras.clamp(min=0)
    num_cameras = int(camera.max()) + 1 if len(camera) else 1
    pairs, proxy = torch.unique(labels[keep] * num_cameras + camera[keep], return_inverse=True)
    sample_proxy = torch.full_like(labels, -1)
    sample_proxy[keep] = proxy
    return sample_proxy, pairs // num_cameras


def inter_camera_nce(
    unit: torch.Tensor,
    targets: torch.Tensor,
    proxies: torch.Tensor,
    proxy_cluster: torch.Tensor,
    temperature: float,
    hard_negatives: int,
) -> torch.Tensor:
    """Mean over samples of -mean over the proxies of its cluster of log p(proxy).

    p is a softmax of cosine / ``temperature`` over the cluster's proxies (one per
    camera that sees it) and the ``hard_negatives`` most similar proxies of other
    clusters: the rest are too far to shape the embedding, and leaving them out keeps
    the many easy negatives from drowning the cross-camera positives.
    """
    logits = unit @ proxies.to(unit.dtype).t() / temperature
    positive = proxy_cluster[None, :] == targets[:, None]
    hardest = logits.masked_fill(positive, float("-inf")).topk(min(hard_negatives, logits.shape[1]), dim=1)
    candidates = torch.cat([logits.masked_fill(~positive, float("-inf")), hardest.values], dim=1)
    log_p = logits - torch.logsumexp(candidates, dim=1, keepdim=True)
    return -(log_p.masked_fill(~positive, 0).sum(dim=1) / positive.sum(dim=1)).mean()
