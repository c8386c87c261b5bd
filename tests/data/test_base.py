import numpy as np
import pytest

from robustreid.data import ImageItem, ReidDataset
from robustreid.errors import ConfigError


@pytest.fixture
def dataset() -> ReidDataset:
    return ReidDataset(
        "tiny",
        train=[ImageItem("a.jpg", 3, 0), ImageItem("b.jpg", 3, 1), ImageItem("c.jpg", 9, -1)],
        query=[ImageItem("q.jpg", 3, 2)],
        gallery=[ImageItem("g1.jpg", 3, 0), ImageItem("g2.jpg", 0, 1), ImageItem("g3.jpg", -1, 1)],
    )


def test_trainer_view_separates_labels_from_inputs(dataset: ReidDataset) -> None:
    assert dataset.train_paths == ["a.jpg", "b.jpg", "c.jpg"]
    np.testing.assert_array_equal(dataset.train_camids, [0, 1, -1])
    np.testing.assert_array_equal(dataset.train_pids_for_diagnostics(), [3, 3, 9])


def test_summary_counts_ids_images_and_known_cameras(dataset: ReidDataset) -> None:
    lines = dataset.summary().splitlines()
    assert lines[0] == "tiny"
    rows = {
        line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]] for line in lines if "|" in line
    }
    assert rows["split"] == ["ids", "images", "cameras"]
    assert rows["train"] == ["2", "3", "2"]  # camid -1 is not a camera
    assert rows["query"] == ["1", "1", "1"]
    assert rows["gallery"] == ["2", "3", "2"]  # distractor 0 counts, junk -1 does not
    assert len({len(line) for line in lines[1:]}) == 1  # rules and rows line up


def test_unknown_split_is_rejected(dataset: ReidDataset) -> None:
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        dataset.split("val")
