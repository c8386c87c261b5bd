"""ResNet-50: never downloads, warns when random, loads a user's torchvision state_dict."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision

from robustreid.errors import CheckpointError
from robustreid.models import resnet50


@pytest.mark.parametrize(("last_stride", "map_size"), [(1, (4, 2)), (2, (2, 1))])
def test_random_init_warns_and_last_stride_sets_the_map_size(last_stride, map_size):
    with pytest.warns(UserWarning, match="RANDOM initialisation"):
        trunk = resnet50(last_stride=last_stride).eval()
    with torch.no_grad():
        maps = trunk(torch.rand(1, 3, 64, 32))
    assert maps.shape == (1, trunk.out_channels, *map_size) == (1, 2048, *map_size)


def test_weights_path_loads_a_torchvision_state_dict_except_fc(tmp_path):
    state = torchvision.models.resnet50(weights=None).state_dict()
    state["conv1.weight"].fill_(0.5)
    state["fc.weight"], state["fc.bias"] = torch.zeros(10, 2048), torch.zeros(10)  # another head: ignored
    torch.save(state, tmp_path / "r50.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trunk = resnet50(weights=str(tmp_path / "r50.pth"))
    assert torch.equal(trunk.conv1.weight, state["conv1.weight"])
    assert torch.equal(trunk.layer4[2].bn3.running_var, state["layer4.2.bn3.running_var"])


def test_incomplete_weights_are_refused(tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    expected = r"partial\.pth do not fit ResNetTrunk: missing keys \(\d+\): bn1\.weight, bn1\.bias, bn1\.running_mean, \.\.\.$"
    with pytest.raises(CheckpointError, match=expected):
        resnet50(weights=str(path))
