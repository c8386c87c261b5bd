"""Features of any images from a trained model, in one call.

``FeatureExtractor("runs/x/model_best.pth")(images)`` is what an application needs:
the checkpoint says how images must be prepared (size and normalisation), so the
caller passes images in whatever form it holds them (files, folders, PIL images,
uint8 arrays, a float batch) and always gets the embedding the model was trained to
produce. Every input goes through the same resize and normalisation as training and
evaluation, so one image gives the same feature whichever form it came in.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from robustreid.data.datasets.layout import list_images
from robustreid.data.images import read_resized
from robustreid.errors import DataError
from robustreid.inference.checkpoint import Preprocessing, TrainedModel, load_model
from robustreid.inference.defaults import DEFAULT_BATCH_SIZE
from robustreid.inference.features import extract_features
from robustreid.utils.runtime import resolve_device, resolve_inference_dtype

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor
"""A path (file or folder), a PIL image, an HxWx3 uint8 array or an (N, 3, H, W) float tensor in [0, 1]."""

Images = ImageInput | Sequence[ImageInput]

_WHAT_IMAGES_MAY_BE = (
    "pass image paths, folders, PIL images, HxWx3 uint8 arrays or an (N, 3, H, W) float tensor in [0, 1]"
)


def image_paths(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Image files named by paths: a file is itself, a folder every image under it (sorted, recursive)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths: list[str] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = list_images(source, recursive=True)
            if not found:
                raise DataError(f"no images under {source} (looked for .jpg, .png, .bmp, .webp, .tif)")
            paths += map(str, found)
        elif source.is_file():
            paths.append(str(source))
        else:
            raise DataError(f"no such image or folder: {source}")
    return paths


def normalising_transform(preprocessing: Preprocessing) -> v2.Compose:
    """uint8 (or [0, 1] float) CHW -> the normalised float input the model was trained on."""
    return v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), v2.Normalize(preprocessing.mean, preprocessing.std)]
    )


class ImageInputs(Dataset):
    """Any mix of :data:`ImageInput` as a data set of model inputs at the checkpoint's size.

    Files are read lazily (a folder of a million crops is not held in memory); images
    already in memory are resized once here. PIL and array images are resized exactly
    as :func:`robustreid.data.images.read_resized` resizes files (PIL bilinear); a float
    batch of another size is resized with antialiased bilinear interpolation.
    """

    def __init__(self, images: Images, preprocessing: Preprocessing) -> None:
        self.height, self.width = preprocessing.height, preprocessing.width
        self.transform = normalising_transform(preprocessing)
        self.sources: list[str | torch.Tensor] = list(self._sources(images))

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        source = self.sources[index]
        image = read_resized(source, self.height, self.width) if isinstance(source, str) else source
        return self.transform(image), index

    def _sources(self, images: Images) -> Iterator[str | torch.Tensor]:
        if isinstance(images, torch.Tensor):
            yield from self._float_batch(images).unbind(0)
        elif isinstance(images, (str, os.PathLike)):
            yield from image_paths(images)
        elif isinstance(images, Image.Image):
            yield self._resized(images)
        elif isinstance(images, np.ndarray):
            yield self._resized(_array_as_image(images))
        elif isinstance(images, Sequence):
            for item in images:
                yield from self._sources(item)
        else:
            raise DataError(f"cannot read images from a {type(images).__name__}; {_WHAT_IMAGES_MAY_BE}")

    def _resized(self, image: Image.Image) -> torch.Tensor:
        resized = image.convert("RGB").resize((self.width, self.height), Image.BILINEAR)
        return torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1)

    def _float_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """An RGB float batch in [0, 1] on the CPU at the model's size; one CHW image is a batch of one."""
        batch = batch.unsqueeze(0) if batch.dim() == 3 else batch
        if not batch.is_floating_point() or batch.dim() != 4 or batch.shape[1] != 3:
            raise DataError(
                f"a tensor of images must be float (N, 3, H, W) RGB in [0, 1], got {batch.dtype} "
                f"{tuple(batch.shape)}; convert uint8 images with images.float() / 255"
            )
        batch = batch.detach().float().cpu()
        if batch.numel() and (batch.min() < 0 or batch.max() > 1):
            raise DataError(
                f"a float tensor of images must hold RGB in [0, 1], got values in "
                f"[{batch.min():.3g}, {batch.max():.3g}]; "
                "pass images before normalisation (the extractor normalises them as the model needs)"
            )
        if batch.shape[-2:] != (self.height, self.width):
            batch = F.interpolate(batch, (self.height, self.width), mode="bilinear", antialias=True)
        return batch.clamp_(0, 1)


def _array_as_image(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise DataError(
            f"an image array must be HxWx3 uint8 RGB, got {array.dtype} {array.shape}; {_WHAT_IMAGES_MAY_BE}"
        )
    return Image.fromarray(array)


def model_fingerprint(model: torch.nn.Module, architecture: dict[str, Any]) -> str:
    """sha256 of the architecture and every weight: the model's identity, whichever file holds it.

    A gallery index records it, so features of two different models (which are not
    comparable) are never searched against each other; ``model_best.pth`` and a
    ``checkpoint.pth`` of the same weights have the same fingerprint.
    """
    digest = hashlib.sha256(json.dumps(architecture, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureExtractor:
    """A trained model ready to embed images: ``extractor(images)`` -> L2-normalised (N, D) features.

    ``checkpoint`` is a ``model_best.pth`` (or ``checkpoint.pth``) of a run, or a
    :class:`TrainedModel` already in memory (``checkpoint`` is then None: e.g. an
    ImageNet-initialised backbone from :func:`~robustreid.inference.checkpoint.imagenet_model`,
    the starting point that ``evaluate`` and ``extract`` measure without a checkpoint). Its
    preprocessing (input size, normalisation) is applied to every image. ``device``
    ``None`` picks CUDA when present; ``dtype`` ("auto" | "fp32" | "bf16") is the
    compute precision, as ``runtime.inference_dtype`` of a training config.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | TrainedModel,
        device: str | torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dtype: str = "auto",
        num_workers: int = 0,
    ) -> None:
        self.device = resolve_device(str(device or "auto"))
        if isinstance(checkpoint, TrainedModel):
            self.checkpoint, trained = None, checkpoint
        else:
            self.checkpoint = Path(checkpoint)
            trained = load_model(self.checkpoint, self.device)
        self.model = trained.model.to(self.device).eval()
        self.preprocessing = trained.preprocessing
        self.architecture = trained.architecture
        self.dtype = resolve_inference_dtype(dtype, self.device)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.fingerprint = model_fingerprint(self.model, self.architecture)

    @property
    def feature_dim(self) -> int:
        return self.model.feature_dim

    def __call__(self, images: Images, numpy: bool = False) -> torch.Tensor | np.ndarray:
        """Features of ``images`` (see :data:`ImageInput`; lists may mix kinds), in input order, on the CPU."""
        inputs = ImageInputs(images, self.preprocessing)
        if len(inputs) == 0:
            raise DataError(f"no images given; {_WHAT_IMAGES_MAY_BE}")
        features = extract_features(
            self.model,
            inputs,
            self.batch_size,
            self.num_workers,
            self.device,
            desc="extract",
            dtype=self.dtype,
        )
        return features.numpy() if numpy else features

    def __repr__(self) -> str:
        p = self.preprocessing
        return (
            f"FeatureExtractor({str(self.checkpoint or 'in memory')!r}, {self.architecture['backbone']}, "
            f"{p.height}x{p.width}, device={self.device}, dtype={self.dtype})"
        )
