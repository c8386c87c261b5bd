"""benchmarks/_feature_dumps.py: ``--dumps`` names the epochs a feature-level bench reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _feature_dumps import DUMPS, dump_epochs  # noqa: E402


def test_a_name_alone_reads_the_epoch_the_regenerate_command_keeps() -> None:
    assert dump_epochs(["imagenet", "last"]) == {"imagenet": DUMPS["imagenet"], "last": DUMPS["last"]}


def test_name_equals_epoch_reads_another_runs_epochs() -> None:
    assert dump_epochs(["middle=9", "last=19"]) == {"middle": 9, "last": 19}


def test_an_unknown_name_without_an_epoch_is_one_clear_line() -> None:
    with pytest.raises(SystemExit, match="give NAME=EPOCH"):
        dump_epochs(["final"])
