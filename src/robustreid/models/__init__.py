"""Backbones and the re-ID head: ``build_model(name)`` gives an image -> unit-norm embedding network."""

from .efficientnet_lite import EfficientNetLite, build_efficientnet_lite
from .factory import backbone_names, build_model
from .head import POOLINGS, GeneralizedMeanPooling, GlobalAveragePooling, ReidModel, bn_neck
from .registry import BACKBONES, BackboneFactory
from .resnet import ResNetTrunk, resnet50

__all__ = [
    "BACKBONES",
    "POOLINGS",
    "BackboneFactory",
    "EfficientNetLite",
    "GeneralizedMeanPooling",
    "GlobalAveragePooling",
    "ReidModel",
    "ResNetTrunk",
    "backbone_names",
    "bn_neck",
    "build_efficientnet_lite",
    "build_model",
    "resnet50",
]
