"""``model.*`` in the config: which network to build and how, with the one copy of its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelConfig:
    """``model.*`` in the config, and the one place its defaults live."""

    backbone: str = "efficientnet_lite2"
    pretrained: bool = True  # ImageNet weights installed with the package (EfficientNet-Lite)
    weights: str | None = None  # a user's ImageNet state_dict instead (e.g. resnet50)
    last_stride: int = 1
    pooling: str = "gem"
    frozen_stages: int = 0  # leading backbone blocks (stem first) kept at ImageNet weights
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over several processes' samples
    samples_per_bn: int = 0  # with sync_bn: samples per BatchNorm group (0: the whole global batch)

    def architecture(self) -> dict[str, Any]:
        """What rebuilds the network around a checkpoint's weights (no ImageNet weights needed)."""
        return {"backbone": self.backbone, "last_stride": self.last_stride, "pooling": self.pooling}
