"""Learning curves of a training run, read from its metrics log.

Figures are made with :class:`matplotlib.figure.Figure` and saved with its own
``savefig``, not through pyplot: that needs no backend, so importing or using
this module leaves the backend of a notebook or GUI session alone, and no
figure lingers in pyplot's global list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def plot_learning_curve(
    records: Sequence[dict[str, Any]], out_png: str | Path, title: str = "training"
) -> Path:
    """Three panels over epochs: accuracy (mAP, Rank-1), loss, and clusters / outliers."""
    fig = Figure(figsize=(13, 3.6))
    acc, loss, clusters = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in records]
    evaluated = [r for r in records if "mAP" in r]
    acc.plot([r["epoch"] for r in evaluated], [100 * r["mAP"] for r in evaluated], "o-", label="mAP")
    acc.plot([r["epoch"] for r in evaluated], [100 * r["rank1"] for r in evaluated], "s-", label="Rank-1")
    acc.set(xlabel="epoch", ylabel="%", title="accuracy")
    acc.legend()
    loss.plot(epochs, [r["loss"] for r in records], "o-")
    loss.set(xlabel="epoch", title="ClusterNCE loss")
    clusters.plot(epochs, [r["num_clusters"] for r in records], "o-", label="clusters")
    clusters.plot(epochs, [r["num_outliers"] for r in records], "s-", label="outliers")
    clusters.set(xlabel="epoch", title="pseudo-labels")
    clusters.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=90)
    return out_png


#: the timed phases of an epoch, in the order they run (``time_<phase>`` in the metrics log)
PHASES = ("extract", "cluster", "train", "eval")


def phase_seconds(records: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Seconds of each phase per epoch; 0 where an epoch skipped it (evaluation runs only some epochs)."""
    return {phase: [r.get(f"time_{phase}", 0.0) for r in records] for phase in PHASES}


def plot_phase_times(records: Sequence[dict[str, Any]], out_png: str | Path, title: str = "training") -> Path:
    """Where the wall time goes: seconds per phase, stacked, for every epoch, with each phase's total."""
    fig = Figure(figsize=(9, 3.8))
    ax = fig.subplots()
    epochs = [r["epoch"] for r in records]
    bottom = [0.0] * len(records)
    for phase, seconds in phase_seconds(records).items():
        ax.bar(epochs, seconds, bottom=bottom, label=f"{phase} ({sum(seconds):,.0f} s)")
        bottom = [b + s for b, s in zip(bottom, seconds, strict=True)]
    ax.set_xticks(epochs)
    ax.set(xlabel="epoch", ylabel="seconds", title=f"{title}: {sum(bottom):,.0f} s in the timed phases")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=90)
    return out_png
