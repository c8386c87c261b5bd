"""Exported models reproduce the PyTorch features: ONNX through onnxruntime, TorchScript through torch.jit."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from robustreid.cli.main import main
from robustreid.data.images import read_resized
from robustreid.errors import ConfigError, RobustReidError
from robustreid.inference.export import PARITY_TOLERANCE, export_model
from robustreid.inference.extractor import FeatureExtractor


@pytest.fixture(scope="module")
def images(data_root):
    """Five real crops as the exported graph takes them: float RGB in [0, 1] at 64 x 32."""
    paths = sorted(map(str, (data_root / "query").glob("*.jpg")))[:5]
    return torch.stack([read_resized(p, 64, 32) for p in paths]).float() / 255


@pytest.fixture(scope="module")
def features(checkpoint, images):
    return FeatureExtractor(checkpoint, device="cpu", dtype="fp32")(images)


def test_onnx_export_matches_pytorch_in_onnxruntime(
    checkpoint, data_root, images, features, tmp_path, capsys
):
    onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra")
    out = tmp_path / "reid.onnx"
    argv = ["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out)]
    assert main([*argv, "--check-images", str(data_root / "bounding_box_test")]) == 0
    printed = capsys.readouterr().out
    assert "(N, 3, 64, 32)" in printed and "max abs difference" in printed

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (declared,) = session.get_inputs()
    assert declared.shape[1:] == [3, 64, 32] and isinstance(declared.shape[0], str)  # dynamic batch
    exported = session.run(None, {declared.name: images.numpy()})[0]
    np.testing.assert_allclose(exported, features.numpy(), atol=PARITY_TOLERANCE)
    np.testing.assert_allclose(np.linalg.norm(exported, axis=1), 1.0, atol=1e-5)


def test_torchscript_export_matches_pytorch(checkpoint, images, features, tmp_path):
    result = export_model(checkpoint, "torchscript", tmp_path / "reid.pt")  # synthetic crops check it
    assert result.max_abs_diff < PARITY_TOLERANCE and result.num_check_images > 2
    loaded = torch.jit.load(str(result.path))
    torch.testing.assert_close(loaded(images), features, atol=PARITY_TOLERANCE, rtol=0)
    torch.testing.assert_close(loaded(images[:1]), features[:1], atol=PARITY_TOLERANCE, rtol=0)


def test_unknown_format_is_a_clear_error(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="use onnx or torchscript"):
        export_model(checkpoint, "tflite", tmp_path / "reid.tflite")


def test_missing_onnx_packages_say_what_to_install(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(RobustReidError, match=r"pip install 'robustreid\[export\]'"):
        export_model(checkpoint, "onnx", tmp_path / "reid.onnx")
    assert not (tmp_path / "reid.onnx").exists()
