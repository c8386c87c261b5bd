"""build_model: names -> ready re-ID models."""

from __future__ import annotations

import warnings

import pytest
import torch

from robustreid.models import GlobalAveragePooling, backbone_names, build_model
from robustreid.models.efficientnet_lite import VARIANTS


def test_backbone_names():
    assert backbone_names() == ["efficientnet_lite0", "efficientnet_lite2", "resnet50"]


def test_random_lite0_trains_silently_on_tiny_images():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = build_model("efficientnet_lite0", pretrained=False).train()
    embeddings = model(torch.rand(2, 3, 64, 32))
    assert embeddings.shape == (2, model.feature_dim) == (2, 1280)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(2))
    (embeddings[0] @ embeddings[1]).backward()
    assert model.backbone.stem.conv.weight.grad.abs().sum() > 0


def test_default_model_carries_the_imagenet_weights():
    model = build_model()
    stem = VARIANTS["lite0"].weights.load()["_conv_stem.weight"]
    assert torch.equal(model.backbone.stem.conv.weight, stem)


def test_pooling_is_passed_through():
    assert isinstance(build_model(pretrained=False, pooling="avg").pool, GlobalAveragePooling)


def test_unknown_backbone_lists_the_available_ones():
    with pytest.raises(KeyError, match="unknown backbone 'osnet'; available: efficientnet_lite0"):
        build_model("osnet")
