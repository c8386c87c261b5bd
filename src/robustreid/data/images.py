"""Reading person crops into tensors, optionally all preloaded into RAM.

Decoding JPEGs dominates a CPU epoch at small image sizes; decoding and resizing
each image once (in threads: PIL releases the GIL) and keeping the uint8 tensor
makes every later epoch pay only for augmentation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm


def read_resized(path: str, height: int, width: int) -> torch.Tensor:
    """One image as a uint8 CHW tensor of the given size (bilinear, like torchvision Resize)."""
    with Image.open(path) as img:
        img = img.convert("RGB").resize((width, height), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def preload_images(
    paths: Sequence[str], height: int, width: int, threads: int = 4, desc: str = "loading images"
) -> torch.Tensor:
    """All images as one (N, 3, H, W) uint8 tensor."""
    out = torch.empty((len(paths), 3, height, width), dtype=torch.uint8)

    def load(i: int) -> None:
        out[i] = read_resized(paths[i], height, width)

    with ThreadPoolExecutor(threads) as pool:
        list(tqdm(pool.map(load, range(len(paths))), total=len(paths), desc=desc, leave=False, disable=None))
    return out


class ImageDataset(Dataset):
    """Index -> (transformed image, index). Reads from a preloaded tensor or from disk."""

    def __init__(
        self,
        paths: Sequence[str],
        height: int,
        width: int,
        transform: Callable[[torch.Tensor], torch.Tensor],
        preload: bool = True,
    ) -> None:
        self.paths = list(paths)
        self.height, self.width = height, width
        self.transform = transform
        self.cache = preload_images(self.paths, height, width) if preload else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = (
            self.cache[index]
            if self.cache is not None
            else read_resized(self.paths[index], self.height, self.width)
        )
        return self.transform(image), index

    def with_transform(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> ImageDataset:
        """The same images (sharing the cache) under another transform."""
        clone = object.__new__(ImageDataset)
        clone.__dict__.update(self.__dict__, transform=transform)
        return clone
