"""The model file format: what RunDir writes, load_model reads back exactly, and refuses files that are not ours."""

from __future__ import annotations

import pickle

import pytest
import torch

from robustreid.engine.run_dir import RunDir
from robustreid.errors import CheckpointError
from robustreid.inference.checkpoint import Preprocessing, load_model
from robustreid.models import build_model


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return build_model("efficientnet_lite0", pretrained=False, pooling="avg").eval()


def test_model_file_round_trips_weights_architecture_and_preprocessing(tiny_model, tmp_path):
    path = RunDir(tmp_path).save_model(tiny_model, Preprocessing(96, 48), epoch=3, metrics={"mAP": 0.5})
    trained = load_model(path)
    assert trained.architecture == {"backbone": "efficientnet_lite0", "last_stride": 1, "pooling": "avg"}
    assert trained.preprocessing == Preprocessing(96, 48) and (trained.epoch, trained.metrics) == (
        3,
        {"mAP": 0.5},
    )
    images = torch.rand(2, 3, 96, 48)
    torch.testing.assert_close(trained.model(images), tiny_model(images))
    assert set(torch.load(path, weights_only=True)) == {"format_version", "sha256", "payload"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is not a robustreid checkpoint"),
        (b"not a torch file", "is not a robustreid checkpoint"),
        (pickle.dumps({"format_version": 1}, protocol=2), "is not a robustreid checkpoint"),
        ({"format_version": 1, "model": {}, "run_on_load": print}, "is not a robustreid checkpoint"),
    ],
    ids=["empty", "text", "plain pickle", "torch file referencing a function"],
)
def test_files_that_are_not_checkpoints_are_refused(tmp_path, content, message):
    path = tmp_path / "model.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)  # unpickling it would import and keep a callable: weights_only refuses
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_a_plain_state_dict_and_a_missing_file_are_refused(tiny_model, tmp_path):
    torch.save(tiny_model.state_dict(), tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="not a robustreid checkpoint of format 1"):
        load_model(tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(tmp_path / "missing.pth")


def test_weights_of_another_architecture_are_refused(tmp_path):
    lite2 = build_model("efficientnet_lite2", pretrained=False)
    lite2.config = build_model(
        "efficientnet_lite0", pretrained=False
    ).config  # a file that lies about its model
    path = RunDir(tmp_path).save_model(lite2, Preprocessing(64, 32), epoch=0, metrics={})
    with pytest.raises(CheckpointError, match="do not fit its architecture"):
        load_model(path)


def test_a_damaged_file_is_refused_by_its_checksum(tiny_model, tmp_path):
    path = RunDir(tmp_path).save_model(tiny_model, Preprocessing(64, 32), epoch=0, metrics={})
    wrapper = torch.load(path, weights_only=True)
    wrapper["payload"][-200] ^= 0xFF  # one flipped byte inside the payload
    torch.save(wrapper, path)
    with pytest.raises(CheckpointError, match="damaged: its sha256 does not match"):
        load_model(path)
