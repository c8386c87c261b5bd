"""The ranked-results picture ranks and filters as the evaluation protocol does."""

import numpy as np
from PIL import Image

from robustreid.data.base import ImageItem
from robustreid.viz.ranked import ranked_gallery, save_ranked_results


def unit_rows(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_same_identity_same_camera_is_skipped_and_ties_keep_gallery_order():
    query = unit_rows(np.array([[1.0, 0.0]]))
    gallery = unit_rows(np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.1], [1.0, 0.0], [0.0, 1.0]]))
    query_items = [ImageItem("q", 1, 0)]
    gallery_items = [
        ImageItem("a", 1, 0),  # the query's identity and camera: not shown
        ImageItem("b", 2, 0),
        ImageItem("c", 1, 1),
        ImageItem("d", 1, 1),
        ImageItem("e", 3, 0),
    ]
    np.testing.assert_array_equal(ranked_gallery(query, gallery, query_items, gallery_items, 3), [[3, 1, 2]])
    np.testing.assert_array_equal(
        ranked_gallery(query, gallery, query_items, gallery_items, 3, camera_filter=False), [[0, 3, 1]]
    )


def test_picture_has_a_row_per_query_and_a_column_per_match(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, (20, 10, 3), dtype=np.uint8)).save(paths[-1])
    items = [ImageItem(path, i % 3, i % 2) for i, path in enumerate(paths)]
    features = unit_rows(rng.normal(size=(6, 4)))
    out = save_ranked_results(
        features, features, items, items, tmp_path / "out" / "r.png", num_queries=2, topk=3
    )
    with Image.open(out) as picture:
        assert picture.size == ((64 + 8) * 4 + 12, (128 + 8) * 2)
