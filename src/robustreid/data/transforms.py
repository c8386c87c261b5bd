"""Train/test transforms on uint8 CHW tensors that are already resized.

Images are resized once when they are read (see :mod:`robustreid.data.images`), so
the per-epoch work is only cheap tensor augmentation: flip, pad + random crop,
random erasing. That keeps CPU epochs fast and makes preloading possible.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalised_float() -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


def build_train_transform(height: int, width: int, padding: int = 10, erasing_p: float = 0.5) -> v2.Compose:
    """Cluster-contrast augmentation: flip, pad + crop back to size, random erasing (to the mean)."""
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.Pad(padding),
            v2.RandomCrop((height, width)),
            *_to_normalised_float(),
            v2.RandomErasing(p=erasing_p, value=0.0),  # 0 after normalisation == the ImageNet mean
        ]
    )


def build_test_transform() -> v2.Compose:
    return v2.Compose(_to_normalised_float())
