"""The Market-1501 folder convention, shared by every data set that follows it.

Market-1501, DukeMTMC-reID, PersonX, the MSMT17 repack and our synthetic set
all store ``bounding_box_train/``, ``query/`` and ``bounding_box_test/`` with
file names ``<pid>_c<camera>s<seq>_<frame>_<box>.jpg``. They differ only in
where the folders sit and how raw camera numbers map to 0-based ids, so one
parser takes those two things as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.datasets.layout import Layout, find_layout, list_images, require_root
from robustreid.errors import DataError

MARKET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
MARKET_LAYOUT = Layout("Market-1501", tuple(f"{folder}/" for folder in MARKET_FOLDERS.values()))
JUNK_PID = -1

_PID_PATTERN = re.compile(r"^(-?\d+)(?=_|\.|$)")
_CAMERA_PATTERN = re.compile(r"_c(\d+)")
_STAMP_PATTERN = re.compile(r"_c\d+s(\d+)_(\d+)_")


def pid_from_name(name: str) -> int | None:
    """The identity a file name starts with (``0002_c1s1_...`` -> 2, ``-1_c3...`` -> -1), else None."""
    match = _PID_PATTERN.match(name)
    return int(match.group(1)) if match else None


def camera_from_name(name: str) -> int | None:
    """The raw camera number after ``_c`` (``0002_c1s1_...`` -> 1), else None."""
    match = _CAMERA_PATTERN.search(name)
    return int(match.group(1)) if match else None


def time_stamps(paths: Sequence[str], reader: str = "cluster.tracklet_weight") -> np.ndarray:
    """Each image's recording and frame, after its camera (``0002_c1s1_000451_03.jpg`` -> 1, 451), as (N, 2).

    Only a setting that asks for them reads them (``reader``), so a name without one is that setting's error.
    """
    stamps = [_STAMP_PATTERN.search(Path(path).name) for path in paths]
    for path, stamp in zip(paths, stamps, strict=True):
        if stamp is None:
            raise DataError(
                f"{path}: {reader} reads each training image's time stamp from its name, "
                "as in 0002_c1s1_000451_03.jpg (camera 1, recording 1, frame 451)"
            )
    return np.array([[int(stamp.group(1)), int(stamp.group(2))] for stamp in stamps], dtype=np.int64).reshape(
        -1, 2
    )


def one_based_cameras(count: int) -> dict[int, int]:
    """Cameras named 1..count become 0..count-1 (the usual convention)."""
    return {raw: raw - 1 for raw in range(1, count + 1)}


def parse_market_folder(folder: Path, cameras: Mapping[int, int]) -> list[ImageItem]:
    """Items of one Market-style folder.

    Junk boxes (pid -1) are dropped, as the official protocol ignores them;
    distractors (pid 0) are kept because the protocol counts them as negatives.
    A name without pid or camera, or a camera outside ``cameras``, is an error:
    silently skipping it would hide a wrong folder or a wrong camera map.
    """
    items = []
    for path in list_images(folder):
        pid, raw_camera = pid_from_name(path.name), camera_from_name(path.name)
        if pid is None or raw_camera is None:
            raise DataError(f"{path}: name does not follow <pid>_c<camera>..., e.g. 0002_c1s1_000451_03.jpg")
        if raw_camera not in cameras:
            raise DataError(f"{path}: camera {raw_camera} is not one of {sorted(cameras)}")
        if pid != JUNK_PID:
            items.append(ImageItem(str(path), pid, cameras[raw_camera]))
    return items


def load_market_folders(name: str, base: Path, cameras: Mapping[int, int]) -> ReidDataset:
    """Parse the three Market folders found in ``base``."""
    splits = {split: parse_market_folder(base / folder, cameras) for split, folder in MARKET_FOLDERS.items()}
    return ReidDataset(name, **splits)


def load_market_style(
    name: str, root: Path | None, bases: Sequence[str], cameras: Mapping[int, int]
) -> ReidDataset:
    """Find the Market folders under ``root`` (trying ``bases`` in order), then parse them."""
    base, _ = find_layout(name, require_root(root, name), bases, [MARKET_LAYOUT])
    return load_market_folders(name, base, cameras)
