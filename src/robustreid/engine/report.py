"""Train, then leave a run folder a person can read: summary, learning curve, ranked results."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robustreid.engine.config import TrainConfig
from robustreid.engine.trainer import Trainer, read_metrics
from robustreid.viz.curves import plot_learning_curve
from robustreid.viz.ranked import save_ranked_results

log = logging.getLogger("robustreid")

INITIAL_METRICS = "initial_metrics.json"
SUMMARY = "summary.json"


def train_and_report(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """The whole job behind ``robustreid train``; returns the summary it writes to summary.json."""
    start = time.perf_counter()
    Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
    with _log_to_file(Path(cfg.output_dir) / "log.txt"):
        trainer = Trainer(cfg)
        initial = _initial_metrics(trainer, resume)
        final = trainer.fit(resume=resume)
    records = read_metrics(trainer.run_dir)
    summary = {
        "before": initial,
        "after": {"mAP": final.get("mAP"), "rank1": final.get("rank1")},
        "best": {"mAP": final["best_mAP"], "epoch": final["best_epoch"]},
        "wall_s": round(time.perf_counter() - start, 1),
        "epochs": len(records),
    }
    (trainer.run_dir / SUMMARY).write_text(json.dumps(summary, indent=2))
    if records:
        plot_learning_curve(records, trainer.run_dir / "learning_curve.png", title=cfg.output_dir)
    if hasattr(trainer, "last_query_features"):
        save_ranked_results(
            trainer.last_query_features.numpy(),
            trainer.last_gallery_features.numpy(),
            trainer.dataset.query,
            trainer.dataset.gallery,
            trainer.run_dir / "ranked_results.png",
            camera_filter=cfg.eval.camera_filter,
        )
    log.info(_format_summary(summary, str(trainer.run_dir)))
    return summary


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


def _initial_metrics(trainer: Trainer, resume: bool) -> dict[str, float] | None:
    """mAP / Rank-1 of the untrained model, measured once per run (kept across --resume)."""
    path = trainer.run_dir / INITIAL_METRICS
    if resume and path.exists():
        return json.loads(path.read_text())
    if not (trainer.cfg.eval.before_training and trainer.can_evaluate):
        return None
    metrics = trainer.evaluate()
    initial = {"mAP": metrics["mAP"], "rank1": metrics["rank1"]}
    path.write_text(json.dumps(initial))
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
