"""Gallery index and search: build, add, reload from disk, search, thresholds and refused models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from robustreid.cli.main import main
from robustreid.engine.run_dir import RunDir
from robustreid.errors import ConfigError, DataError
from robustreid.inference.checkpoint import Preprocessing, load_model
from robustreid.inference.extractor import FeatureExtractor
from robustreid.search import GalleryIndex


def jpgs(folder: Path) -> list[str]:
    return sorted(str(p.resolve()) for p in folder.glob("*.jpg"))


@pytest.fixture(scope="module")
def index_dir(checkpoint, data_root, tmp_path_factory):
    """Gallery folder built first, the query folder added after: every query is planted in the gallery."""
    out = tmp_path_factory.mktemp("index") / "gallery"
    common = ["--checkpoint", str(checkpoint), "--device", "cpu"]
    gallery = str(data_root / "bounding_box_test")
    assert main(["index", "build", *common, "--images", gallery, "--out", str(out)]) == 0
    assert main(["index", "add", "--index", str(out), "--images", str(data_root / "query"), gallery]) == 0
    return out


def test_add_keeps_earlier_images_and_skips_known_ones(index_dir, data_root, capsys):
    reloaded = GalleryIndex.load(index_dir)
    assert reloaded.paths == jpgs(data_root / "bounding_box_test") + jpgs(data_root / "query")
    assert reloaded.index.ntotal == len(reloaded)
    assert main(["index", "add", "--index", str(index_dir), "--images", str(data_root / "query")]) == 0
    assert "added 0 new images" in capsys.readouterr().out


def test_search_finds_each_planted_query_first_and_writes_every_output(
    index_dir, data_root, tmp_path, capsys
):
    queries = jpgs(data_root / "query")
    out = {kind: tmp_path / f"results.{kind}" for kind in ("json", "csv", "png")}
    argv = ["search", "--index", str(index_dir), "--query", str(data_root / "query"), "--topk", "3"]
    assert main([*argv, "--device", "cpu", *(f"--{k}={v}" for k, v in out.items())]) == 0
    printed = capsys.readouterr().out
    assert printed.count("query ") == len(queries) and "distance" in printed

    results = json.loads(out["json"].read_text())["queries"]
    assert [r["query"] for r in results] == queries
    for result in results:
        best = result["matches"][0]
        assert best["path"] == result["query"] and best["distance"] == pytest.approx(0, abs=1e-5)
        assert [m["rank"] for m in result["matches"]] == [1, 2, 3]
        assert best["distance"] <= result["matches"][1]["distance"] <= result["matches"][2]["distance"]
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(queries) and rows[0]["path"] == results[0]["matches"][0]["path"]
    with Image.open(out["png"]) as picture:
        assert picture.size[1] > 0 and picture.size[0] > 3 * 64


def test_a_fresh_object_from_disk_ranks_as_the_cli(index_dir, checkpoint, data_root):
    gallery = GalleryIndex.load(index_dir)
    extractor = FeatureExtractor(checkpoint, device="cpu")
    query = jpgs(data_root / "query")[0]
    (result,) = gallery.query(extractor, [query], topk=len(gallery))
    assert result.matches[0].path == query and len(result.matches) == len(gallery)
    (reranked,) = gallery.query(extractor, [query], topk=5, rerank=True)
    assert reranked.matches[0].path == query and reranked.matches[0].reranked_distance == pytest.approx(
        0, abs=1e-5
    )


def test_threshold_says_not_in_gallery(index_dir, checkpoint, data_root, tmp_path, capsys):
    outsider = jpgs(data_root / "bounding_box_train")[0]  # train images are not in the index
    planted = jpgs(data_root / "query")[0]
    gallery = GalleryIndex.load(index_dir)
    nearest = gallery.query(FeatureExtractor(checkpoint, device="cpu"), [outsider], topk=1)[0].matches[0]
    assert nearest.distance > 1e-3
    argv = ["search", "--index", str(index_dir), "--query", outsider, planted, "--threshold", "1e-3"]
    assert main([*argv, "--topk", "2", "--json", str(tmp_path / "t.json")]) == 0
    printed = capsys.readouterr().out
    assert (
        f"query {outsider}: not in gallery (nearest distance {nearest.distance:.4f} > threshold 0.001)"
        in printed
    )
    assert f"query {planted}: in gallery" in printed
    verdicts = [r["in_gallery"] for r in json.loads((tmp_path / "t.json").read_text())["queries"]]
    assert verdicts == [False, True]


def test_an_index_refuses_another_model(index_dir, other_checkpoint, data_root, capsys):
    argv = ["search", "--index", str(index_dir), "--checkpoint", str(other_checkpoint), "--query"]
    assert main([*argv, str(data_root / "query")]) == 2
    err = capsys.readouterr().err
    assert "robustreid search: error:" in err and "another model" in err and "index build" in err
    add = ["index", "add", "--index", str(index_dir), "--checkpoint", str(other_checkpoint)]
    assert main([*add, "--images", str(data_root / "query")]) == 2


def test_an_index_refuses_the_same_weights_under_other_preprocessing(index_dir, checkpoint, tmp_path):
    trained = load_model(checkpoint)
    resized = RunDir(tmp_path).save_model(trained.model, Preprocessing(96, 48), epoch=1, metrics={})
    with pytest.raises(ConfigError, match="preprocessing"):
        GalleryIndex.load(index_dir).check_model(FeatureExtractor(resized, device="cpu"))


def test_ivf_index_finds_planted_queries(checkpoint, data_root, tmp_path):
    extractor = FeatureExtractor(checkpoint, device="cpu")
    gallery_paths = jpgs(data_root / "bounding_box_test")
    ivf = GalleryIndex.build(extractor, gallery_paths, ivf_nlist=2).save(tmp_path / "ivf")
    results = GalleryIndex.load(ivf).query(extractor, gallery_paths[:4], topk=2, nprobe=2)
    assert [r.matches[0].path for r in results] == gallery_paths[:4]
    with pytest.raises(ConfigError, match="--ivf 999"):
        GalleryIndex.build(extractor, gallery_paths, ivf_nlist=999)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_damaged_index_is_a_clear_error(index_dir, tmp_path, damage):
    folder = tmp_path / "broken"
    if damage == "truncated":
        folder.mkdir()
        for name in ("gallery.faiss", "index.json"):
            (folder / name).write_bytes((index_dir / name).read_bytes()[:100])
    with pytest.raises(DataError, match="rebuild it|no gallery index"):
        GalleryIndex.load(folder)
