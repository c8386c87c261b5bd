"""Interrupted runs: killed at random points and resumed, a run ends exactly as if it had never stopped.

Each run is a real ``robustreid train`` process, so a kill can land anywhere: in an
import, while images load, mid-step, or while a checkpoint is being written.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from robustreid.engine.run_dir import RunDir
from robustreid.inference.checkpoint import load_model

#: Seeds the kill times, so a failure can be replayed.
KILL_SEED = 16
#: The signals sent, in order: two hard kills around a polite SIGTERM (sent once a checkpoint exists).
FAULTS = (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL)
TIMEOUT_S = 600


class Run:
    """One ``robustreid train`` process, its stderr in a file."""

    def __init__(self, argv: list[str], stderr: Path) -> None:
        self.stderr_path = stderr
        with stderr.open("w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "robustreid.cli.main", *argv], stderr=err)

    def wait(self) -> int:
        return self.process.wait(timeout=TIMEOUT_S)

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def log_size(run_dir: Path) -> int:
    log = run_dir / RunDir.LOG
    return log.stat().st_size if log.exists() else 0


def wait_for(condition: Callable[[], bool], run: Run) -> None:
    start = time.perf_counter()
    while not condition():
        assert run.process.poll() is None, run.stderr()
        assert time.perf_counter() - start < TIMEOUT_S
        time.sleep(0.02)


def resume_if_possible(run_dir: Path) -> list[str]:
    """What a user does after an interruption: --resume when a checkpoint exists, else start again."""
    return ["--resume"] if RunDir(run_dir).has_checkpoint else []


def interrupted(argv: list[str], run_dir: Path, fault: signal.Signals, delay_s: float, stderr: Path) -> Run:
    """Start a run, let it train for ``delay_s`` (SIGTERM: after its first checkpoint), then send ``fault``."""
    size = log_size(run_dir)
    run = Run([*argv, *resume_if_possible(run_dir)], stderr)
    wait_for(lambda: log_size(run_dir) > size, run)  # past the imports, SIGTERM handled: training begins
    if fault == signal.SIGTERM:
        wait_for(lambda: RunDir(run_dir).has_checkpoint, run)
    time.sleep(delay_s)
    run.process.send_signal(fault)
    return run


@pytest.mark.slow
def test_random_kills_and_resumes_end_like_an_uninterrupted_run(
    tmp_path, tiny_train, reference_run, records_of
):
    last_epoch = reference_run.records[-1]["epoch"]
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / RunDir.METRICS).write_text('{"epoch": 0, "loss": 9.9}\n')  # an older run's log in the folder
    rng = random.Random(KILL_SEED)
    for attempt, fault in enumerate(FAULTS):
        delay_s = rng.uniform(0, reference_run.seconds)
        run = interrupted(tiny_train(killed), killed, fault, delay_s, tmp_path / f"attempt{attempt}.stderr")
        code = run.wait()
        if RunDir(killed).has_checkpoint:
            RunDir(killed).load_checkpoint()  # whole and checksummed at every kill point
        if code == 130:  # SIGTERM, handled: a clean stop
            assert "robustreid train: interrupted; the last completed epoch is checkpointed" in run.stderr()
            assert not list(killed.glob(".*.tmp")), "SIGTERM must not leave temporary files"
        elif code == -signal.SIGTERM:  # SIGTERM after training had ended: the default action, nothing lost
            assert RunDir(killed).load_checkpoint().epoch == last_epoch, run.stderr()
        else:
            assert code in (0, -signal.SIGKILL), run.stderr()  # 0: it finished before the signal

    final = Run([*tiny_train(killed), *resume_if_possible(killed)], tmp_path / "final.stderr")
    assert final.wait() == 0, final.stderr()
    assert records_of(killed) == reference_run.records  # each epoch once, with the same figures
    assert RunDir(killed).load_checkpoint().epoch == last_epoch and not list(killed.glob(".*.tmp"))
    best_epoch = load_model(reference_run.run_dir / RunDir.BEST_MODEL).epoch
    assert load_model(killed / RunDir.BEST_MODEL).epoch == best_epoch
