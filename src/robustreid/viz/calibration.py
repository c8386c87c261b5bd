"""The picture of a threshold calibration: same- and different-identity distance histograms, and the threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_distance_histograms(
    bin_edges: np.ndarray,
    positive_counts: np.ndarray,
    negative_counts: np.ndarray,
    threshold: float,
    out_png: str | Path,
    title: str = "cosine distance of query/gallery pairs",
) -> Path:
    """Both histograms as densities (there are far more negatives), with the threshold as a vertical line."""
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    widths = np.diff(bin_edges)
    for counts, label, colour in (
        (positive_counts, "same identity", "tab:green"),
        (negative_counts, "different identities", "tab:red"),
    ):
        density = counts / max(counts.sum(), 1) / widths
        ax.bar(bin_edges[:-1], density, widths, align="edge", alpha=0.5, color=colour, label=label)
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    used = np.nonzero(positive_counts + negative_counts)[0]
    if len(used):
        ax.set_xlim(bin_edges[used[0]], bin_edges[used[-1] + 1])
    ax.set(xlabel="cosine distance (1 - cos)", ylabel="density", title=title)
    ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    return out_png
