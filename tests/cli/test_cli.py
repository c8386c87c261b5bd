"""The command line as a user meets it: help, errors, and real outputs on a tiny data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustreid import __version__
from robustreid.cli.main import build_parser, main
from robustreid.data.synthetic import generate_synthetic
from robustreid.errors import ConfigError

SUBCOMMANDS = [
    "datasets",
    "extract",
    "evaluate",
    "train",
    "index",
    "search",
    "export",
    "calibrate",
    "viz",
    "report",
]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return generate_synthetic(
        tmp_path_factory.mktemp("syn"), num_train_ids=4, num_test_ids=4, images_per_id=(6, 6), seed=2
    )


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: robustreid " + command in capsys.readouterr().out


def test_parser_lists_exactly_the_subcommands():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(SUBCOMMANDS)


def test_datasets_lists_registered_names(capsys):
    assert main(["datasets"]) == 0
    names = capsys.readouterr().out.split()
    assert {"market1501", "msmt17", "personx", "dukemtmcreid", "folder", "synthetic"} <= set(names)


def test_missing_dataset_folder_is_a_clean_error(tmp_path, capsys):
    assert main(["datasets", "--dataset", "market1501", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "bounding_box_train" in err


def test_bad_config_override_names_the_key(capsys):
    assert main(["train", "--set", "optim.learning_rate=1"]) == 2
    assert "optim.learning_rate" in capsys.readouterr().err


def test_extract_writes_features_and_paths(tiny_root, tmp_path):
    out = tmp_path / "feats"
    code = main(
        [
            "extract",
            "--folder",
            str(tiny_root / "query"),
            "--backbone",
            "efficientnet_lite0",
            "--height",
            "64",
            "--width",
            "32",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    features = np.load(out.with_suffix(".npy"))
    paths = out.with_suffix(".txt").read_text().split()
    assert features.shape == (len(paths), 1280)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_evaluate_reports_metrics_as_json(tiny_root, tmp_path, capsys):
    report = tmp_path / "m.json"
    code = main(
        [
            "evaluate",
            "--dataset",
            "market1501",
            "--data-root",
            str(tiny_root),
            "--backbone",
            "efficientnet_lite0",
            "--height",
            "64",
            "--width",
            "32",
            "--device",
            "cpu",
            "--json",
            str(report),
            "--ranked-png",
            str(tmp_path / "r.png"),
        ]
    )
    assert code == 0
    metrics = json.loads(report.read_text())
    assert 0 < metrics["mAP"] <= 1 and len(metrics["cmc"]) == 20
    assert "mAP" in capsys.readouterr().out
    assert (tmp_path / "r.png").stat().st_size > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--set", "device=cuda:7", "--set", "optim.epochs=1"], "CUDA is not available"),
        (["train", "--set", "data.name=market"], "data.name='market' must be one of dukemtmcreid, folder"),
        (["datasets", "--dataset", "market"], "unknown dataset 'market'; available:"),
        (["train", "--config", "no/such/config.yaml"], "config file not found"),
        (["evaluate", "--dataset", "synthetic", "--checkpoint", "no/such/model.pth"], "no checkpoint at"),
        (["train", "--set", "optim.epochs=ten"], "optim.epochs"),
        (["extract", "--folder", "no/such/folder", "--out", "x"], "no images found"),
    ],
    ids=[
        "no-cuda",
        "unknown-dataset",
        "unknown-dataset-listing",
        "missing-config",
        "missing-checkpoint",
        "wrong-type",
        "missing-folder",
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if argv[0] == "train" and "device=cuda:7" in argv[2]:
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith(f"robustreid {argv[0]}: error: ") and message in lines[0]


def test_debug_shows_the_traceback_of_a_user_mistake():
    with pytest.raises(ConfigError, match="unknown dataset"):
        main(["--debug", "datasets", "--dataset", "market"])


def test_a_bug_keeps_its_traceback(monkeypatch):
    def buggy(*args, **kwargs):
        raise KeyError("a programmer's mistake")

    monkeypatch.setattr("robustreid.data.load_dataset", buggy)
    with pytest.raises(KeyError, match="a programmer's mistake"):
        main(["datasets", "--dataset", "synthetic"])
