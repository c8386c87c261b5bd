"""The re-ID head: pooling, a BatchNorm neck and L2 normalisation.

The cluster memory compares features by cosine similarity, so the model
returns unit-norm embeddings in train and eval mode alike; training and
retrieval then see exactly the same feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.errors import ConfigError
from robustreid.models.registry import POOLINGS

if TYPE_CHECKING:
    from robustreid.models.config import ModelConfig


class GeneralizedMeanPooling(nn.Module):
    """GeM: (mean x^p)^(1/p) per channel; p=1 is average pooling, large p approaches max pooling.

    ``p`` is learned so training can pick how much to favour the strongest
    activations (discriminative body parts). Clamping at ``eps`` keeps x^p and its
    gradient defined (no zero or negative bases).
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([p]))
        self.eps = eps

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


class GlobalAveragePooling(nn.Module):
    """Mean over all positions: (B, C, h, w) -> (B, C)."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.mean(dim=(2, 3))


def bn_neck(dim: int) -> nn.BatchNorm1d:
    """BatchNorm1d with its bias frozen at 0 ("bag of tricks" BNNeck).

    Standardising each channel before the L2 norm spreads the features around the
    origin, where cosine similarity separates them best; a learned bias would
    drift them off-centre, so it stays 0 and only the scale is trained.
    """
    neck = nn.BatchNorm1d(dim)
    neck.bias.requires_grad_(False)
    return neck


class ReidModel(nn.Module):
    """Backbone -> pooling ("gem" | "avg") -> BN neck -> L2-normalised embedding (B, D).

    In train mode the BN neck needs a batch of more than one image.

    ``frozen_stages`` keeps that many of the backbone's leading blocks (the stem counts
    as the first) at their ImageNet weights and BatchNorm statistics: their generic
    edge and texture filters need no re-ID training, and skipping their backward pass
    makes a CPU training step ~1.5x faster (benchmarks/cpu_throughput.py).
    """

    config: ModelConfig | None = None  # set by build_model: which architecture the weights fit

    def __init__(self, backbone: nn.Module, pooling: str = "gem", frozen_stages: int = 0):
        super().__init__()
        channels = getattr(backbone, "out_channels", None)
        if not isinstance(channels, int):
            raise TypeError(
                f"{type(backbone).__name__} must expose an int `out_channels` to be used as a backbone"
            )
        self.backbone = backbone
        self.pool = POOLINGS.get(pooling)()
        self.neck = bn_neck(channels)
        self.frozen_stages = frozen_stages
        self._frozen = tuple(_leading_stages(backbone, frozen_stages))  # a tuple: not registered twice
        for stage in self._frozen:
            stage.requires_grad_(False)

    def train(self, mode: bool = True) -> ReidModel:
        super().train(mode)
        for stage in self._frozen:
            stage.eval()
        return self

    @property
    def feature_dim(self) -> int:
        return self.neck.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.neck(self.pool(self.backbone(images))), dim=1)


def _leading_stages(backbone: nn.Module, count: int) -> list[nn.Module]:
    """The first ``count`` blocks of ``backbone.stage_modules()``."""
    if count == 0:
        return []
    stages = backbone.stage_modules() if hasattr(backbone, "stage_modules") else None
    if stages is None:
        raise TypeError(f"{type(backbone).__name__} has no stage_modules(); it cannot freeze stages")
    if not 0 <= count <= len(stages):
        raise ConfigError(
            f"model.frozen_stages must be between 0 and {len(stages)} for this backbone, got {count}"
        )
    return stages[:count]
