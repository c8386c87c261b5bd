"""What the pseudo-labels look like: sample members of several clusters, and the cluster sizes.

Frames are green for members of the cluster's majority identity and red for the
others when ground truth exists (grey otherwise), so a glance shows whether a
cluster is one person, a few look-alikes merged, or a camera's background.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from robustreid.viz.ranked import GREEN, GREY, RED, Tile, tile_strip

THUMB, BORDER = (32, 64), 2


def plot_cluster_samples(
    paths: Sequence[str],
    labels: np.ndarray,
    out_png: str | Path,
    true_ids: np.ndarray | None = None,
    num_clusters: int = 8,
    members: int = 8,
    seed: int = 0,
) -> Path:
    """Rows of sample members of ``num_clusters`` clusters spread from the largest to the smallest, then
    a histogram of all cluster sizes. ``labels``: -1 for outliers."""
    labels = np.asarray(labels)
    clustered = np.unique(labels[labels >= 0], return_counts=True)
    if len(clustered[0]) == 0:
        raise ValueError("every image is an outlier: there is no cluster to show")
    by_size = clustered[0][np.argsort(-clustered[1], kind="stable")]
    shown = by_size[
        np.unique(np.linspace(0, len(by_size) - 1, min(num_clusters, len(by_size))).round().astype(int))
    ]
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(9, 1.2 * len(shown) + 2.6))
    grid = fig.add_gridspec(len(shown) + 1, 1, height_ratios=[1] * len(shown) + [2])
    for row, cluster in enumerate(shown):
        indices = np.flatnonzero(labels == cluster)
        sample = np.sort(rng.choice(indices, min(members, len(indices)), replace=False))
        colours, caption = _member_colours(indices, sample, true_ids)
        strip = tile_strip([Tile(paths[i], c) for i, c in zip(sample, colours, strict=True)], THUMB, BORDER)
        row_image = Image.new("RGB", ((THUMB[0] + 2 * BORDER) * members, strip.height), "white")
        row_image.paste(strip)  # every row as wide as a full one, so rows line up on the left
        ax = fig.add_subplot(grid[row])
        ax.imshow(np.asarray(row_image))
        ax.set_anchor("W")
        ax.set_axis_off()
        ax.set_title(f"cluster {cluster}: {len(indices)} images{caption}", fontsize=8, loc="left")
    hist = fig.add_subplot(grid[-1])
    sizes = clustered[1]
    hist.hist(sizes, bins=np.arange(1, sizes.max() + 2) - 0.5, color="tab:blue")
    hist.set(
        xlabel="cluster size (images)",
        ylabel="clusters",
        title=f"{len(sizes)} clusters, {int(np.count_nonzero(labels < 0))} outliers of {len(labels)} images",
    )
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    return out_png


def _member_colours(
    cluster: np.ndarray, sample: np.ndarray, true_ids: np.ndarray | None
) -> tuple[list[tuple[int, int, int]], str]:
    """Frame colours of the sampled members and the row's purity caption (majority identity's share)."""
    if true_ids is None:
        return [GREY] * len(sample), ""
    ids, counts = np.unique(true_ids[cluster], return_counts=True)
    majority = ids[np.argmax(counts)]
    purity = counts.max() / len(cluster)
    return [
        GREEN if true_ids[i] == majority else RED for i in sample
    ], f", purity {purity:.2f} (id {majority})"
