"""The whole job behind ``robustreid train``: seed, build, train, and leave a run folder a person can read.

Under torchrun every process runs this job in one process group; rank 0 alone logs
and writes the run folder (see :mod:`robustreid.distributed`).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from robustreid.clustering import Clusterer
from robustreid.config import TrainConfig
from robustreid.data.images import screen_dataset
from robustreid.distributed import World, from_rank0, process_group
from robustreid.engine.builder import build_dataset, build_trainer
from robustreid.engine.observers import EpochObserver
from robustreid.engine.run_dir import RunDir
from robustreid.engine.trainer import Trainer
from robustreid.utils.runtime import seed_everything, signal_handler

log = logging.getLogger("robustreid")


def train_and_report(
    cfg: TrainConfig,
    resume: bool = False,
    observers: Sequence[EpochObserver] = (),
    clusterer: Clusterer | None = None,
) -> dict[str, Any]:
    """Train from ``cfg``; returns the summary it writes to summary.json (before/after/best, wall time).

    ``observers`` are added to the trainer's own and ``clusterer`` replaces the one of
    ``cfg.cluster`` (see :func:`build_trainer`).

    Under torchrun every rank returns rank 0's summary.
    """
    start = time.perf_counter()
    run_dir = RunDir(cfg.output_dir)
    with process_group(cfg.device) as world, _main_process_logs(run_dir, world), _terminate_as_interrupt():
        seed_everything(cfg.seed)
        # broken files are skipped (or refused) here, before an epoch could stop on one
        trainer = build_trainer(
            cfg,
            dataset=screen_dataset(build_dataset(cfg.data), cfg.data.max_bad_fraction),
            observers=observers,
            clusterer=clusterer,
        )
        initial = from_rank0(lambda: _initial_metrics(trainer, cfg.eval.before_training, resume))
        final = trainer.fit(resume=resume)
        summary = from_rank0(lambda: _summary(run_dir, initial, final, start))  # rank 0 evaluated
    if world.is_main:
        run_dir.write_json(RunDir.SUMMARY, summary)
        log.info(_format_summary(summary, str(run_dir.path)))
    return summary


def _summary(
    run_dir: RunDir, initial: dict[str, float] | None, final: dict[str, Any], start: float
) -> dict[str, Any]:
    return {
        "before": initial,
        "after": {"mAP": final.get("mAP"), "rank1": final.get("rank1")},
        "best": {"mAP": final["best_mAP"], "epoch": final["best_epoch"]},
        "wall_s": round(time.perf_counter() - start, 1),
        "epochs": len(run_dir.read_metrics()),
    }


def _main_process_logs(run_dir: RunDir, world: World) -> AbstractContextManager:
    """Rank 0 logs to the console and the run folder; the other ranks would only repeat it."""
    if world.is_main:
        return _log_to_file(run_dir.create() / RunDir.LOG)
    return _log_level(logging.ERROR)


@contextmanager
def _log_level(level: int) -> Iterator[None]:
    previous = log.level
    log.setLevel(level)
    try:
        yield
    finally:
        log.setLevel(previous)


@contextmanager
def _log_to_file(path: Path) -> Iterator[None]:
    """Append this run's log lines to the run folder (kept across --resume)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler or ``kill``) ends the run like Ctrl-C: cleanly, with the last epoch's checkpoint.

    Checkpoints are only ever written whole after an epoch, so stopping at any point
    loses at most the epoch in progress, which ``--resume`` repeats exactly.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with signal_handler((signal.SIGTERM,), interrupt):
        yield


def _initial_metrics(trainer: Trainer, before_training: bool, resume: bool) -> dict[str, float] | None:
    """mAP / Rank-1 of the untrained model, measured once per run (kept across --resume)."""
    saved = trainer.run_dir.read_json(RunDir.INITIAL_METRICS)
    if resume and saved is not None:
        return saved
    if not (before_training and trainer.images.can_evaluate):
        return None
    evaluation = trainer.evaluate()
    initial = {"mAP": evaluation.mAP, "rank1": evaluation.rank1}
    trainer.run_dir.write_json(RunDir.INITIAL_METRICS, initial)
    log.info("before training: mAP %.1f  Rank-1 %.1f", 100 * initial["mAP"], 100 * initial["rank1"])
    return initial


def _percent(metrics: dict[str, Any] | None) -> str:
    if not metrics or metrics.get("mAP") is None:
        return "not evaluated"
    return f"mAP {100 * metrics['mAP']:.1f}  Rank-1 {100 * metrics['rank1']:.1f}"


def _format_summary(s: dict[str, Any], run_dir: str) -> str:
    return (
        f"\n  before training: {_percent(s['before'])}\n  after training:  {_percent(s['after'])}\n"
        f"  run folder: {run_dir} ({s['epochs']} epochs, {s['wall_s']:.0f} s)"
    )
