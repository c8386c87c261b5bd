"""Backbones and the re-ID head: ``build_model(name)`` gives an image -> unit-norm embedding network."""

from robustreid.models.config import ModelConfig
from robustreid.models.efficientnet_lite import EfficientNetLite, build_efficientnet_lite
from robustreid.models.factory import (
    backbone_names,
    build_model,
    build_model_from_config,
    model_from_architecture,
)
from robustreid.models.head import POOLINGS, GeneralizedMeanPooling, GlobalAveragePooling, ReidModel, bn_neck
from robustreid.models.registry import BACKBONES, BackboneFactory
from robustreid.models.resnet import ResNetTrunk, resnet50

__all__ = [
    "BACKBONES",
    "POOLINGS",
    "BackboneFactory",
    "EfficientNetLite",
    "GeneralizedMeanPooling",
    "GlobalAveragePooling",
    "ModelConfig",
    "ReidModel",
    "ResNetTrunk",
    "backbone_names",
    "bn_neck",
    "build_efficientnet_lite",
    "build_model",
    "build_model_from_config",
    "model_from_architecture",
    "resnet50",
]
