"""A 2-D map of an embedding (scikit-learn's t-SNE), coloured by identity or pseudo-label.

What the metrics summarise in one number, the map shows: identities that form
tight islands, look-alikes that share one, and the outliers (grey) that
clustering left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

MAX_LEGEND_ENTRIES = 20


def tsne_points(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE coordinates; the perplexity shrinks for small N (it must stay below N)."""
    if len(features) < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {len(features)}")
    perplexity = min(30.0, (len(features) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def plot_embedding(
    points: np.ndarray, labels: np.ndarray, out_png: str | Path, title: str, label_name: str = "identity"
) -> Path:
    """Points coloured by label; negative labels (outliers, unknown identities) in grey, under the rest."""
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    unlabelled = labels < 0
    ax.scatter(*points[unlabelled].T, s=8, c="lightgrey", label=f"outlier / no {label_name}")
    classes = np.unique(labels[~unlabelled])
    palette = colormaps["tab20"]
    for i, value in enumerate(classes):
        ax.scatter(
            *points[labels == value].T, s=14, color=palette(i % palette.N), label=f"{label_name} {value}"
        )
    if len(classes) <= MAX_LEGEND_ENTRIES:
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set(
        title=f"{title} ({len(classes)} {label_name}s, {int(unlabelled.sum())} grey)", xticks=[], yticks=[]
    )
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    return out_png
