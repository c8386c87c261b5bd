"""Reading person crops into tensors, optionally all preloaded into RAM, and screening them first.

Decoding JPEGs dominates a CPU epoch at small image sizes; decoding and resizing
each image once (in threads: PIL releases the GIL) and keeping the uint8 tensor
makes every later epoch pay only for augmentation.

Real data sets hold broken files: zero-byte or truncated downloads, text saved as
``.jpg``, 1x1 placeholders. :func:`screen_dataset` finds them before training, so
no epoch stops half-way on one: a few are skipped with a warning, more than
``max_bad_fraction`` of a split is an error that lists them. It also warns about
files whose content appears twice (a copied folder, a query image in the gallery).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from robustreid.data.base import SPLITS, ImageItem, ReidDataset
from robustreid.errors import DataError

log = logging.getLogger("robustreid")

#: Default share of a split's images that may be unusable and skipped (``data.max_bad_fraction``).
DEFAULT_MAX_BAD_FRACTION = 0.01
#: Images narrower or lower than this are placeholders or detector noise, not persons.
MIN_IMAGE_SIDE = 8
#: Integer modes wider than 8 bits (16-bit PNG/TIFF); PIL's ``convert("RGB")`` clips them at 255.
WIDE_INTEGER_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
#: What PIL raises on a file it cannot decode (UnidentifiedImageError and truncation are OSErrors).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
#: How many broken or duplicate files a message names before it says "and N more".
NAMED_IN_MESSAGE = 5


def to_rgb(img: Image.Image) -> Image.Image:
    """Any mode PIL reads (grayscale, palette, RGBA, CMYK, 16-bit) as 8-bit RGB; alpha is dropped.

    16-bit images keep their top byte: converting them directly would clip every
    value above 255 and turn a normal 16-bit photo almost entirely white.
    """
    if img.mode in WIDE_INTEGER_MODES:
        wide = np.asarray(img, dtype=np.int64)
        img = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8))
    return img.convert("RGB")


def read_resized(path: str, height: int, width: int) -> torch.Tensor:
    """One image as a uint8 CHW tensor of the given size (bilinear, like torchvision Resize).

    A file that cannot be decoded is a :class:`DataError` naming it, not a PIL traceback.
    """
    try:
        with Image.open(path) as img:
            img = to_rgb(img).resize((width, height), Image.BILINEAR)
    except DECODE_ERRORS as err:
        raise DataError(f"{path}: cannot read the image ({_reason(err)}); fix or delete the file") from None
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


# ----------------------------------------------------------------------------- screening
@dataclass(frozen=True)
class ImageCheck:
    """What screening found out about one file."""

    path: str
    problem: str | None  # why the image cannot be used; None when it can
    digest: str | None  # hash of the file's bytes, to find duplicates; None when unreadable


def check_image(path: str) -> ImageCheck:
    """Read the file once: hash its bytes, and decode it to find out whether training could use it."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return ImageCheck(path, f"cannot be opened: {err.strerror or err}", None)
    return ImageCheck(path, _decode_problem(data), hashlib.blake2b(data, digest_size=16).hexdigest())


def _decode_problem(data: bytes) -> str | None:
    """Why these bytes are not a usable image, or None.

    JPEGs are decoded at 1/8 scale (``draft``): every byte of the stream is still
    read, so truncation is caught, at a fraction of a full decode's cost.
    """
    if not data:
        return "empty file"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if min(img.size) < MIN_IMAGE_SIDE:
                return f"too small: {img.width}x{img.height} pixels, under {MIN_IMAGE_SIDE} on a side"
            img.draft("RGB", (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE))
            to_rgb(img)
    except DECODE_ERRORS as err:
        return _reason(err)
    return None


def _reason(err: Exception) -> str:
    """PIL's first line, except for an unidentified image, whose message names the in-memory buffer."""
    if isinstance(err, Image.UnidentifiedImageError):
        return "not an image PIL can read"
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def check_images(paths: Sequence[str], threads: int = 4) -> list[ImageCheck]:
    """:func:`check_image` of every path, in order, in threads (PIL and file reads release the GIL)."""
    with ThreadPoolExecutor(threads) as pool:
        return list(
            tqdm(
                pool.map(check_image, paths),
                total=len(paths),
                desc="checking images",
                leave=False,
                disable=None,
            )
        )


def usable(
    checks: Sequence[ImageCheck], what: str, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION
) -> list[bool]:
    """Which images to keep; warns about the skipped ones, raises when they are too many.

    More than ``max_bad_fraction`` unusable images means a wrong folder or a broken
    download rather than a few bad files, and training on the rest would hide it;
    none usable is always an error.
    """
    bad = [check for check in checks if check.problem is not None]
    if not bad:
        return [True] * len(checks)
    listing = _listing([f"{check.path} ({check.problem})" for check in bad])
    share = len(bad) / len(checks)
    if len(bad) == len(checks):
        raise DataError(f"{what}: none of the {len(checks)} images can be used: {listing}")
    if share > max_bad_fraction:
        raise DataError(
            f"{what}: {len(bad)} of {len(checks)} images ({share:.1%}) cannot be used, more than "
            f"data.max_bad_fraction={max_bad_fraction:g}: {listing}; fix or delete them, or raise "
            "data.max_bad_fraction to skip them"
        )
    log.warning("%s: skipping %d of %d images that cannot be used: %s", what, len(bad), len(checks), listing)
    return [check.problem is None for check in checks]


def warn_about_duplicates(checks: Sequence[ImageCheck]) -> int:
    """Log how many files repeat the content of another one; returns that count.

    Only a warning: a duplicate in training weighs one image twice, but the same
    image in query and gallery makes a match trivial and inflates the score.
    """
    by_digest: dict[str, list[str]] = defaultdict(list)
    for check in checks:
        if check.problem is None:  # broken files are reported as such, even when identical
            by_digest[check.digest].append(check.path)
    groups = [paths for paths in by_digest.values() if len(paths) > 1]
    count = sum(len(paths) - 1 for paths in groups)
    if count:
        log.warning(
            "%d image files repeat the content of another file: %s",
            count,
            _listing([_copies(paths) for paths in groups]),
        )
    return count


def _copies(paths: Sequence[str]) -> str:
    """``a = b``, and how many more copies there are, for one group of identical files."""
    more = f" (and {len(paths) - 2} more copies)" if len(paths) > 2 else ""
    return f"{paths[0]} = {paths[1]}{more}"


def _listing(entries: Sequence[str]) -> str:
    named = ", ".join(entries[:NAMED_IN_MESSAGE])
    rest = len(entries) - NAMED_IN_MESSAGE
    return f"{named} and {rest} more" if rest > 0 else named


def screen_paths(
    paths: Sequence[str], what: str, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION
) -> list[str]:
    """The paths whose images can be used (see :func:`usable`); warns about duplicates."""
    checks = check_images(paths)
    warn_about_duplicates(checks)
    return [path for path, keep in zip(paths, usable(checks, what, max_bad_fraction), strict=True) if keep]


def screen_dataset(dataset: ReidDataset, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION) -> ReidDataset:
    """``dataset`` without its unusable images, judged split by split (see :func:`usable`).

    Every file is read and decoded once, so the cost is about one extra pass of
    image loading; that buys a run that never stops mid-epoch on a broken file.
    """
    checks = {split: check_images([it.path for it in dataset.split(split)]) for split in SPLITS}
    warn_about_duplicates([check for split_checks in checks.values() for check in split_checks])

    def kept(split: str) -> list[ImageItem]:
        items = dataset.split(split)
        if not items:
            return items
        keep = usable(checks[split], f"{dataset.name} {split}", max_bad_fraction)
        return [item for item, ok in zip(items, keep, strict=True) if ok]

    return ReidDataset(dataset.name, **{split: kept(split) for split in SPLITS})


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
