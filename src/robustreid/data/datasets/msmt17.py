"""MSMT17 (Wei et al., CVPR 2018): 4,101 identities, 15 cameras.

Two layouts circulate: the official release (image folders plus
``list_{train,val,query,gallery}.txt`` with lines ``<relpath> <pid>``) and a
Market-style repack. Both are detected; the official training split is
list_train + list_val, as in the published protocol. The official lists number
test identities from 0, so pid 0 here is a real person, not a distractor.
"""

from __future__ import annotations

from pathlib import Path

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.datasets.layout import Layout, contained_path, find_layout, require_root
from robustreid.data.datasets.market_style import MARKET_LAYOUT, load_market_folders, one_based_cameras
from robustreid.errors import DataError

BASES = ("MSMT17_V1", "MSMT17_V2", "msmt17/MSMT17_V1", "msmt17/MSMT17_V2", "")
CAMERAS = one_based_cameras(15)
SPLIT_LISTS = {
    "train": ("list_train.txt", "list_val.txt"),
    "query": ("list_query.txt",),
    "gallery": ("list_gallery.txt",),
}
LIST_FILES = tuple(name for names in SPLIT_LISTS.values() for name in names)
# official layout -> (folder of train/val images, folder of query/gallery images)
IMAGE_FOLDERS = {
    Layout("official MSMT17_V1", ("train/", "test/", *LIST_FILES)): ("train", "test"),
    Layout("official MSMT17_V2", ("mask_train_v2/", "mask_test_v2/", *LIST_FILES)): (
        "mask_train_v2",
        "mask_test_v2",
    ),
}
LAYOUTS = (*IMAGE_FOLDERS, MARKET_LAYOUT)


def camera_from_msmt_name(name: str) -> int:
    """``0000_000_01_0303morning_0015_0.jpg`` -> raw camera 1 (the third ``_`` field)."""
    fields = name.split("_")
    if len(fields) < 3 or not fields[2].isdigit():
        raise DataError(f"{name}: expected <pid>_<seq>_<camera>_..., e.g. 0000_000_01_0303morning_0015_0.jpg")
    return int(fields[2])


def read_official_list(list_file: Path, image_folder: Path) -> list[ImageItem]:
    """Items of one ``list_*.txt``; paths in it are relative to ``image_folder``."""
    items = []
    for line_no, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise DataError(f"{list_file}:{line_no}: expected '<relpath> <pid>', got {line!r}")
        relpath, pid = fields[0], int(fields[1])
        raw_camera = camera_from_msmt_name(Path(relpath).name)
        if raw_camera not in CAMERAS:
            raise DataError(f"{list_file}:{line_no}: camera {raw_camera} is not one of 1..15")
        path = contained_path(relpath, image_folder, (image_folder,), f"{list_file}:{line_no}")
        items.append(ImageItem(str(path), pid, CAMERAS[raw_camera]))
    _check_first_image_exists(items, list_file)
    return items


def _check_first_image_exists(items: list[ImageItem], list_file: Path) -> None:
    """One stat catches a list paired with the wrong image folder without stat-ing 126k files."""
    if items and not Path(items[0].path).is_file():
        raise DataError(f"{list_file} lists {items[0].path}, which does not exist")


def load_official(base: Path, layout: Layout) -> ReidDataset:
    train_folder, test_folder = (base / folder for folder in IMAGE_FOLDERS[layout])
    folder_of_split = {"train": train_folder, "query": test_folder, "gallery": test_folder}
    splits = {
        split: [item for name in lists for item in read_official_list(base / name, folder_of_split[split])]
        for split, lists in SPLIT_LISTS.items()
    }
    return ReidDataset("msmt17", **splits)


def load_msmt17(root: Path | None) -> ReidDataset:
    """MSMT17 in whichever layout is found first (official lists, else the Market-style repack)."""
    base, layout = find_layout("msmt17", require_root(root, "msmt17"), BASES, LAYOUTS)
    if layout is MARKET_LAYOUT:
        return load_market_folders("msmt17", base, CAMERAS)
    return load_official(base, layout)
