"""NDB: the null rate of flagged bins, nearly all bins under a shift, and the k-means and JS pieces."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import ndb


def test_kmeans_recovers_well_separated_centres():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x = centres[np.arange(400) % 4] + 0.1 * np.random.default_rng(0).normal(size=(400, 2))
    found = np.asarray(
        ndb._kmeans(jax.random.key(0), jnp.asarray(x, jnp.float32), num_clusters=4, num_iters=10)
    )
    nearest = np.min(np.linalg.norm(found[:, None] - centres[None], axis=-1), axis=1)
    assert np.all(nearest < 0.05), found


def test_js_divergence_matches_definition_and_bounds():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.1, 0.2, 0.7])
    m = 0.5 * (p + q)
    kl = lambda a: np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / m), 0))
    np.testing.assert_allclose(
        ndb._js_divergence(jnp.asarray(p), jnp.asarray(q)), 0.5 * kl(p) + 0.5 * kl(q), rtol=1e-5
    )
    disjoint = ndb._js_divergence(jnp.asarray([1.0, 0.0]), jnp.asarray([0.0, 1.0]))
    np.testing.assert_allclose(disjoint, math.log(2.0), rtol=1e-6)


def test_same_distribution_flags_about_alpha_k_bins():
    """Independent draws of one distribution: the flagged share averages near alpha = 0.1."""
    num_bins, alpha, seeds = 20, 0.1, 6
    shares, js = [], []
    for seed in range(seeds):
        k_train, k_fake, k_fit = jax.random.split(jax.random.key(seed), 3)
        train = jax.random.normal(k_train, (2000, 2))
        fake = jax.random.normal(k_fake, (2000, 2))
        result = ndb.number_of_different_bins(k_fit, train, fake, num_bins=num_bins, alpha=alpha)
        assert result.different.shape == (num_bins,) and result.centers.shape == (num_bins, 2)
        assert int(result.num_different_bins) == int(np.sum(np.asarray(result.different)))
        np.testing.assert_allclose(np.sum(np.asarray(result.train_proportions)), 1.0, rtol=1e-5)
        shares.append(float(result.num_different_bins) / num_bins)
        js.append(float(result.js_divergence))
    # 120 tests at level 0.1: mean 0.1, sd ~0.03; dropping the 1/M variance term gives ~0.25.
    assert 0.03 <= np.mean(shares) <= 0.2, shares
    assert max(js) < 0.01, js


def test_shifted_distribution_flags_nearly_all_bins():
    k_train, k_fake, k_fit = jax.random.split(jax.random.key(7), 3)
    train = jax.random.normal(k_train, (2000, 2))
    fake = jax.random.normal(k_fake, (2000, 2)) + 2.0
    result = ndb.number_of_different_bins(k_fit, train, fake, num_bins=20)
    assert int(result.num_different_bins) >= 18, result.p_values
    assert float(result.js_divergence) > 0.3


def test_z_test_against_a_hand_computation():
    """Two bins fixed by construction: counts 60/40 vs 40/60 out of 100 each."""
    centers = jnp.asarray([[0.0], [1.0]])
    train = jnp.asarray([[0.0]] * 60 + [[1.0]] * 40)
    fake = jnp.asarray([[0.0]] * 40 + [[1.0]] * 60)
    count, different, p_values, z, p_train, p_fake, _ = ndb._bin_test(train, fake, centers, 0.05)
    z_expected = 0.2 / math.sqrt(0.5 * 0.5 * (2 / 100))
    np.testing.assert_allclose(z, [z_expected, -z_expected], rtol=1e-5)
    np.testing.assert_allclose(p_values, [math.erfc(z_expected / math.sqrt(2))] * 2, rtol=1e-4)
    assert int(count) == 2 and bool(different.all())
    np.testing.assert_allclose(p_train, [0.6, 0.4])


def test_options_are_checked():
    x = jnp.zeros((10, 2))
    with pytest.raises(ValueError, match="num_bins"):
        ndb.number_of_different_bins(jax.random.key(0), x, x, num_bins=11)
    with pytest.raises(ValueError, match="alpha"):
        ndb.number_of_different_bins(jax.random.key(0), x, x, num_bins=2, alpha=1.5)
