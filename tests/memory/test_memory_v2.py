"""The second design of the robust memory: gated hard positives, warm-up, anchors, loss gating, merges."""

import pytest
import torch
import torch.nn.functional as F

from robustreid.config import load_config
from robustreid.config.variants import VARIANTS
from robustreid.errors import ConfigError
from robustreid.memory.cluster_memory import ClusterMemory
from robustreid.memory.saa import (
    SelfAttentionAggregator,
    _plant_look_alikes,
    random_rank_within_cluster,
    train_saa,
)
from robustreid.memory.settings import SAA_OBJECTIVES, MemoryConfig, SAAConfig
from robustreid.memory.strategies import member_reliability, percentile_rank

E = torch.eye(8)
NO_SAA_TRAINING = {"width": 16, "heads": 2, "steps": 0, "max_set_size": 8}


def two_camera_cluster():
    """Cluster 0: two views from camera 0, two of a different look from camera 1, one look-alike (4).

    Sample 4 is a clustering mistake: the least similar to the cluster and to its camera's
    other members. Samples 2 and 3 are hard but reliable: far from the mean, close to each other.
    """
    features = F.normalize(
        torch.stack(
            [
                E[0],
                E[0] + 0.1 * E[3],
                E[0] + 0.8 * E[4],
                E[0] + 0.8 * E[4] + 0.05 * E[3],
                E[5] + 0.6 * E[0],
                E[1],
                E[1] + 0.1 * E[3],
                E[1] + 0.2 * E[4],
            ]
        ),
        dim=1,
    )
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    cameras = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    return features, labels, cameras


def chosen_by(update, init="mean", reliability="camera"):
    features, labels, cameras = two_camera_cluster()
    memory = ClusterMemory(
        MemoryConfig(init=init, update=update, reliability=reliability, saa=SAAConfig(**NO_SAA_TRAINING))
    )
    memory.initialise(features, labels, cameras=cameras)
    batch = torch.arange(8)
    return memory.select_updaters(features, labels, batch).tolist()


def test_plain_hardest_positives_pick_the_mistake_the_gated_hps_does_not():
    assert chosen_by("hard") == [4, 7]
    assert chosen_by("hps", init="mean+saa") == [4, 7]  # untrained SAA: distance to the mean
    assert chosen_by("hps_gated", init="mean+saa") == [2, 7]  # hard, and like its camera's other view
    # camera-blind, sample 2's reliability is its similarity to the whole cluster: no longer a winner
    assert chosen_by("hps_gated", init="mean+saa", reliability="cluster") == [0, 7]


def test_the_3c_gate_is_the_harmonic_form_of_distance_and_reliability():
    features, labels, cameras = two_camera_cluster()
    memory = ClusterMemory(MemoryConfig(init="mean", update="gated"))
    memory.initialise(features, labels, cameras=cameras)
    d = 1 - (features * memory.prototypes[labels]).sum(1)
    s = 1 + memory.state.reliability
    expected = [int(torch.argmax(torch.where(labels == c, d * s / (d + s), -1.0))) for c in (0, 1)]
    assert memory.select_updaters(features, labels, torch.arange(8)).tolist() == expected == [4, 7]


def test_reliability_leaves_the_member_out_and_falls_back_to_the_cluster():
    features = F.normalize(torch.stack([E[0], E[0] + E[1], E[1], E[2], E[2]]), dim=1)
    labels = torch.tensor([0, 0, 0, -1, 1])
    cameras = torch.tensor([0, 0, 1, 0, 0])
    reliability = member_reliability(features, labels, cameras)
    # 0 and 1 share camera 0: each is compared with the other alone
    assert reliability[0].item() == pytest.approx(2**-0.5)
    assert reliability[1].item() == pytest.approx(2**-0.5)
    # 2 is its camera's only member: compared with the cluster's others, e0 + (e0 + e1) / sqrt 2
    others = features[0] + features[1]
    assert reliability[2].item() == pytest.approx(float(F.cosine_similarity(features[2], others, dim=0)))
    assert reliability[3].isnan()  # an outlier
    assert reliability[4].item() == 0  # a singleton cluster: no one to agree with
    camera_blind = member_reliability(features, labels)
    assert camera_blind[0].item() == pytest.approx(
        float(F.cosine_similarity(features[0], features[1] + features[2], dim=0))
    )


def test_percentile_rank_puts_scores_on_one_scale():
    ranks = percentile_rank(torch.tensor([0.3, float("nan"), -1.0, 7.0, 0.5]))
    torch.testing.assert_close(ranks[[0, 2, 3, 4]], torch.tensor([0.5, 0.25, 1.0, 0.75]))
    assert ranks[1].isnan()


def test_warm_up_updates_by_every_sample_until_it_ends():
    features, labels, cameras = two_camera_cluster()
    memory = ClusterMemory(MemoryConfig(init="mean", update="hard", warmup_epochs=2))
    batch = torch.arange(8)
    for epoch, expected in [(0, list(range(8))), (1, list(range(8))), (2, [4, 7])]:
        memory.initialise(features, labels, cameras=cameras, epoch=epoch)
        assert memory.select_updaters(features, labels, batch).tolist() == expected


def test_the_anchor_term_lasts_the_epoch():
    features, labels, cameras = two_camera_cluster()
    memory = ClusterMemory(MemoryConfig(init="mean", update="mean", momentum=0.1, anchor_weight=0.25))
    memory.initialise(features, labels, cameras=cameras)
    initial = memory.prototypes.clone()
    memory.update(features[[4]], labels[[4]])  # the look-alike drags prototype 0 almost onto itself
    assert torch.equal(memory.anchors, initial)
    query, target = features[[0]], labels[[0]]

    def nce(prototypes):
        return F.cross_entropy(query @ prototypes.t() / 0.05, target)

    expected = 0.75 * nce(memory.prototypes) + 0.25 * nce(initial)
    torch.testing.assert_close(memory(query, target), expected)
    assert memory(query, target) < nce(memory.prototypes)  # the anchor still recognises sample 0


def test_the_anchor_fades_out_over_its_epochs():
    features, labels, cameras = two_camera_cluster()
    config = MemoryConfig(init="mean", update="mean", anchor_weight=0.5, anchor_fade_epochs=4)
    memory = ClusterMemory(config)
    query, target = features[[0]], labels[[0]]
    weights = []
    for epoch in range(6):
        memory.initialise(features, labels, cameras=cameras, epoch=epoch)
        memory.update(features[[4]], labels[[4]])  # momentum and anchor prototypes now differ
        weights.append(memory.anchor_weight)
        on_momentum = F.cross_entropy(query @ memory.prototypes.t() / 0.05, target)
        if memory.anchor_weight > 0:
            on_anchor = F.cross_entropy(query @ memory.anchors.t() / 0.05, target)
            expected = (1 - memory.anchor_weight) * on_momentum + memory.anchor_weight * on_anchor
        else:
            expected = on_momentum
            assert memory.anchors.numel() == 0  # no anchors kept once the weight is 0
        torch.testing.assert_close(memory(query, target), expected)
    assert weights == [0.5, 0.375, 0.25, 0.125, 0.0, 0.0]


def test_dispersed_members_sit_out_of_the_loss():
    features, labels, cameras = two_camera_cluster()
    saa = SAAConfig(**NO_SAA_TRAINING, loss_quantile=6 / 8)
    memory = ClusterMemory(MemoryConfig(init="mean+saa", update="mean", saa=saa))
    memory.initialise(features, labels, cameras=cameras)
    assert memory.state.ranking.sits_out.nonzero().squeeze(1).tolist() == [
        2,
        4,
    ]  # the two farthest from the mean
    batch = torch.tensor([0, 2, 4, 5])
    plain = ClusterMemory(MemoryConfig(init="mean", update="mean"))
    plain.initialise(features, labels)
    taking_part = torch.tensor([0, 5])
    torch.testing.assert_close(
        memory(features[batch], labels[batch], batch), plain(features[taking_part], labels[taking_part])
    )
    only_out = torch.tensor([2, 4])  # a batch of only set-aside samples keeps them all rather than nothing
    torch.testing.assert_close(
        memory(features[only_out], labels[only_out], only_out), plain(features[only_out], labels[only_out])
    )


def tight_clusters(num_clusters=6, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_clusters, 16, generator=g), dim=1)
    labels = torch.arange(num_clusters).repeat_interleave(size)
    return F.normalize(centres[labels] + 0.04 * torch.randn(len(labels), 16, generator=g), dim=1), labels


def test_a_merge_plants_a_minority_of_one_look_alike_cluster():
    features, labels = tight_clusters()
    torch.manual_seed(0)
    rank = random_rank_within_cluster(labels, 6)
    donors, receivers = _plant_look_alikes(features, labels, 6, rank, planted_fraction=1.0, merge_share=0.5)
    assert torch.bincount(receivers, minlength=6).tolist() == [3] * 6  # half of each aggregated half of 6
    for receiver in range(6):
        donor_clusters = labels[donors[receivers == receiver]].unique()
        assert len(donor_clusters) == 1 and donor_clusters.item() != receiver
    single, receivers = _plant_look_alikes(features, labels, 6, rank, planted_fraction=1.0)
    assert len(single) == len(receivers) == 6  # merge_share 0: one planted member each


def test_an_saa_trained_on_merges_discounts_a_merged_minority():
    features, labels = tight_clusters(num_clusters=8)
    minority = labels == 1
    merged = labels.clone()
    merged[minority.nonzero().squeeze(1)[:4]] = 0  # 4 of cluster 1 merged into cluster 0 (12 members)
    torch.manual_seed(0)
    saa = SelfAttentionAggregator(16, width=32, heads=4)
    options = SAAConfig(max_set_size=32).objective_options()
    losses = train_saa(
        saa, torch.optim.Adam(saa.parameters(), lr=3e-3), features, labels, 8, 60, "merge", **options
    )
    assert losses[-1] < losses[0]
    with torch.no_grad():
        _, weights = saa(features[merged == 0][None], torch.zeros(1, 16, dtype=torch.bool))
    intruders = labels[merged == 0] == 1
    assert weights[0, intruders].sum() < 0.5 * intruders.float().mean()  # below their share of a plain mean
    options["planted_fraction"] = 1.0
    SAA_OBJECTIVES.get("merge")(saa, features, labels, 8, **options).backward()  # gradients flow


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["memory.saa.loss_quantile=0.8"], "memory.init csa or mean\\+saa"),
        (["memory.anchor_weight=1.0"], "memory.anchor_weight=1.0 must be in \\[0, 1\\)"),
        (["memory.warmup_epochs=-1"], "memory.warmup_epochs=-1 must be >= 0"),
        (["memory.anchor_fade_epochs=-2"], "memory.anchor_fade_epochs=-2 must be >= 0"),
        (["memory.saa.merge_share=1.0"], "minority side"),
        (["memory.camera_weight=-0.5"], "memory.camera_weight=-0.5 must be >= 0"),
        (["memory.camera_negatives=0"], "memory.camera_negatives=0 must be >= 1"),
    ],
)
def test_bad_v2_settings_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_an_unknown_reliability_is_named():
    with pytest.raises(ConfigError, match="memory.reliability 'cameras'"):
        ClusterMemory(MemoryConfig(reliability="cameras"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_ablation_variant_is_a_valid_memory_that_trains(variant):
    cfg = load_config("configs/synthetic.yaml", [*VARIANTS[variant], "memory.saa.steps=2"])
    memory = ClusterMemory(cfg.memory)
    features, labels, cameras = two_camera_cluster()
    memory.initialise(features, labels, cameras=cameras, epoch=cfg.memory.warmup_epochs)
    batch = torch.arange(8)
    assert torch.isfinite(memory(features, labels, batch))
    chosen = memory.update(features, labels, indices=batch)
    assert 2 <= len(chosen) <= 8  # at least one updater per class
