from pathlib import Path

import pytest

from robustreid.data import load_dataset
from robustreid.data.datasets.market_style import time_stamps
from robustreid.errors import DataError


def test_market_drops_junk_keeps_distractors_and_ignores_other_files(market_root: Path) -> None:
    ds = load_dataset("market1501", market_root)
    assert [(it.pid, it.camid) for it in ds.train] == [(2, 0), (2, 1), (7, 5)]
    assert [(it.pid, it.camid) for it in ds.query] == [(2, 2), (7, 0)]
    assert sorted((it.pid, it.camid) for it in ds.gallery) == [(0, 0), (2, 3), (7, 4)]
    assert all(Path(it.path).is_file() for it in ds.train + ds.query + ds.gallery)


@pytest.mark.parametrize("base", ["market1501/Market-1501-v15.09.15", ""])
def test_market_found_in_every_usual_place(tmp_path: Path, make_files, base: str) -> None:
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        make_files(tmp_path / base / folder, ["0001_c1s1_000001_00.jpg"])
    assert len(load_dataset("market1501", tmp_path).train) == 1


def test_missing_folder_is_named_and_tree_shown(tmp_path: Path, make_files) -> None:
    make_files(tmp_path / "Market-1501-v15.09.15" / "bounding_box_train", ["0001_c1s1_000001_00.jpg"])
    make_files(tmp_path / "Market-1501-v15.09.15" / "query", ["0001_c2s1_000001_00.jpg"])
    with pytest.raises(DataError) as error:
        load_dataset("market1501", tmp_path)
    message = str(error.value)
    assert f"missing {tmp_path / 'Market-1501-v15.09.15' / 'bounding_box_test'}" in message
    assert "├── bounding_box_train/" in message and "└── bounding_box_test/" in message
    assert str(tmp_path / "market1501" / "Market-1501-v15.09.15") in message


def test_real_data_sets_need_a_root() -> None:
    with pytest.raises(DataError, match="needs root"):
        load_dataset("market1501")


def test_badly_named_image_is_an_error(market_root: Path, make_files) -> None:
    make_files(market_root / "Market-1501-v15.09.15" / "query", ["frame_0001.jpg"])
    with pytest.raises(DataError, match="frame_0001.jpg: name does not follow"):
        load_dataset("market1501", market_root)


def test_camera_outside_the_data_set_is_an_error(market_root: Path, make_files) -> None:
    make_files(market_root / "Market-1501-v15.09.15" / "query", ["0002_c7s1_000001_00.jpg"])
    with pytest.raises(DataError, match=r"camera 7 is not one of \[1, 2, 3, 4, 5, 6\]"):
        load_dataset("market1501", market_root)


def test_personx_maps_its_six_rig_cameras_to_0_to_5(tmp_path: Path, make_files) -> None:
    names = [f"0001_c{cam}s1_000001_00.jpg" for cam in (3, 4, 8, 10, 11, 12)]
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        make_files(tmp_path / "subset1" / folder, names)
    ds = load_dataset("personx", tmp_path)
    assert sorted(it.camid for it in ds.train) == [0, 1, 2, 3, 4, 5]


def test_personx_rejects_a_camera_its_rig_does_not_have(tmp_path: Path, make_files) -> None:
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        make_files(tmp_path / "PersonX" / folder, ["0001_c1s1_000001_00.jpg"])
    with pytest.raises(DataError, match="camera 1 is not one of"):
        load_dataset("personx", tmp_path)


def test_duke_has_eight_cameras(tmp_path: Path, make_files) -> None:
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        make_files(tmp_path / "DukeMTMC-reID" / folder, ["0005_c8_f0051234.jpg", "0005_c1_f0050000.jpg"])
    assert sorted(it.camid for it in load_dataset("dukemtmcreid", tmp_path).query) == [0, 7]


def test_time_stamps_are_the_recording_and_frame_after_the_camera() -> None:
    stamps = time_stamps(["a/0002_c1s1_000451_03.jpg", "-1_c6s3_012000_01.png"])
    assert stamps.tolist() == [[1, 451], [3, 12000]]
    assert time_stamps([]).shape == (0, 2)


def test_a_name_without_a_time_stamp_names_the_setting_that_reads_it() -> None:
    with pytest.raises(
        DataError, match="crops/img7.jpg: --drop-other-passes reads each training image's time stamp"
    ):
        time_stamps(["0002_c1s1_000451_03.jpg", "crops/img7.jpg"], reader="--drop-other-passes")
