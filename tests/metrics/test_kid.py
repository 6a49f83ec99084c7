"""KID against a plain numpy U-statistic on the same subsets; its behaviour on equal and shifted sets."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import kid


def numpy_kid(feats_a, feats_b, indices_a, indices_b):
    """Float64 reference: the unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3 on each given subset pair."""
    feats_a, feats_b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    dim = feats_a.shape[1]
    values = []
    for rows_a, rows_b in zip(np.asarray(indices_a), np.asarray(indices_b), strict=True):
        x, y = feats_a[rows_a], feats_b[rows_b]
        m = len(x)
        term_xx = term_yy = term_xy = 0.0
        for i in range(m):
            for j in range(m):
                if i != j:
                    term_xx += (x[i] @ x[j] / dim + 1) ** 3
                    term_yy += (y[i] @ y[j] / dim + 1) ** 3
                term_xy += (x[i] @ y[j] / dim + 1) ** 3
        values.append(term_xx / (m * (m - 1)) + term_yy / (m * (m - 1)) - 2 * term_xy / m**2)
    values = np.array(values)
    return values.mean(), values.std()


def features(seed, num, dim, shift=0.0):
    # Non-negative, skewed features, like post-ReLU pool features.
    return np.abs(np.random.default_rng(seed).normal(size=(num, dim))) + shift


def test_matches_numpy_u_statistic_on_the_same_subsets():
    feats_a, feats_b = features(0, 60, 16), features(1, 80, 16, shift=0.2)
    rng = jax.random.key(3)
    indices_a, indices_b = kid.kid_subset_indices(rng, 60, 80, num_subsets=6, subset_size=25)
    assert indices_a.shape == indices_b.shape == (6, 25)
    for rows, num in ((indices_a, 60), (indices_b, 80)):
        rows = np.asarray(rows)
        assert rows.min() >= 0 and rows.max() < num
        assert all(len(set(r)) == 25 for r in rows)  # without replacement
    assert len({tuple(r) for r in np.asarray(indices_a)}) == 6  # subsets differ
    mean, std = kid.kernel_inception_distance(rng, feats_a, feats_b, num_subsets=6, subset_size=25)
    ref_mean, ref_std = numpy_kid(feats_a, feats_b, indices_a, indices_b)
    assert ref_mean > 0.01 and ref_std > 0
    np.testing.assert_allclose(mean, ref_mean, rtol=2e-5)
    np.testing.assert_allclose(std, ref_std, rtol=2e-3)


def test_subsets_capped_at_the_smaller_set():
    """m = min(subset_size, N, M): with N < subset_size every subset of the first set is all of it."""
    feats_a, feats_b = features(2, 20, 8), features(3, 30, 8, shift=0.3)
    rng = jax.random.key(1)
    indices_a, indices_b = kid.kid_subset_indices(rng, 20, 30, num_subsets=3, subset_size=50)
    assert indices_a.shape == indices_b.shape == (3, 20)
    assert all(sorted(r) == list(range(20)) for r in np.asarray(indices_a).tolist())
    mean, std = kid.kernel_inception_distance(rng, feats_a, feats_b, num_subsets=3, subset_size=50)
    ref_mean, ref_std = numpy_kid(feats_a, feats_b, indices_a, indices_b)
    np.testing.assert_allclose(mean, ref_mean, rtol=2e-5)
    np.testing.assert_allclose(std, ref_std, rtol=2e-3)


def test_same_distribution_is_near_zero_and_shifted_is_positive():
    dim, num = 32, 400
    same_a, same_b = features(4, num, dim), features(5, num, dim)
    shifted = features(6, num, dim, shift=0.15)
    rng = jax.random.key(7)
    options = dict(num_subsets=40, subset_size=100)
    same_mean, same_std = kid.kernel_inception_distance(rng, same_a, same_b, **options)
    shift_mean, shift_std = kid.kernel_inception_distance(rng, same_a, shifted, **options)
    # The unbiased estimate averages to 0: its mean over subsets lies within the spread of one estimate.
    assert abs(float(same_mean)) < 2 * float(same_std), (same_mean, same_std)
    assert float(shift_mean) > 5 * float(shift_std), (shift_mean, shift_std)
    assert float(shift_mean) > 20 * abs(float(same_mean))


def test_jittable_deterministic_and_keyed():
    feats_a, feats_b = features(0, 60, 16), features(1, 80, 16, shift=0.2)  # the shapes of the first test
    run = functools.partial(kid.kernel_inception_distance, num_subsets=6, subset_size=25)
    eager = run(jax.random.key(3), feats_a, feats_b)
    assert eager[0].shape == eager[1].shape == ()
    np.testing.assert_array_equal(run(jax.random.key(3), feats_a, feats_b), eager)
    assert float(run(jax.random.key(4), feats_a, feats_b)[0]) != float(eager[0])
    jitted = jax.jit(run)(
        jax.random.key(3), jnp.asarray(feats_a, jnp.float32), jnp.asarray(feats_b, jnp.float32)
    )
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)


def test_polynomial_kernel_values():
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[3.0, 1.0]])
    np.testing.assert_allclose(
        kid.polynomial_kernel(x, y), [[(5 / 2 + 1) ** 3], [(-1 / 2 + 1) ** 3]], rtol=1e-6
    )


def test_input_checks():
    good = np.zeros((10, 3))
    with pytest.raises(AssertionError, match="same feature dimension"):
        kid.kernel_inception_distance(jax.random.key(0), good, np.zeros((10, 4)))
    with pytest.raises(AssertionError, match=r"\[N, D\]"):
        kid.kernel_inception_distance(jax.random.key(0), np.zeros((10, 3, 1)), good)
    with pytest.raises(ValueError, match="num_subsets"):
        kid.kernel_inception_distance(jax.random.key(0), good, good, num_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kid.kernel_inception_distance(jax.random.key(0), good, good, subset_size=1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        kid.kernel_inception_distance(jax.random.key(0), np.zeros((1, 3)), good)
