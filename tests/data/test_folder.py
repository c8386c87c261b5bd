from pathlib import Path

import pytest

from robustreid.data import load_dataset
from robustreid.errors import DataError


def test_unlabelled_images_anywhere_under_root_train_without_cameras(tmp_path: Path, make_files) -> None:
    make_files(
        tmp_path / "train", ["a.jpg", "day1/b.PNG", "day1/deep/c.webp", "d.tif", "notes.txt", ".hidden.jpg"]
    )
    ds = load_dataset("folder", tmp_path)
    assert [Path(it.path).name for it in ds.train] == ["a.jpg", "d.tif", "b.PNG", "c.webp"]
    assert {(it.pid, it.camid) for it in ds.train} == {(-1, -1)}
    assert ds.query == [] and ds.gallery == []


def test_cameras_in_names_become_dense_0_based_ids(tmp_path: Path, make_files) -> None:
    make_files(tmp_path / "train", ["x_c3_1.jpg", "x_c7_2.jpg", "no_camera.jpg"])
    make_files(tmp_path / "query", ["0004_c7_0001.jpg"])
    make_files(tmp_path / "gallery", ["0004_c3_0002.jpg", "0005_c12_0001.jpg", "-1_c3_0003.jpg"])
    ds = load_dataset("folder", tmp_path)
    # raw cameras 3, 7, 12 over all splits -> 0, 1, 2
    assert sorted(it.camid for it in ds.train) == [-1, 0, 1]
    assert [(it.pid, it.camid) for it in ds.query] == [(4, 1)]
    assert [(it.pid, it.camid) for it in ds.gallery] == [(4, 0), (5, 2)]  # junk -1 dropped


def test_root_without_train_folder_trains_on_everything_but_evaluation(tmp_path: Path, make_files) -> None:
    make_files(
        tmp_path,
        ["cam1/a.jpg", "cam2/b.jpg", "query/0001_c1_1.jpg", "gallery/0001_c2_2.jpg", "gallery/-1_c2_3.jpg"],
    )
    ds = load_dataset("folder", tmp_path)
    assert sorted(Path(it.path).name for it in ds.train) == ["a.jpg", "b.jpg"]
    assert len(ds.query) == 1 and len(ds.gallery) == 1


def test_query_and_gallery_as_csv_files_relative_to_the_csv(tmp_path: Path, make_files) -> None:
    make_files(tmp_path / "train", ["a.jpg"])
    make_files(tmp_path / "eval", ["q.jpg", "g1.jpg", "g2.jpg"])
    (tmp_path / "eval" / "q.csv").write_text("path,pid,camid\nq.jpg,12,0\n")
    (tmp_path / "eval" / "g.csv").write_text("path,pid,camid\ng1.jpg,12,\ng2.jpg,13,1\n")
    ds = load_dataset(
        "folder", tmp_path, query=tmp_path / "eval" / "q.csv", gallery=tmp_path / "eval" / "g.csv"
    )
    assert ds.query[0].path == str(tmp_path / "eval" / "q.jpg")
    assert [(it.pid, it.camid) for it in ds.query] == [(12, 0)]
    assert [(it.pid, it.camid) for it in ds.gallery] == [(12, -1), (13, 1)]


def test_one_csv_with_a_split_column(tmp_path: Path, make_files) -> None:
    make_files(tmp_path, ["train/a.jpg", "q.jpg", "g.jpg"])
    (tmp_path / "labels.csv").write_text("path,pid,camid,split\nq.jpg,1,0,query\ng.jpg,1,1,gallery\n")
    ds = load_dataset("folder", tmp_path, csv=tmp_path / "labels.csv")
    assert [(it.pid, it.camid) for it in ds.query + ds.gallery] == [(1, 0), (1, 1)]


def test_csv_errors_are_explicit(tmp_path: Path, make_files) -> None:
    make_files(tmp_path, ["train/a.jpg"])
    (tmp_path / "no_split.csv").write_text("path,pid,camid\nq.jpg,1,0\n")
    with pytest.raises(DataError, match="missing column.*split"):
        load_dataset("folder", tmp_path, csv=tmp_path / "no_split.csv")
    (tmp_path / "bad.csv").write_text("path,pid,camid\nq.jpg,one,0\n")
    with pytest.raises(DataError, match=r"bad.csv:2: pid and camid must be integers"):
        load_dataset("folder", tmp_path, query=tmp_path / "bad.csv", gallery=tmp_path / "bad.csv")


def test_query_without_gallery_is_rejected(tmp_path: Path, make_files) -> None:
    make_files(tmp_path, ["train/a.jpg", "query/0001_c1_1.jpg"])
    with pytest.raises(DataError, match="query and gallery must be given together"):
        load_dataset("folder", tmp_path)


def test_empty_or_missing_folder_explains_the_layout(tmp_path: Path, make_files) -> None:
    with pytest.raises(DataError, match=r"missing .*nowhere(.|\n)*train/"):
        load_dataset("folder", tmp_path / "nowhere")
    make_files(tmp_path / "train", ["readme.md"])
    with pytest.raises(DataError, match=r"no images \(.*\.jpg.*\) under"):
        load_dataset("folder", tmp_path)


def test_badly_named_evaluation_image_is_an_error(tmp_path: Path, make_files) -> None:
    make_files(tmp_path, ["train/a.jpg", "query/person.jpg", "gallery/0001_c1_1.jpg"])
    with pytest.raises(DataError, match="person.jpg: evaluation images must be named <pid>_c<camera>"):
        load_dataset("folder", tmp_path)
