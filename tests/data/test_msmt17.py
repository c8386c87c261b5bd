from pathlib import Path

import pytest

from robustreid.data import load_dataset
from robustreid.errors import DataError

TRAIN = ["0000/0000_000_01_0303morning_0015_0.jpg", "0000/0000_001_15_0303morning_0036_1.jpg"]
VAL = ["0001/0001_000_07_0303noon_0100_0.jpg"]
QUERY = ["0000/0000_000_02_0303afternoon_0001_0.jpg"]
GALLERY = ["0000/0000_004_03_0303afternoon_0002_0.jpg", "0003/0003_000_10_0303afternoon_0003_0.jpg"]


def write_official(base: Path, make_files, train_dir: str = "train", test_dir: str = "test") -> None:
    make_files(base / train_dir, TRAIN + VAL)
    make_files(base / test_dir, QUERY + GALLERY)
    for name, lines in (
        ("list_train", TRAIN),
        ("list_val", VAL),
        ("list_query", QUERY),
        ("list_gallery", GALLERY),
    ):
        (base / f"{name}.txt").write_text("".join(f"{path} {int(path[:4])}\n" for path in lines))


def test_official_layout_merges_train_and_val_and_reads_camera_field(tmp_path: Path, make_files) -> None:
    write_official(tmp_path / "MSMT17_V1", make_files)
    ds = load_dataset("msmt17", tmp_path)
    assert [(it.pid, it.camid) for it in ds.train] == [(0, 0), (0, 14), (1, 6)]
    assert [(it.pid, it.camid) for it in ds.query] == [(0, 1)]
    assert [(it.pid, it.camid) for it in ds.gallery] == [(0, 2), (3, 9)]
    assert ds.query[0].path == str(tmp_path / "MSMT17_V1" / "test" / QUERY[0])


def test_official_v2_layout_uses_its_mask_folders(tmp_path: Path, make_files) -> None:
    write_official(tmp_path / "MSMT17_V2", make_files, "mask_train_v2", "mask_test_v2")
    ds = load_dataset("msmt17", tmp_path)
    assert len(ds.train) == 3 and "mask_train_v2" in ds.train[0].path


def test_market_style_repack_is_detected(tmp_path: Path, make_files) -> None:
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        make_files(tmp_path / "MSMT17_V1" / folder, ["0001_c15s1_000001_00.jpg", "0001_c1s2_000001_00.jpg"])
    assert sorted(it.camid for it in load_dataset("msmt17", tmp_path).train) == [0, 14]


def test_list_pointing_at_missing_images_is_reported(tmp_path: Path, make_files) -> None:
    write_official(tmp_path, make_files)
    (tmp_path / "list_query.txt").write_text("0009/0009_000_01_x_0001_0.jpg 9\n")
    with pytest.raises(DataError, match="0009_000_01_x_0001_0.jpg, which does not exist"):
        load_dataset("msmt17", tmp_path)


def test_malformed_list_line_names_file_and_line(tmp_path: Path, make_files) -> None:
    write_official(tmp_path, make_files)
    (tmp_path / "list_val.txt").write_text(f"{VAL[0]} 1\n{VAL[0]}\n")
    with pytest.raises(DataError, match=r"list_val.txt:2: expected '<relpath> <pid>'"):
        load_dataset("msmt17", tmp_path)


def test_missing_data_describes_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        load_dataset("msmt17", tmp_path)
    message = str(error.value)
    assert "official MSMT17_V1 layout" in message and "Market-1501 layout" in message
    assert "list_gallery.txt" in message and "bounding_box_test/" in message
