"""The names of the backbones and poolings, and the contract every backbone factory follows.

A uniform factory signature lets ``build_model`` and the CLI treat every
backbone alike. Torch-free, so that a config's ``model.*`` is checked without
importing torch: each registry declares where its factories live
(:mod:`robustreid.utils.registry`), imported when a model is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from robustreid.errors import ConfigError
from robustreid.utils.registry import Registry

if TYPE_CHECKING:
    from torch import nn


class BackboneFactory(Protocol):
    """Builds a network that maps images (B, 3, H, W) to feature maps (B, C, h, w).

    The returned module exposes ``out_channels`` (= C) so the re-ID head can
    size itself without running a forward pass.
    """

    def __call__(
        self, pretrained: bool = True, weights: str | None = None, last_stride: int = 1
    ) -> nn.Module: ...


#: ``model.backbone``.
BACKBONES: Registry[BackboneFactory] = Registry(
    "backbone",
    {
        "efficientnet_lite0": "robustreid.models.efficientnet_lite:efficientnet_lite0",
        "efficientnet_lite2": "robustreid.models.efficientnet_lite:efficientnet_lite2",
        "resnet50": "robustreid.models.resnet:resnet50",
    },
)
#: ``model.pooling``: feature maps (B, C, h, w) -> (B, C).
POOLINGS: Registry[type[nn.Module]] = Registry(
    "pooling",
    {
        "gem": "robustreid.models.head:GeneralizedMeanPooling",
        "avg": "robustreid.models.head:GlobalAveragePooling",
    },
)

#: 1 (re-ID: twice the spatial resolution of the last stage) or 2 (ImageNet): the only strides that make sense.
LAST_STRIDES = (1, 2)


def validate_last_stride(last_stride: int) -> None:
    if last_stride not in LAST_STRIDES:
        raise ConfigError(f"model.last_stride must be 1 or 2, got {last_stride!r}")
