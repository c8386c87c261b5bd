"""Pictures of a run and its HTML report: every command writes a real picture; the page renders in Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustreid.cli.main import main
from robustreid.config import load_config
from robustreid.data import load_dataset
from robustreid.engine.run_dir import RunDir
from robustreid.errors import ConfigError
from robustreid.evaluation import evaluate_features
from robustreid.inference.extractor import FeatureExtractor
from robustreid.inference.features import labels_of
from robustreid.report.run_inputs import RunInputs
from robustreid.viz.ranked import rank_lists


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, checkpoint, data_root) -> Path:
    """A run folder as training leaves it, with a name HTML must escape; clustering suited to 24 images."""
    folder = tmp_path_factory.mktemp("runs") / "run <b>&"
    run = RunDir(folder).create()
    shutil.copy(checkpoint, run / RunDir.BEST_MODEL)
    settings = ["data.name=market1501", f"data.root={data_root}", "data.height=64", "data.width=32"]
    settings += [
        "cluster.eps=0.7",
        "cluster.min_samples=2",
        "cluster.k1=6",
        "cluster.k2=3",
        f"output_dir={folder}",
    ]
    run.save_config(load_config(None, settings))
    for epoch in range(3):
        record = {"epoch": epoch, "num_clusters": 5 + epoch, "num_outliers": 9 - epoch, "loss": 3.0 - epoch}
        run.append_metrics(record | ({"mAP": 0.4, "rank1": 0.6} if epoch == 2 else {}))
    run.write_json(RunDir.SUMMARY, {"mAP": 0.4, "rank1": 0.6, "best_epoch": 2})
    return folder


def assert_real_picture(path: Path) -> None:
    """A PNG with content: not tiny, not one flat colour."""
    with Image.open(path) as picture:
        assert picture.format == "PNG" and min(picture.size) > 50
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 20)) > 20


@pytest.mark.parametrize(
    "argv, written",
    [
        (["viz", "ranks", "--run", "{run}", "--sort-by-ap"], "{run}/ranks.png"),
        (["viz", "tsne", "--run", "{run}", "--color-by", "pseudo"], "{run}/tsne.png"),
        (
            ["viz", "tsne", "--checkpoint", "{ckpt}", "--dataset", "market1501", "--data-root", "{data}"]
            + ["--split", "gallery", "--out", "{tmp}/tsne_gallery.png"],
            "{tmp}/tsne_gallery.png",
        ),
        (["viz", "clusters", "{run}"], "{run}/clusters.png"),
        (["viz", "curves", "{run}", "--out", "{tmp}/curves.png"], "{tmp}/curves.png"),
    ],
    ids=["ranks", "tsne-pseudo", "tsne-truth", "clusters", "curves"],
)
def test_every_picture_command_writes_a_picture(argv, written, run_dir, checkpoint, data_root, tmp_path):
    names = {"run": run_dir, "ckpt": checkpoint, "data": data_root, "tmp": tmp_path}
    device = ["--device", "cpu"] if argv[1] != "curves" else []
    assert main([a.format(**names) for a in argv] + device) == 0
    assert_real_picture(Path(written.format(**names)))


def test_rank_lists_score_as_the_evaluation_and_sort_worst_first(run_dir, checkpoint, data_root, tmp_path):
    out = tmp_path / "ranks.json"
    argv = [
        "viz",
        "ranks",
        "--run",
        str(run_dir),
        "--sort-by-ap",
        "--topk",
        "5",
        "--out",
        str(tmp_path / "r.png"),
    ]
    assert main([*argv, "--json", str(out), "--device", "cpu"]) == 0
    lists = json.loads(out.read_text())
    aps = [rl["average_precision"] for rl in lists]
    assert aps == sorted(aps) and all(len(rl["matches"]) == 5 for rl in lists)
    for rl in lists:
        assert [m["correct"] for m in rl["matches"]] == [m["pid"] == rl["pid"] for m in rl["matches"]]
        assert all(m["camid"] != rl["camid"] for m in rl["matches"] if m["correct"])  # the protocol's filter

    dataset = load_dataset("market1501", data_root)
    extractor = FeatureExtractor(checkpoint, device="cpu")
    qf = extractor([it.path for it in dataset.query], numpy=True)
    gf = extractor([it.path for it in dataset.gallery], numpy=True)
    (q_pids, q_cams), (g_pids, g_cams) = labels_of(dataset.query), labels_of(dataset.gallery)
    metrics = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams)
    per_query = [rl.average_precision for rl in rank_lists(qf, gf, dataset.query, dataset.gallery)]
    assert np.nanmean(per_query) == pytest.approx(metrics["mAP"], abs=1e-12)
    assert sorted(per_query) == pytest.approx(aps)


@pytest.fixture(scope="module")
def report(run_dir) -> Path:
    assert main(["report", str(run_dir), "--pictures", "--device", "cpu"]) == 0
    return run_dir / "report.html"


def embedded_pictures(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


def test_report_is_one_self_contained_escaped_page(report, run_dir):
    page = report.read_text()
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert "run &lt;b&gt;&amp;" in page and "run <b>&" not in page
    pictures = embedded_pictures(page)
    assert len(pictures) == 4  # curve (drawn from metrics.jsonl), ranks, clusters, t-SNE
    for data in pictures:
        with Image.open(io.BytesIO(data)) as picture:
            picture.verify()
    assert "ranked_results.png not drawn yet" in page  # training writes it; this run folder has none
    assert "<td>num_clusters</td>" not in page and "<th>num_clusters</th>" in page
    assert "data:\n  name: market1501" in page  # the config


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (Debian: apt-get install chromium) to render the report"
)
def test_report_renders_with_its_pictures_in_headless_chromium(report, tmp_path):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    screenshot = tmp_path / "page.png"
    run = dict(capture_output=True, text=True, timeout=120, check=True)
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", report.as_uri()], **run).stdout
    assert dom.count("<img ") == 4 and "Pseudo-label clusters" in dom
    subprocess.run(
        [CHROMIUM, *flags, "--window-size=1280,4000", f"--screenshot={screenshot}", report.as_uri()], **run
    )
    with Image.open(screenshot) as page:
        colours = page.convert("RGB").getcolors(maxcolors=1 << 24)
    assert len(colours) > 2000  # text alone renders in a few hundred greys; the pictures bring the rest


@pytest.mark.parametrize(
    "setting", ["cluster.eps=auto", "cluster.camera_penalty=auto", "cluster.camera_penalty=0.1"]
)
def test_pictures_refuse_clustering_their_sample_cannot_reproduce(setting, tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.save_config(load_config(None, [setting, f"output_dir={run.path}"]))
    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=f"sets {key}, which a picture's sample cannot reproduce"):
        RunInputs(run.path).pseudo_labels(np.eye(4, dtype=np.float32))
