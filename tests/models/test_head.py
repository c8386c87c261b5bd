"""Re-ID head: GeM / average pooling, BN neck, unit-norm embeddings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustreid.errors import ConfigError
from robustreid.models import GeneralizedMeanPooling, GlobalAveragePooling, ReidModel, bn_neck


class TinyBackbone(nn.Sequential):
    out_channels = 8

    def __init__(self):
        super().__init__(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())


def test_gem_with_p1_equals_average_pooling():
    maps = torch.rand(4, 6, 5, 3, generator=torch.Generator().manual_seed(0)) + 0.1
    gem = GeneralizedMeanPooling(p=1.0)
    torch.testing.assert_close(gem(maps), GlobalAveragePooling()(maps))
    torch.testing.assert_close(gem(maps), maps.mean(dim=(2, 3)))


def test_gem_default_is_the_cubic_mean():
    maps = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
    gem = GeneralizedMeanPooling()
    assert gem.p.item() == 3.0
    torch.testing.assert_close(gem(maps), torch.tensor([[4.5 ** (1 / 3)]]))  # ((1 + 8) / 2)^(1/3) = 1.651


def test_gem_learns_p():
    gem = GeneralizedMeanPooling()
    gem(torch.rand(2, 3, 4, 4) + 0.1).sum().backward()
    assert gem.p.grad is not None and gem.p.grad.abs().item() > 0


def test_bn_neck_bias_stays_zero_while_weight_trains():
    neck = bn_neck(4)
    optimizer = torch.optim.SGD([p for p in neck.parameters() if p.requires_grad], lr=0.5)
    (neck(torch.randn(8, 4)) * torch.arange(4.0)).sum().backward()
    optimizer.step()
    assert not neck.bias.requires_grad
    assert torch.equal(neck.bias, torch.zeros(4))
    assert not torch.equal(neck.weight, torch.ones(4))


@pytest.mark.parametrize("training", [True, False])
def test_embedding_is_unit_norm_in_train_and_eval_mode(training):
    model = ReidModel(TinyBackbone()).train(training)
    embeddings = model(torch.rand(5, 3, 8, 4))
    assert embeddings.shape == (5, model.feature_dim) == (5, 8)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(5))


def test_eval_embedding_is_pool_then_neck_then_l2():
    model = ReidModel(TinyBackbone(), pooling="avg").eval()
    model.neck.running_mean.fill_(0.2)
    model.neck.running_var.fill_(4.0)
    images = torch.rand(3, 3, 8, 4)
    pooled = model.backbone(images).mean(dim=(2, 3))
    expected = F.normalize((pooled - 0.2) / torch.sqrt(torch.tensor(4.0 + model.neck.eps)), dim=1)
    torch.testing.assert_close(model(images), expected)


def test_unknown_pooling_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown pooling 'max'; available: avg, gem"):
        ReidModel(TinyBackbone(), pooling="max")


def test_backbone_must_expose_out_channels():
    with pytest.raises(TypeError, match="out_channels"):
        ReidModel(nn.ReLU())
