"""What SAA's weights see: a planted look-alike in a tight cluster, and the real clustering mistakes.

Left: the toy case of the unit test, 8 tight clusters of 12 members (d = 32) and
one look-alike (halfway between clusters 0 and 1) planted into cluster 1; SAA
trained with the ``planted`` objective. Bars: each member's relative weight
(weight x cluster size; 1 = the mean's uniform weight), the planted member in red.
Right: the reference fixture's features clustered at eps 0.7 (28 impure clusters,
320 misplaced members, see saa_features.py), SAA with the default config trained
for 100 steps: every member of an impure cluster, its cosine distance to its
cluster's mean against its relative SAA weight, misplaced members in red. A robust
aggregator would put the red points low; the mean's weights are the line at 1.

    python benchmarks/saa_weights_plot.py

Writes docs/images/saa_weights.png, benchmarks/results/saa_weights.json and a row in docs/results.md.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.clustering import cluster_pseudo_labels  # noqa: E402
from robustreid.memory.saa import SelfAttentionAggregator, aggregate_clusters, train_saa  # noqa: E402
from robustreid.memory.settings import SAAConfig  # noqa: E402
from robustreid.memory.strategies import mean_prototypes  # noqa: E402
from saa_features import Clustered, load_features  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "saa_weights.png"


def trained_weights(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_clusters: int,
    options: SAAConfig,
    steps: int,
    seed: int = 0,
) -> torch.Tensor:
    """Each member's weight x its cluster's size, after ``steps`` of SAA training."""
    torch.manual_seed(seed)
    saa = SelfAttentionAggregator(features.shape[1], options.width, options.heads, options.layers)
    train_saa(
        saa,
        torch.optim.Adam(saa.parameters(), lr=options.lr),
        features,
        labels,
        num_clusters,
        steps,
        options.objective,
        **options.objective_options(),
    )
    with torch.no_grad():
        _, weights = aggregate_clusters(saa, features, labels, num_clusters, options.max_set_size)
    return weights * torch.bincount(labels)[labels]


def planted_case(dim: int = 32, clusters: int = 8, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight clusters around random centres, plus a look-alike of clusters 0 and 1 labelled 1 (the last row)."""
    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(clusters, dim, generator=g), dim=1)
    labels = torch.arange(clusters).repeat_interleave(size)
    features = F.normalize(
        centres[labels] + 0.15 * torch.randn(len(labels), dim, generator=g) / dim**0.5, dim=1
    )
    outlier = F.normalize(centres[0] + centres[1], dim=0)
    return torch.cat([features, outlier[None]]), torch.cat([labels, torch.tensor([1])])


def main() -> None:
    started = time.perf_counter()
    torch.set_num_threads(1)
    features, labels = planted_case()
    toy_options = SAAConfig(width=32, heads=4, lr=3e-3, max_set_size=16)
    toy = trained_weights(features, labels, int(labels.max()) + 1, toy_options, steps=60)[labels == 1].numpy()

    fixture, identities = load_features()
    clustered = Clustered.from_labels(fixture, cluster_pseudo_labels(fixture, eps=0.7), identities)
    relative = trained_weights(
        clustered.features, clustered.labels, clustered.num_clusters, SAAConfig(), steps=100
    ).numpy()
    means = F.normalize(mean_prototypes(clustered.features, clustered.labels, clustered.num_clusters), dim=1)
    distance = (1 - (clustered.features * means[clustered.labels]).sum(1)).numpy()
    in_impure = clustered.impure[clustered.labels.numpy()]
    misplaced = clustered.misplaced[in_impure]

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(np.arange(len(toy)), toy, color=["tab:blue"] * (len(toy) - 1) + ["tab:red"])
    left.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="mean (uniform)")
    left.set(
        title="planted look-alike in a tight cluster",
        xlabel="member of cluster 1 (red: planted)",
        ylabel="SAA weight x cluster size",
    )
    left.set_ylim(0, 1.4)
    left.legend(loc="upper right")
    for flag, colour, name in ((False, "tab:blue", "own identity"), (True, "tab:red", "misplaced")):
        pick = misplaced == flag
        right.scatter(
            distance[in_impure][pick], relative[in_impure][pick], s=8, c=colour, alpha=0.6, label=name
        )
    right.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    right.set(
        title="fixture, eps 0.7: members of the 28 impure clusters",
        xlabel="cosine distance to cluster mean",
        ylabel="SAA weight x cluster size",
    )
    right.legend()
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)

    figures = {
        "planted_relative_weight": round(float(toy[-1]), 3),
        "planted_weight_rank": int((toy < toy[-1]).sum()),  # 0: the planted member weighs least
        "fixture_auc_low_weight_misplaced": round(roc_auc_score(misplaced, -relative[in_impure]), 4),
        "fixture_auc_distance_misplaced": round(roc_auc_score(misplaced, distance[in_impure]), 4),
        "figure": str(FIGURE.relative_to(FIGURE.parents[2])),
    }
    print(figures)
    write_result(
        "saa_weights",
        "python benchmarks/saa_weights_plot.py " + shlex.join(sys.argv[1:]),
        time.perf_counter() - started,
        figures,
    )


if __name__ == "__main__":
    main()
