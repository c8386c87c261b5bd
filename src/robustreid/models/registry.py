"""The backbone registry and the contract every backbone factory follows.

A uniform factory signature lets ``build_model`` and the CLI treat every
backbone alike; each backbone module registers itself on import.
"""

from __future__ import annotations

from typing import Protocol

from torch import nn

from robustreid.errors import ConfigError
from robustreid.utils.registry import Registry


class BackboneFactory(Protocol):
    """Builds a network that maps images (B, 3, H, W) to feature maps (B, C, h, w).

    The returned module exposes ``out_channels`` (= C) so the re-ID head can
    size itself without running a forward pass.
    """

    def __call__(
        self, pretrained: bool = True, weights: str | None = None, last_stride: int = 1
    ) -> nn.Module: ...


BACKBONES: Registry[BackboneFactory] = Registry("backbone")


#: 1 (re-ID: twice the spatial resolution of the last stage) or 2 (ImageNet): the only strides that make sense.
LAST_STRIDES = (1, 2)


def validate_last_stride(last_stride: int) -> None:
    if last_stride not in LAST_STRIDES:
        raise ConfigError(f"model.last_stride must be 1 or 2, got {last_stride!r}")
