"""Parzen-window log-likelihood against scikit-learn's KernelDensity, and its bandwidth search."""

import numpy as np
import pytest
from sklearn.neighbors import KernelDensity

from genjax.metrics.parzen import parzen_log_likelihood, select_parzen_bandwidth


@pytest.mark.parametrize("bandwidth", [0.05, 0.3, 2.0])
def test_matches_sklearn_kernel_density(bandwidth):
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(300, 2, 3)).astype(np.float32)  # trailing axes are flattened
    points = rng.normal(size=(70, 2, 3)).astype(np.float32)
    # One leaf holding every sample: sklearn then sums the kernels exactly. Its default tree
    # prunes far nodes and is off by hundreds of nats in the tails at small bandwidths.
    reference = KernelDensity(kernel="gaussian", bandwidth=bandwidth, leaf_size=1000)
    reference.fit(samples.reshape(300, -1))
    expected = reference.score_samples(points.reshape(70, -1))
    got = parzen_log_likelihood(samples, points, bandwidth=bandwidth, chunk_size=16)  # 5 chunks
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-5, atol=2e-4)


def test_one_centre_is_a_gaussian_density():
    point = np.array([[0.3, -1.2]], np.float32)
    got = float(parzen_log_likelihood(np.zeros((1, 2), np.float32), point, bandwidth=0.5)[0])
    expected = -np.sum(point**2) / (2 * 0.25) - np.log(2 * np.pi * 0.25)
    assert got == pytest.approx(expected, rel=1e-6)


def test_bandwidth_is_chosen_on_validation():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(500, 2)).astype(np.float32)
    valid = rng.normal(size=(500, 2)).astype(np.float32)
    best, scores = select_parzen_bandwidth(samples, valid, bandwidths=[0.01, 0.1, 0.4, 3.0])
    assert best == max(scores, key=scores.get) == 0.4  # N(0, 1) with 500 points: h ~ 0.4 (Silverman)
    assert scores[0.01] < scores[0.1] < scores[0.4] > scores[3.0]
    default_best, default_scores = select_parzen_bandwidth(samples, valid)
    assert len(default_scores) == 20 and 0.1 < default_best < 1.0


def test_bad_bandwidth_and_shapes_are_one_line_errors():
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        parzen_log_likelihood(np.zeros((3, 2)), np.zeros((1, 2)), bandwidth=0.0)
    with pytest.raises(AssertionError, match="same features"):
        parzen_log_likelihood(np.zeros((3, 2)), np.zeros((1, 3)), bandwidth=1.0)
