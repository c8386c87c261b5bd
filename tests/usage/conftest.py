"""A tiny trained-model setting shared by the tests of using a model: a checkpoint, a data set, a run folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustreid.data.synthetic import generate_synthetic
from robustreid.engine.run_dir import RunDir
from robustreid.inference.checkpoint import Preprocessing
from robustreid.models import build_model

HEIGHT, WIDTH = 64, 32


def save_tiny_model(folder: Path, pretrained: bool = True) -> Path:
    """Lite0 saved as robustreid saves a trained model, at 64 x 32.

    The ImageNet weights (bundled with the package) stand in for a trained model: a
    randomly initialised one maps every image to nearly the same feature (cosine
    distances ~1e-6), so nothing about ranking could be tested with it.
    """
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", pretrained=pretrained).eval()
    return RunDir(folder).create().save_model(model, Preprocessing(HEIGHT, WIDTH), epoch=1, metrics={})


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def other_checkpoint(tmp_path_factory) -> Path:
    """Same architecture and preprocessing, other (random) weights: its features are not comparable."""
    return save_tiny_model(tmp_path_factory.mktemp("other_model"), pretrained=False)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """Market-style folders: 4 train and 4 test identities of 6 images, 128 x 64 crops."""
    return generate_synthetic(
        tmp_path_factory.mktemp("syn"), num_train_ids=4, num_test_ids=4, images_per_id=(6, 6), seed=2
    )
