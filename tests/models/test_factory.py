"""build_model: names -> ready re-ID models."""

from __future__ import annotations

import warnings

import pytest
import torch

from robustreid.errors import ConfigError
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


def test_model_carries_the_imagenet_weights():
    model = build_model("efficientnet_lite0")
    stem = VARIANTS["lite0"].weights.load()["_conv_stem.weight"]
    assert torch.equal(model.backbone.stem.conv.weight, stem)


def test_pooling_is_passed_through():
    assert isinstance(
        build_model("efficientnet_lite0", pretrained=False, pooling="avg").pool, GlobalAveragePooling
    )


def test_unknown_backbone_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown backbone 'osnet'; available: efficientnet_lite0"):
        build_model("osnet")


def test_frozen_stages_keep_imagenet_weights_and_statistics_in_training():
    model = build_model("efficientnet_lite0", frozen_stages=2).train()
    stem_before = model.backbone.stem.conv.weight.clone()
    running_mean = model.backbone.stages[0][0].depthwise.bn.running_mean.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model(torch.rand(4, 3, 64, 32))[:, 0].sum().backward()
    optimizer.step()
    assert not model.backbone.stem.training and not model.backbone.stages[0].training
    assert model.backbone.stages[1].training
    assert torch.equal(model.backbone.stem.conv.weight, stem_before)
    assert torch.equal(model.backbone.stages[0][0].depthwise.bn.running_mean, running_mean)
    assert model.backbone.stages[1][0].expand.conv.weight.grad is not None
    assert len(model.state_dict()) == len(build_model("efficientnet_lite0").state_dict())  # saved once


def test_frozen_stages_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="model.frozen_stages must be between 0 and 8"):
        build_model("efficientnet_lite0", pretrained=False, frozen_stages=9)
