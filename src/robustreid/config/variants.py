"""The ablation's variants: named ``--set`` overrides of the memory (and clustering), on top of any config.

A variant is a list of overrides rather than a config file because every variant
runs on every data set: ``load_config("configs/market1501.yaml", VARIANTS["full"])``
is the full method on Market-1501. ``benchmarks/ablation.py`` runs them and records
each variant's list in its result JSON, so a row can be rerun from the JSON alone;
the tests check that every variant loads and trains.
"""

from __future__ import annotations

WARMUP, ANCHOR = "memory.warmup_epochs=2", "memory.anchor_weight=0.5"
ANCHOR_FADE = "memory.anchor_fade_epochs=10"  # the anchor weight falls from 0.5 to 0 by epoch 10
CSA_V2 = ["memory.init=csa", ANCHOR]  # SAA prototypes as a fixed second prototype for the epoch
CAMERA_DEBIASED = "cluster.camera_penalty=auto"  # clusters that span cameras (clustering/camera_bias.py)
CAMERA_PROXIES = "memory.camera_weight=0.5"  # + the inter-camera loss (memory/camera_proxies.py)
#: The third design's HPS never picks a member whose dispersion is above this quantile of the epoch's.
NOISE_QUANTILE = 0.5


def estimator_hps(estimator: str, noise_quantile: float = NOISE_QUANTILE) -> list[str]:
    """The third design: HPS ranked by a label-free estimator's distance, never above ``noise_quantile``.

    Prototypes stay the plain mean, because no estimator measured closer to the
    identities than the mean on real features (docs/method.md section 7).
    """
    return [
        "memory.init=mean+saa",
        f"memory.saa.aggregator={estimator}",
        "memory.update=hps",
        f"memory.saa.noise_quantile={noise_quantile}",
    ]


#: Each variant's settings, by name. The first six are the named variants (CSA and HPS as designed
#: second, docs/method.md section 9); ``*_v1`` are the first design; the rest are one row per design
#: choice tried. A name keeps its meaning: a new design gets a new name.
VARIANTS: dict[str, list[str]] = {
    "baseline": ["memory.init=mean", "memory.update=mean"],
    "cc_hard": ["memory.init=mean", "memory.update=hard"],
    "gated_hard": ["memory.init=mean", "memory.update=gated"],  # 3C's rule, the field's reference
    "csa": [*CSA_V2, "memory.update=mean"],
    "hps": ["memory.init=mean+saa", "memory.update=hps_gated", WARMUP],
    "full": [*CSA_V2, "memory.update=hps_gated", WARMUP],
    "csa_v1": ["memory.init=csa", "memory.update=mean"],  # the first design: init only
    "hps_v1": ["memory.init=mean+saa", "memory.update=hps"],
    "full_v1": ["memory.init=csa", "memory.update=hps"],
    "mean_anchor": ["memory.init=mean", "memory.update=mean", ANCHOR],  # is it the anchor, or SAA?
    "slow_momentum": ["memory.init=mean", "memory.update=mean", "memory.momentum=0.5"],
    "cc_hard_warmup": ["memory.init=mean", "memory.update=hard", WARMUP],
    "hps_no_warmup": ["memory.init=mean+saa", "memory.update=hps_gated"],
    "hps_camera_blind": [
        "memory.init=mean+saa",
        "memory.update=hps_gated",
        WARMUP,
        "memory.reliability=cluster",
    ],
    "full_merge": [*CSA_V2, "memory.update=hps_gated", WARMUP, "memory.saa.objective=merge"],
    "csa_fade": [*CSA_V2, ANCHOR_FADE, "memory.update=mean"],
    "full_fade": [*CSA_V2, ANCHOR_FADE, "memory.update=hps_gated", WARMUP],
    "csa_hard": [*CSA_V2, "memory.update=hard"],  # the lasting anchor with Cluster Contrast's update
    "full_loss_gate": [*CSA_V2, "memory.update=hps_gated", WARMUP, "memory.saa.loss_quantile=0.9"],
    "cc_hard_camera_debiased": ["memory.init=mean", "memory.update=hard", CAMERA_DEBIASED],
    "full_camera_debiased": [*CSA_V2, "memory.update=hps_gated", WARMUP, CAMERA_DEBIASED],
    "cc_hard_camera_proxies": ["memory.init=mean", "memory.update=hard", CAMERA_PROXIES],
    "full_camera_proxies": [*CSA_V2, "memory.update=hps_gated", WARMUP, CAMERA_PROXIES],
    "trimmed_hps": estimator_hps("trimmed"),  # the third design's fallback
    # skips only the most dispersed fifth: the half skips rare-camera positives (saa_real_features.md)
    "trimmed_hps_skip20": estimator_hps("trimmed", noise_quantile=0.8),
    # Cluster Contrast's live hardest positive, among the members the trimmed mean does not skip
    "hard_skip20": [*estimator_hps("trimmed", noise_quantile=0.8), "memory.saa.dispersion_source=memory"],
}
#: The ablation's default rows: the baseline, two field references, and the paper's modules alone and together.
NAMED_VARIANTS = ["baseline", "cc_hard", "gated_hard", "csa", "hps", "full"]
