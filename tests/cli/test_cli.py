"""The command line as a user meets it: help, errors, and real outputs on a tiny data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustreid import __version__
from robustreid.cli.main import build_parser, main
from robustreid.errors import ConfigError

SUBCOMMANDS = [
    "datasets",
    "extract",
    "evaluate",
    "train",
    "config",
    "index",
    "search",
    "export",
    "calibrate",
    "viz",
    "report",
]


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


def test_extract_writes_features_and_paths(data_root, tmp_path):
    out = tmp_path / "feats"
    code = main(
        [
            "extract",
            "--folder",
            str(data_root / "query"),
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


def test_evaluate_reports_metrics_as_json(data_root, tmp_path, capsys):
    report = tmp_path / "m.json"
    code = main(
        [
            "evaluate",
            "--dataset",
            "market1501",
            "--data-root",
            str(data_root),
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
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "error" in line or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith(f"robustreid {argv[0]}: error: ") and message in lines[0]
    assert out == ""  # cheap inputs are checked first: nothing (a data set's summary) is printed before


def test_debug_shows_the_traceback_of_a_user_mistake():
    with pytest.raises(ConfigError, match="unknown dataset"):
        main(["--debug", "datasets", "--dataset", "market"])


def test_a_bug_keeps_its_traceback(monkeypatch):
    def buggy(*args, **kwargs):
        raise KeyError("a programmer's mistake")

    monkeypatch.setattr("robustreid.data.load_dataset", buggy)
    with pytest.raises(KeyError, match="a programmer's mistake"):
        main(["datasets", "--dataset", "synthetic"])


def test_extract_with_a_checkpoint_gives_the_feature_extractors_features(checkpoint, data_root, tmp_path):
    """One way to load and run a model: the command and the Python API give the same features."""
    from robustreid.inference import FeatureExtractor

    out = tmp_path / "feats"
    argv = [
        "extract",
        "--folder",
        str(data_root / "query"),
        "--checkpoint",
        str(checkpoint),
        "--device",
        "cpu",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    paths = out.with_suffix(".txt").read_text().split()
    expected = FeatureExtractor(checkpoint, device="cpu")(paths, numpy=True)
    np.testing.assert_array_equal(np.load(out.with_suffix(".npy")), expected)


@pytest.mark.parametrize(
    "command, dtype", [("extract", "fp32"), ("evaluate", "fp32"), ("calibrate", "auto"), ("search", "auto")]
)
def test_every_command_that_embeds_shares_the_batch_size_and_measures_in_fp32(command, dtype):
    from robustreid.inference.defaults import DEFAULT_BATCH_SIZE

    parser = build_parser()._subparsers._group_actions[0].choices[command]
    defaults = {action.dest: action.default for action in parser._actions}
    assert (defaults["batch_size"], defaults["dtype"]) == (DEFAULT_BATCH_SIZE, dtype)


def test_config_show_prints_every_default_as_a_config_that_reads_back(tmp_path, capsys):
    from robustreid.config import load_config

    assert main(["config", "show", "--set", "optim.epochs=3", "--output-dir", "runs/x"]) == 0
    shown = capsys.readouterr().out
    assert (
        "saa:" in shown and "objective: planted" in shown and "guard:" in shown
    )  # defaults of every section
    (tmp_path / "shown.yaml").write_text(shown)
    assert load_config(tmp_path / "shown.yaml") == load_config(None, ["optim.epochs=3", "output_dir=runs/x"])


def test_config_show_names_a_bad_choice_in_one_line(user_error):
    err = user_error(["config", "show", "--set", "memory.update=hsp"])
    assert "memory.update='hsp' must be one of gated, hard, hps, hps_gated, mean" in err
