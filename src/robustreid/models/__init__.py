"""Backbones and the re-ID head: ``build_model(name)`` gives an image -> unit-norm embedding network."""

from .efficientnet_lite import EfficientNetLite, build_efficientnet_lite
from .registry import BACKBONES, BackboneFactory
from .resnet import ResNetTrunk, resnet50

__all__ = [
    "BACKBONES",
    "BackboneFactory",
    "EfficientNetLite",
    "ResNetTrunk",
    "build_efficientnet_lite",
    "resnet50",
]
