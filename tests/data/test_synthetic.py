import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustreid.data import load_dataset
from robustreid.data.synthetic import (
    MANIFEST_NAME,
    SyntheticKnobs,
    SyntheticParams,
    generate_synthetic,
    identity_styles,
    save_sample_grid,
)

TINY = {
    "num_train_ids": 4,
    "num_test_ids": 6,
    "num_cameras": 3,
    "images_per_id": (4, 6),
    "height": 64,
    "width": 32,
    "seed": 3,
}
NAME = re.compile(r"^(\d{4})_c(\d)s1_(\d{6})_00\.jpg$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), **TINY)


def files_by_split(folder: Path) -> dict[str, list[Path]]:
    return {
        split: sorted((folder / split).iterdir())
        for split in ("bounding_box_train", "query", "bounding_box_test")
    }


def test_layout_and_naming_follow_market(tiny: Path) -> None:
    splits = files_by_split(tiny)
    parsed = {
        split: [tuple(map(int, NAME.match(p.name).groups())) for p in paths]
        for split, paths in splits.items()
    }
    assert {pid for pid, _, _ in parsed["bounding_box_train"]} == {1, 2, 3, 4}
    assert {pid for pid, _, _ in parsed["query"]} == set(range(5, 11))
    assert {pid for pid, _, _ in parsed["bounding_box_test"]} == {0, *range(5, 11)}
    assert sum(pid == 0 for pid, _, _ in parsed["bounding_box_test"]) == 3  # 0.5 distractors per test id
    indices = [index for rows in parsed.values() for _, _, index in rows]
    assert len(indices) == len(set(indices))
    with Image.open(splits["query"][0]) as image:
        assert image.size == (32, 64) and image.mode == "RGB"


def test_every_query_has_a_match_in_another_camera_and_one_query_per_camera(tiny: Path) -> None:
    ds = load_dataset("synthetic", tiny.parent, **TINY)
    gallery_cameras = defaultdict(set)
    for item in ds.gallery:
        gallery_cameras[item.pid].add(item.camid)
    query_keys = [(item.pid, item.camid) for item in ds.query]
    assert len(query_keys) == len(set(query_keys))
    assert all(gallery_cameras[pid] - {camid} for pid, camid in query_keys)


def test_generation_is_deterministic_and_seed_dependent(tiny: Path, tmp_path: Path) -> None:
    again = generate_synthetic(tmp_path / "again", **TINY)
    assert again.name == tiny.name
    first, second = files_by_split(tiny), files_by_split(again)
    assert [p.name for ps in first.values() for p in ps] == [p.name for ps in second.values() for p in ps]
    assert all(
        a.read_bytes() == b.read_bytes()
        for split in first
        for a, b in zip(first[split], second[split], strict=True)
    )
    other = generate_synthetic(tmp_path / "other", **{**TINY, "seed": 4})
    assert other.name != tiny.name
    assert min((other / "query").iterdir()).read_bytes() != first["query"][0].read_bytes()


def test_second_call_is_a_no_op_and_new_parameters_get_their_own_folder(tiny: Path) -> None:
    stamp = (tiny / "query").stat().st_mtime_ns, (tiny / MANIFEST_NAME).stat().st_mtime_ns
    assert generate_synthetic(tiny.parent, **TINY) == tiny
    assert ((tiny / "query").stat().st_mtime_ns, (tiny / MANIFEST_NAME).stat().st_mtime_ns) == stamp
    manifest = json.loads((tiny / MANIFEST_NAME).read_text())
    assert manifest["num_test_ids"] == 6
    assert manifest["knobs"]["lookalike_prob"] == SyntheticKnobs().lookalike_prob
    harder = generate_synthetic(tiny.parent, **TINY, knobs={"occlusion_prob": 0.9})
    assert harder.parent == tiny.parent and harder.name != tiny.name
    assert json.loads((harder / MANIFEST_NAME).read_text())["knobs"]["occlusion_prob"] == 0.9


def test_foreign_folder_with_the_hash_name_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / SyntheticParams(**TINY).digest()).mkdir()
    with pytest.raises(FileExistsError, match="remove it to regenerate"):
        generate_synthetic(tmp_path, **TINY)


def test_load_dataset_generates_into_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTREID_CACHE", str(tmp_path))
    ds = load_dataset("synthetic", **{**TINY, "num_test_ids": 2})
    assert Path(ds.train[0].path).is_relative_to(tmp_path / "synthetic")
    assert {it.camid for it in ds.train + ds.query + ds.gallery} <= {0, 1, 2}
    assert len(set(ds.train_pids_for_diagnostics())) == 4


def test_lookalikes_share_upper_clothes_but_differ_elsewhere() -> None:
    knobs = SyntheticKnobs(lookalike_prob=1.0, max_lookalike_group=2)
    styles = identity_styles([1, 2, 3, 4], seed=0, knobs=knobs)
    np.testing.assert_array_equal(styles[1].upper, styles[2].upper)
    assert styles[1].pattern == styles[2].pattern
    assert styles[1].height != styles[2].height  # a new body every time
    assert not np.array_equal(styles[2].upper, styles[3].upper)  # groups end at max_lookalike_group


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"num_cameras": 1}, "num_cameras must be 2..9"),
        ({"images_per_id": (3, 8)}, "4 <= min <= max"),
        ({"num_train_ids": 9000, "num_test_ids": 1000}, "at most 9999"),
        ({"height": 16}, "too small"),
    ],
)
def test_impossible_parameters_are_rejected(bad: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        generate_synthetic(tmp_path, **{**TINY, **bad})


def test_sample_grid_shows_ids_as_rows(tiny: Path, tmp_path: Path) -> None:
    out = save_sample_grid(tiny, tmp_path / "docs" / "grid.png", ids=3, per_id=4)
    with Image.open(out) as grid:
        width, height = grid.size
    assert width == 44 + 4 * (32 + 4) and height == 3 * (64 + 12 + 4)
