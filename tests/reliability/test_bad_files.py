"""Bad files around a run: checkpoints that are not ours, outputs that cannot be written, a disk that fills up."""

from __future__ import annotations

import errno
import io
import os
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from robustreid.engine.run_dir import RunDir, TrainingState
from robustreid.errors import CheckpointError
from robustreid.inference.checkpoint import Preprocessing, load_model
from robustreid.models import build_model


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    return build_model("efficientnet_lite0", pretrained=False).eval()


def training_state(epoch: int, model: torch.nn.Module) -> TrainingState:
    """A checkpoint's state with the model's weights and every other part empty: these tests are about the file."""
    empty = {field.name: {} for field in fields(TrainingState)}
    return TrainingState(**{**empty, "epoch": epoch, "model": model.state_dict()})


@pytest.fixture
def lying_checkpoint(tmp_path, lite0) -> Path:
    """Lite2 weights in a file that says it holds a Lite0 (another architecture's checkpoint, relabelled)."""
    lite2 = build_model("efficientnet_lite2", pretrained=False)
    lite2.config = lite0.config
    return RunDir(tmp_path / "other").save_model(lite2, Preprocessing(64, 32), epoch=0, metrics={})


# ------------------------------------------------------------------------------- checkpoints
def evaluate_argv(market_style_root: Path, checkpoint: Path) -> list[str]:
    return [
        "evaluate",
        "--dataset",
        "market1501",
        "--data-root",
        str(market_style_root),
        "--checkpoint",
        str(checkpoint),
    ]


def test_evaluating_another_architectures_weights_is_one_line(
    market_style_root, lying_checkpoint, user_error
):
    err = user_error(evaluate_argv(market_style_root, lying_checkpoint))
    assert "do not fit its architecture" in err


@pytest.mark.parametrize(
    "content", [b"", b"name,pid\n", b"PK\x03\x04 not a zip"], ids=["empty", "csv", "broken-zip"]
)
def test_evaluating_a_file_that_is_not_a_checkpoint_is_one_line(
    tmp_path, market_style_root, user_error, content
):
    (tmp_path / "model.pth").write_bytes(content)
    err = user_error(evaluate_argv(market_style_root, tmp_path / "model.pth"))
    assert "is not a robustreid checkpoint" in err


def test_resuming_from_another_architectures_checkpoint_is_one_line(tmp_path, tiny_train, user_error):
    lite2 = build_model("efficientnet_lite2", pretrained=False)
    RunDir(tmp_path / "run").create().save_checkpoint(training_state(0, lite2), lite2, Preprocessing(64, 32))
    err = user_error([*tiny_train(tmp_path / "run"), "--resume"])
    assert "checkpoint" in err


# ------------------------------------------------------------------------------ output paths
def a_file(tmp_path: Path) -> Path:
    (tmp_path / "taken").write_text("a file where a folder should be")
    return tmp_path / "taken"


@pytest.mark.parametrize(
    "make_argv, option",
    [
        (lambda tmp, train, root: train(a_file(tmp) / "run"), "output_dir (--output-dir): cannot write into"),
        (
            lambda tmp, train, root: [
                "extract",
                "--folder",
                str(root / "query"),
                "--out",
                str(a_file(tmp) / "f"),
            ],
            "--out: cannot write into",
        ),
        (
            lambda tmp, train, root: [
                *evaluate_argv(root, tmp / "unused.pth"),
                "--json",
                str(a_file(tmp) / "m.json"),
            ],
            "--json: cannot write into",
        ),
    ],
    ids=["train-output-dir", "extract-out", "evaluate-json"],
)
def test_an_output_under_a_file_fails_before_any_work(
    tmp_path, tiny_train, market_style_root, user_error, make_argv, option
):
    err = user_error(make_argv(tmp_path, tiny_train, market_style_root))
    assert option in err and "taken" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_dir_fails_before_any_work(tmp_path, tiny_train, user_error):
    (tmp_path / "locked").mkdir(mode=0o555)
    err = user_error(tiny_train(tmp_path / "locked"))
    assert "output_dir (--output-dir): cannot write into" in err and "Permission denied" in err


# ----------------------------------------------------------------------------- a full disk
def test_a_disk_that_fills_while_saving_keeps_the_previous_checkpoint(tmp_path, lite0, monkeypatch):
    run = RunDir(tmp_path).create()
    run.save_checkpoint(training_state(0, lite0), lite0, Preprocessing(64, 32))
    real_save = torch.save

    def fills_the_disk_half_way(obj, f, *args, **kwargs):
        if isinstance(f, io.BytesIO):  # serialising in memory works; writing the file does not
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", fills_the_disk_half_way)
    with pytest.raises(
        CheckpointError, match="could not write .*checkpoint.pth \\(No space left on device\\); "
    ):
        run.save_checkpoint(training_state(1, lite0), lite0, Preprocessing(64, 32))
    monkeypatch.setattr(torch, "save", real_save)
    assert run.load_checkpoint().epoch == 0
    assert load_model(tmp_path / RunDir.CHECKPOINT).epoch == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [RunDir.CHECKPOINT]  # no temporary file left


def test_a_metrics_line_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
    run = RunDir(tmp_path)
    for epoch in range(2):
        run.append_metrics({"epoch": epoch, "loss": 1.0})
    with open(tmp_path / RunDir.METRICS, "a") as f:
        f.write('{"epoch": 2, "lo')  # the process died inside this write
    run.truncate_metrics(after_epoch=1)
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]


def test_what_a_kill_during_a_save_left_behind_is_removed_when_the_run_restarts(tmp_path):
    (tmp_path / ".checkpoint.pth.k3x9_a.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "notes.tmp").write_text("a user's file, not one of ours")
    RunDir(tmp_path).create()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.tmp"]
