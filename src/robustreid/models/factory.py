"""One call from a backbone name to a ready re-ID model."""

from __future__ import annotations

from robustreid.models import efficientnet_lite, resnet  # noqa: F401  (importing registers the backbones)
from robustreid.models.head import ReidModel
from robustreid.models.registry import BACKBONES


def build_model(
    name: str = "efficientnet_lite0",
    pretrained: bool = True,
    weights: str | None = None,
    last_stride: int = 1,
    pooling: str = "gem",
    frozen_stages: int = 0,
) -> ReidModel:
    """Build backbone ``name`` (see :func:`backbone_names`) under the GeM/avg + BN-neck head.

    ``pretrained`` loads the ImageNet weights installed with the package
    (EfficientNet-Lite); ``weights`` loads a user's ImageNet state_dict instead.
    """
    backbone = BACKBONES.get(name)(pretrained=pretrained, weights=weights, last_stride=last_stride)
    return ReidModel(backbone, pooling=pooling, frozen_stages=frozen_stages)


def backbone_names() -> list[str]:
    return BACKBONES.names()
