"""What tests in several folders share: a tiny training config, a tiny trained model and data set, and
running the command line as a user meets it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from robustreid.cli.main import main
from robustreid.data.synthetic import generate_synthetic
from robustreid.engine.run_dir import RunDir
from robustreid.inference.checkpoint import Preprocessing
from robustreid.models import build_model

#: A training run of a few seconds on a tiny synthetic set (Lite0 at 64 x 32, 2 epochs of 8 batches of
#: 8 identities x 4 crops, clustering that fits ~9 crops per identity), as ``--set`` overrides. Each
#: test file adds what it measures (data, epochs, speed-ups); later overrides win.
TINY_TRAINING = (
    "data.height=64",
    "data.width=32",
    "data.num_workers=0",
    "model.backbone=efficientnet_lite0",
    "optim.batch_size=32",
    "optim.num_instances=4",
    "optim.iters=8",
    "optim.epochs=2",
    "cluster.eps=0.7",
    "cluster.k1=10",
    "cluster.k2=4",
    "cluster.min_samples=3",
    "eval.every=1",
    "eval.batch_size=64",
    "seed=3",
)

#: The input size of the tiny model of :func:`checkpoint`.
HEIGHT, WIDTH = 64, 32


@pytest.fixture(scope="session")
def tiny_training() -> tuple[str, ...]:
    """The overrides of :data:`TINY_TRAINING`."""
    return TINY_TRAINING


def _save_tiny_model(folder: Path, pretrained: bool = True) -> Path:
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
    return _save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def other_checkpoint(tmp_path_factory) -> Path:
    """Same architecture and preprocessing, other (random) weights: its features are not comparable."""
    return _save_tiny_model(tmp_path_factory.mktemp("other_model"), pretrained=False)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """Market-style folders: 4 train and 4 test identities of 6 images, 128 x 64 crops."""
    return generate_synthetic(
        tmp_path_factory.mktemp("syn"), num_train_ids=4, num_test_ids=4, images_per_id=(6, 6), seed=2
    )


@pytest.fixture
def user_error(capsys) -> Callable[[Sequence[str]], str]:
    """``user_error(argv)`` runs ``robustreid argv``, which must fail as a user's mistake.

    That is: exit 2, exactly one line ``robustreid <command>: error: ...``, no traceback.
    Returns all of stderr (a layout error draws the expected tree below its error line).
    """

    def run(argv: Sequence[str]) -> str:
        code = main(list(argv))
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err, err
        error_lines = [line for line in err.splitlines() if ": error: " in line]
        assert len(error_lines) == 1 and error_lines[0].startswith(f"robustreid {argv[0]}: error: "), err
        return err

    return run
