"""Ground-truth diagnostics on a hand-built clustering with one misplaced sample."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustreid.memory.diagnostics import (
    majority_identity,
    misplaced_members,
    prototype_error,
    update_noise_rate,
)
from robustreid.memory.strategies import mean_prototypes

# identities 5 and 7 along two axes; cluster 0 holds three of 5 and, by mistake, one of 7
FEATURES = F.normalize(
    torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1], [0.0, 1.0], [0.1, 1.0], [-0.1, 1.0]]), dim=1
)
TRUE_IDS = np.array([5, 5, 5, 7, 7, 7])
LABELS = np.array([0, 0, 0, 0, 1, -1])


def test_majority_identity_per_cluster():
    assert majority_identity(LABELS, TRUE_IDS, 3).tolist() == [5, 7, -1]  # cluster 2 is empty


def test_misplaced_members_are_the_clustered_samples_of_another_identity():
    assert np.flatnonzero(misplaced_members(LABELS, TRUE_IDS)).tolist() == [3]  # sample 5 is an outlier
    assert not misplaced_members(np.full(6, -1), TRUE_IDS).any()  # nothing clustered


def test_prototype_error_is_zero_at_the_identity_centre_and_positive_for_a_polluted_mean():
    centres = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)  # the centres of 5 and 7 (symmetric)
    assert prototype_error(centres, FEATURES, LABELS, TRUE_IDS) == pytest.approx(0.0, abs=1e-6)
    means = mean_prototypes(FEATURES[:5], torch.from_numpy(LABELS[:5]), 2)
    # cluster 0's member sum is (a, 1) with a = 1 + 2 / sqrt(1.01): its mean leans towards identity 7;
    # cluster 1's only member is (0.1, 1), off identity 7's centre (0, 1)
    a = 1 + 2 / np.sqrt(1.01)
    expected = ((1 - a / np.sqrt(a**2 + 1)) + (1 - 1 / np.sqrt(1.01))) / 2  # ~0.0283
    assert prototype_error(means, FEATURES, LABELS, TRUE_IDS) == pytest.approx(expected, rel=1e-4)


def test_update_noise_rate_counts_updates_by_misplaced_samples():
    assert update_noise_rate(np.array([0, 3, 3, 4]), LABELS, TRUE_IDS) == 0.5  # sample 3 (twice) is misplaced
    assert np.isnan(update_noise_rate(np.array([], dtype=np.int64), LABELS, TRUE_IDS))
