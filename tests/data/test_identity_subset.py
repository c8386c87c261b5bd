"""``data.identity_stride`` and ``data.identity_offset``: every n-th identity of train and test, the same ones
every time, and disjoint folds."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustreid.config import load_config
from robustreid.data import ImageItem, ReidDataset, every_nth_identity
from robustreid.engine.builder import build_dataset
from robustreid.errors import DataError

#: 9 train identities (pids 1-9), 7 test identities (pids 10-16) and 3-4 gallery distractors (pid 0)
SYNTHETIC = "{num_train_ids: 9, num_test_ids: 7, images_per_id: [4, 6], height: 64, width: 32, seed: 3}"


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


def synthetic(root: Path, stride: int, offset: int = 0) -> ReidDataset:
    """The synthetic set through the config, as a run loads it."""
    overrides = [f"data.root={root}", f"data.options={SYNTHETIC}", f"data.identity_stride={stride}"]
    return build_dataset(load_config(None, [*overrides, f"data.identity_offset={offset}"]).data)


def pids(items: list[ImageItem]) -> set[int]:
    return {item.pid for item in items}


def test_every_nth_identity_is_kept_in_sorted_order_for_train_and_test(synthetic_root):
    whole, quarter = synthetic(synthetic_root, 1), synthetic(synthetic_root, 4)
    assert pids(whole.train) == set(range(1, 10)) and pids(whole.query) == set(range(10, 17))
    assert pids(quarter.train) == {1, 5, 9}
    assert pids(quarter.query) == {10, 14}
    assert quarter.train == [item for item in whole.train if item.pid in {1, 5, 9}]  # every image of each


def test_query_and_gallery_keep_the_same_identities_and_a_share_of_the_distractors(synthetic_root):
    whole, quarter = synthetic(synthetic_root, 1), synthetic(synthetic_root, 4)
    assert pids(quarter.gallery) - {0} == pids(quarter.query)
    distractors = sorted(item.path for item in whole.gallery if item.pid == 0)
    assert sorted(item.path for item in quarter.gallery if item.pid == 0) == distractors[::4]
    assert quarter.name == "synthetic (identity stride 4)"


def test_the_offsets_split_train_test_and_distractors_into_disjoint_folds(synthetic_root):
    whole = synthetic(synthetic_root, 1)
    folds = [synthetic(synthetic_root, 3, offset) for offset in range(3)]
    assert [pids(fold.train) for fold in folds] == [{1, 4, 7}, {2, 5, 8}, {3, 6, 9}]
    assert [pids(fold.query) for fold in folds] == [{10, 13, 16}, {11, 14}, {12, 15}]
    gallery_paths = [{item.path for item in fold.gallery} for fold in folds]
    assert set.union(*gallery_paths) == {item.path for item in whole.gallery}
    assert sum(map(len, gallery_paths)) == len(whole.gallery)  # no image in two folds
    assert folds[2].name == "synthetic (identity stride 3, offset 2)"


def test_the_choice_is_deterministic(synthetic_root):
    assert synthetic(synthetic_root, 3) == synthetic(synthetic_root, 3)


def test_stride_one_is_the_whole_set():
    dataset = ReidDataset("tiny", train=[ImageItem("a.jpg", 1, 0)])
    assert every_nth_identity(dataset, 1) is dataset


def test_training_images_without_identities_cannot_be_thinned_by_identity():
    dataset = ReidDataset("folder", train=[ImageItem("a.jpg", -1, 0), ImageItem("b.jpg", -1, 0)])
    with pytest.raises(DataError, match=r"^data.identity_stride=2 needs every training image's identity"):
        every_nth_identity(dataset, 2)
