import numpy as np
import pytest

from robustreid.data.sampler import PKBatchSampler


def make_sampler(**kw):
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, -1, -1])
    camids = np.array([0, 0, 1, 2, 0, 1, 1, 0, 0, 0, 3, 0, 1])
    args = dict(batch_size=4, num_instances=2, num_batches=6, seed=3) | kw
    return labels, camids, PKBatchSampler(labels, camids, **args)


def test_batches_have_p_clusters_of_k_and_skip_outliers():
    labels, _, sampler = make_sampler()
    batches = list(sampler)
    assert len(batches) == 6
    for batch in batches:
        assert len(batch) == 4
        batch_labels = labels[batch]
        assert (batch_labels >= 0).all()
        assert len(set(batch_labels[:2])) == 1 and len(set(batch_labels[2:])) == 1
        assert batch_labels[0] != batch_labels[2]


def test_other_cameras_come_before_same_camera():
    labels, camids, sampler = make_sampler(num_instances=4, batch_size=4, num_batches=30)
    for batch in sampler:
        cams = camids[batch]
        others = (cams[1:] != cams[0]).astype(int)
        assert (np.diff(others) <= 0).all()  # all other-camera picks precede same-camera picks


def test_same_seed_same_batches_and_different_seed_differs():
    assert list(make_sampler()[2]) == list(make_sampler()[2])
    assert list(make_sampler()[2]) != list(make_sampler(seed=4)[2])


def test_rejects_bad_batch_and_all_outliers():
    with pytest.raises(ValueError, match="multiple"):
        make_sampler(batch_size=5)
    with pytest.raises(ValueError, match="outlier"):
        PKBatchSampler(np.array([-1, -1]), np.array([0, 1]), 2, 2, 1, 0)
