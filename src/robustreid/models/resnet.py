"""ResNet-50 backbone (torchvision architecture) for users who bring their own ImageNet weights.

No ResNet-50 ImageNet weights can be installed offline, and this library never
downloads, so the network starts random unless ``weights=PATH`` names a
torchvision-format state_dict; it warns loudly because a randomly initialised
backbone clusters poorly and unsupervised re-ID then barely learns.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import torchvision
from torch import nn

from robustreid.models.registry import validate_last_stride
from robustreid.models.weights import load_state_dict_file, load_strictly

DROPPED_LAYERS = ("avgpool", "fc")  # re-ID pools and embeds on its own


class ResNetTrunk(nn.Sequential):
    """torchvision's ResNet without avgpool/fc; its parameter names are torchvision's, so its files load as-is."""

    out_channels = 2048

    def stage_modules(self) -> list[nn.Module]:
        """The blocks in input order, stem (conv1 + bn1) first: what ``frozen_stages`` counts."""
        return [nn.ModuleList([self.conv1, self.bn1]), self.layer1, self.layer2, self.layer3, self.layer4]


def resnet50(pretrained: bool = True, weights: str | None = None, last_stride: int = 1) -> ResNetTrunk:
    """ResNet-50 feature maps (B, 2048, H/16, W/16) with last stride 1 (H/32 with 2).

    ``pretrained`` exists for the common factory signature only: pretrained
    ResNet-50 features come solely from ``weights`` (strict, except ``fc.*``).
    """
    validate_last_stride(last_stride)
    net = torchvision.models.resnet50(weights=None)
    first_block = net.layer4[0]
    first_block.conv2.stride = first_block.downsample[0].stride = (last_stride, last_stride)
    trunk = ResNetTrunk(
        OrderedDict((name, m) for name, m in net.named_children() if name not in DROPPED_LAYERS)
    )
    if weights is None:
        warnings.warn(
            "resnet50 has no offline ImageNet weights and starts from RANDOM initialisation: re-ID accuracy "
            "will be poor. Pass weights=PATH to a torchvision ResNet-50 ImageNet state_dict, or use "
            "efficientnet_lite0 / efficientnet_lite2, whose ImageNet weights are installed with robustreid.",
            UserWarning,
            stacklevel=2,
        )
    else:
        state = {k: v for k, v in load_state_dict_file(weights).items() if not k.startswith("fc.")}
        load_strictly(trunk, state, source=weights)
    return trunk
