"""Bad data: wrong roots and layouts, broken or odd image files, duplicates, label files that point outside."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from robustreid.cli.main import main
from robustreid.data import load_dataset
from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.images import (
    MIN_IMAGE_SIDE,
    ImageCheck,
    check_image,
    check_images,
    read_resized,
    screen_dataset,
    usable,
    warn_about_duplicates,
)
from robustreid.errors import DataError


def touch(root: Path, *names: str) -> None:
    """Empty files (layout and name parsing never open them), or folders for names ending in ``/``."""
    for name in names:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


# ------------------------------------------------------------------------- roots and layouts
@pytest.mark.parametrize(
    "dataset, make_layout, expected",
    [
        (
            "market1501",
            lambda root: None,
            ["market1501: missing", "bounding_box_train/", "bounding_box_test/"],
        ),
        ("market1501", lambda root: root.mkdir(), ["market1501: missing", "Market-1501-v15.09.15/"]),
        (
            "market1501",
            lambda root: touch(root, "train/0001_c1s1_000001_00.jpg", "test/0001_c2s1_000001_00.jpg"),
            ["missing", "bounding_box_train/", "query/"],
        ),
        ("msmt17", lambda root: touch(root, "MSMT17_V1/train/x.jpg"), ["msmt17: missing", "list_train.txt"]),
        ("folder", lambda root: None, ["folder: missing", "├── train/"]),
        (
            "folder",
            lambda root: touch(root, "train/notes.txt", "train/Thumbs.db"),
            ["folder: no images (.bmp"],
        ),
        (
            "market1501",
            lambda root: touch(root, "bounding_box_train/img001.jpg", "query/", "bounding_box_test/"),
            ["img001.jpg: name does not follow <pid>_c<camera>"],
        ),
        (
            "market1501",
            lambda root: touch(
                root, "bounding_box_train/0001_c9s1_000001_00.jpg", "query/", "bounding_box_test/"
            ),
            ["camera 9 is not one of [1, 2, 3, 4, 5, 6]"],
        ),
    ],
    ids=[
        "root-missing",
        "root-empty",
        "other-layout",
        "msmt-lists-missing",
        "folder-root-missing",
        "folder-only-non-images",
        "name-without-pid-and-camera",
        "camera-out-of-range",
    ],
)
def test_wrong_data_root_prints_what_is_expected(tmp_path, user_error, dataset, make_layout, expected):
    root = tmp_path / "data"
    make_layout(root)
    err = user_error(["datasets", "--dataset", dataset, "--data-root", str(root)])
    for text in expected:
        assert text in err


def test_files_that_are_not_images_are_ignored_by_extension(tmp_path, write_image, capsys):
    write_image(tmp_path / "train" / "a.jpg")
    touch(tmp_path, "train/notes.txt", "train/Thumbs.db", "train/.hidden.jpg", "train/desktop.ini")
    assert main(["datasets", "--dataset", "folder", "--data-root", str(tmp_path)]) == 0
    train_row = next(
        line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("train")
    )
    assert train_row.split("|")[2].strip() == "1"


# ----------------------------------------------------------------------------- image files
def truncated(path: Path, write_image: Callable[..., Path]) -> Path:
    write_image(path, size=(64, 128))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BROKEN = {
    "zero-byte.jpg": (lambda path, write: path.touch(), "empty file"),
    "truncated.jpg": (truncated, "truncated"),
    "truncated.png": (truncated, "truncated"),
    "text.jpg": (lambda path, write: path.write_text("not an image"), "not an image PIL can read"),
    "tiny.png": (
        lambda path, write: write(path, size=(4, 4)),
        f"too small: 4x4 pixels, under {MIN_IMAGE_SIDE}",
    ),
    "vanished.jpg": (lambda path, write: None, "cannot be opened: No such file or directory"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_screening_names_what_is_wrong_with_a_file(tmp_path, write_image, name):
    make, problem = BROKEN[name]
    make(tmp_path / name, write_image)
    check = check_image(str(tmp_path / name))
    assert check.problem is not None and problem.lower() in check.problem.lower()


@pytest.mark.parametrize("name", ["zero-byte.jpg", "truncated.jpg", "truncated.png", "text.jpg"])
def test_reading_a_broken_file_is_a_data_error_naming_it(tmp_path, write_image, name):
    make, _ = BROKEN[name]
    make(tmp_path / name, write_image)
    with pytest.raises(DataError, match=rf"{name}: cannot read the image \(.+\); fix or delete the file"):
        read_resized(str(tmp_path / name), 64, 32)


@pytest.mark.parametrize(
    "name, mode",
    [
        ("gray.png", "L"),
        ("gray.jpg", "L"),
        ("gray-alpha.png", "LA"),
        ("palette.png", "P"),
        ("rgba.png", "RGBA"),
        ("bilevel.png", "1"),
        ("sixteen-bit.png", "I;16"),
        ("cmyk.jpg", "CMYK"),
        ("rgb.webp", "RGB"),
        ("rgb.tif", "RGB"),
    ],
)
def test_every_image_mode_becomes_rgb_with_its_brightness_kept(tmp_path, write_image, name, mode):
    path = write_image(tmp_path / name, mode, size=(32, 64))  # dark at the top, bright at the bottom
    assert check_image(str(path)).problem is None
    image = read_resized(str(path), 64, 32)
    assert image.shape == (3, 64, 32) and image.dtype == torch.uint8
    rows = image.float().mean(dim=(0, 2))
    assert rows[:8].mean() < 60 and rows[-8:].mean() > 190  # 16-bit: not clipped to white


# --------------------------------------------------------------------------- screening policy
def checks(bad: int, total: int) -> list[ImageCheck]:
    return [ImageCheck(f"{i}.jpg", "empty file" if i < bad else None, str(i)) for i in range(total)]


@pytest.mark.parametrize(
    "bad, total, max_bad_fraction, raised",
    [
        (1, 200, 0.01, None),
        (3, 200, 0.01, "3 of 200 images (1.5%) cannot be used, more than data.max_bad_fraction=0.01"),
        (3, 200, 0.05, None),
        (4, 4, 1.0, "none of the 4 images can be used"),
    ],
    ids=["few-skipped", "too-many", "too-many-allowed", "all-bad"],
)
def test_a_few_bad_images_are_skipped_more_are_an_error(caplog, bad, total, max_bad_fraction, raised):
    if raised:
        with pytest.raises(DataError, match=rf"^train: {re.escape(raised)}.*0\.jpg \(empty file\)") as error:
            usable(checks(bad, total), "train", max_bad_fraction)
        assert "Traceback" not in str(error.value)
        return
    with caplog.at_level(logging.WARNING, logger="robustreid"):
        keep = usable(checks(bad, total), "train", max_bad_fraction)
    assert keep == [i >= bad for i in range(total)]
    assert f"train: skipping {bad} of {total} images that cannot be used: 0.jpg (empty file)" in caplog.text


def test_screened_dataset_drops_broken_files_and_counts_duplicates(tmp_path, write_image, caplog):
    good = [write_image(tmp_path / f"g{i}.png", size=(32, 40 + i)) for i in range(20)]  # all different
    shutil.copy(good[0], tmp_path / "copy_a.png")
    shutil.copy(good[0], tmp_path / "copy_b.png")
    shutil.copy(good[1], tmp_path / "copy_c.png")
    (tmp_path / "empty.jpg").touch()
    paths = [
        *good,
        tmp_path / "copy_a.png",
        tmp_path / "copy_b.png",
        tmp_path / "copy_c.png",
        tmp_path / "empty.jpg",
    ]
    dataset = ReidDataset("mine", train=[ImageItem(str(p), -1, 0) for p in paths])
    with caplog.at_level(logging.WARNING, logger="robustreid"):
        screened = screen_dataset(dataset, max_bad_fraction=0.1)
    assert [it.path for it in screened.train] == [str(p) for p in paths[:-1]]
    assert "mine train: skipping 1 of 24 images" in caplog.text
    assert "3 image files repeat the content of another file" in caplog.text
    assert warn_about_duplicates(check_images([str(p) for p in paths])) == 3


def test_training_on_a_folder_of_broken_images_stops_before_training(tmp_path, user_error, tiny_train):
    for i in range(3):
        (tmp_path / "data" / "train" / f"{i}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "train" / f"{i}.jpg").write_bytes(b"\xff\xd8\xff broken")
    argv = tiny_train(tmp_path / "run", "data.name=folder", f"data.root={tmp_path / 'data'}", synthetic=False)
    err = user_error(argv)
    assert "folder train: none of the 3 images can be used" in err
    assert (
        not (tmp_path / "run" / "metrics.jsonl").exists()
        or not (tmp_path / "run" / "metrics.jsonl").read_text()
    )


def test_extract_skips_one_broken_file_in_a_hundred(tmp_path, write_image, capsys):
    folder = tmp_path / "crops"
    for i in range(100):
        write_image(folder / f"{i:03d}.png", "L", size=(16, 32 + i))
    (folder / "zz_empty.jpg").touch()
    out = tmp_path / "feats" / "crops"
    argv = ["extract", "--folder", str(folder), "--out", str(out), "--backbone", "efficientnet_lite0"]
    assert main([*argv, "--height", "32", "--width", "16", "--device", "cpu"]) == 0
    assert "skipping 1 of 101 images that cannot be used" in capsys.readouterr().err
    assert np.load(out.with_suffix(".npy")).shape[0] == 100
    assert "zz_empty.jpg" not in out.with_suffix(".txt").read_text()


# ------------------------------------------------------------------- label files from elsewhere
@pytest.mark.parametrize(
    "listed, inside",
    [
        ("q.jpg", True),
        ("sub/../q.jpg", True),
        ("{root}/q.jpg", True),
        ("../outside.jpg", False),
        ("sub/../../outside.jpg", False),
        ("/etc/passwd", False),
    ],
)
def test_csv_image_paths_cannot_leave_the_data_folder(tmp_path, listed, inside):
    root = tmp_path / "data"
    touch(root, "train/a.jpg", "q.jpg", "g.jpg")
    touch(tmp_path, "outside.jpg")
    rows = f"{listed.format(root=root)},1,0,query\ng.jpg,1,1,gallery\n"
    (root / "labels.csv").write_text(f"path,pid,camid,split\n{rows}")
    if inside:
        assert len(load_dataset("folder", root, csv=root / "labels.csv").query) == 1
        return
    with pytest.raises(DataError, match=r"labels.csv:2: image path .* points outside .*data"):
        load_dataset("folder", root, csv=root / "labels.csv")


def test_msmt17_list_paths_cannot_leave_the_image_folder(tmp_path):
    base = tmp_path / "MSMT17_V1"
    touch(base, "train/", "test/")
    for name in ("list_val", "list_query", "list_gallery"):
        (base / f"{name}.txt").write_text("")
    (base / "list_train.txt").write_text("../../secret/0000_000_01_0303morning_0015_0.jpg 0\n")
    with pytest.raises(DataError, match=r"list_train.txt:1: image path .* points outside"):
        load_dataset("msmt17", tmp_path)
