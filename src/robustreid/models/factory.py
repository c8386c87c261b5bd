"""One call from a backbone name to a ready re-ID model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from robustreid.models.config import ModelConfig
from robustreid.models.head import ReidModel
from robustreid.models.registry import BACKBONES


def build_model(name: str, **options: Any) -> ReidModel:
    """Build backbone ``name`` (see :func:`backbone_names`) under the GeM/avg + BN-neck head.

    ``options`` are the other :class:`ModelConfig` fields (``pretrained``, ``weights``,
    ``last_stride``, ``pooling``, ``frozen_stages``). The model keeps its config as
    ``model.config``, so a checkpoint can say which architecture its weights fit.
    """
    return build_model_from_config(replace(ModelConfig(backbone=name), **options))


def build_model_from_config(config: ModelConfig) -> ReidModel:
    backbone = BACKBONES.get(config.backbone)(
        pretrained=config.pretrained, weights=config.weights, last_stride=config.last_stride
    )
    model = ReidModel(backbone, pooling=config.pooling, frozen_stages=config.frozen_stages)
    model.config = config
    return model


def model_from_architecture(architecture: dict[str, Any]) -> ReidModel:
    """An untrained network of a saved :meth:`ModelConfig.architecture`, for loading weights into."""
    return build_model_from_config(ModelConfig(**architecture, pretrained=False))


def backbone_names() -> list[str]:
    return BACKBONES.names()
