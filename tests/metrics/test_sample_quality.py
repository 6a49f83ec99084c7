"""MMD against Gaussian closed forms and a dense float64 reference; mode coverage on hand-made samples."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import toy2d
from genjax.metrics import sample_quality as sq

RING_CENTERS = 2.0 * np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)
RING_STD = 0.02
GRID_CENTERS = np.array([(-4.0 + 2 * i, -4.0 + 2 * j) for i in range(5) for j in range(5)])
GRID_STD = 0.05


def gaussian_kernel_mean(mean_a, mean_b, var_a, var_b, bandwidth):
    """E exp(-|X - Y|^2 / (2 h^2)) for independent isotropic X ~ N(a, var_a I), Y ~ N(b, var_b I).

    X - Y ~ N(a - b, v I) with v = var_a + var_b, and per dimension
    E exp(-Z^2 / (2 h^2)) = h / sqrt(h^2 + v) exp(-(a - b)^2 / (2 (h^2 + v))).
    """
    mean_a, mean_b = np.atleast_1d(mean_a), np.atleast_1d(mean_b)
    v, h2 = var_a + var_b, bandwidth**2
    return float(np.prod(np.sqrt(h2 / (h2 + v)) * np.exp(-((mean_a - mean_b) ** 2) / (2 * (h2 + v)))))


def dense_mmd(x, y, bandwidths, unbiased):
    """Squared MMD straight from the definition, float64, full Gram matrices."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def gram(a, b):
        sq_dist = np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
        return sum(np.exp(-sq_dist / (2 * h**2)) for h in bandwidths)

    k_xx, k_yy, k_xy = gram(x, x), gram(y, y), gram(x, y)
    n, m = len(x), len(y)
    if unbiased:
        term_xx = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
        term_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    else:
        term_xx, term_yy = k_xx.mean(), k_yy.mean()
    return term_xx + term_yy - 2 * k_xy.mean()


# ---------------------------------------------------------------------------
# MMD


@pytest.mark.slow
def test_unbiased_mmd_averages_to_zero_and_biased_to_its_known_offset():
    """Same distribution: E[MMD_u^2] = 0; E[MMD_b^2] = (1/n + 1/m) (k(x, x) - E k(x, x')) > 0."""
    reps, n, m, dim, h = 4000, 12, 20, 2, 1.0
    key_x, key_y = jax.random.split(jax.random.key(0))
    xs = jax.random.normal(key_x, (reps, n, dim))
    ys = jax.random.normal(key_y, (reps, m, dim))

    def kernel(a, b):
        return sq.rbf_kernel(a, b, bandwidth=h)

    def estimates(unbiased):
        fn = jax.jit(jax.vmap(lambda x, y: sq.mmd(x, y, kernel=kernel, unbiased=unbiased, block_size=8)))
        values = np.asarray(fn(xs, ys), np.float64)
        return values.mean(), values.std(ddof=1) / math.sqrt(reps)

    mean_u, se_u = estimates(True)
    assert abs(mean_u) < 4 * se_u, (mean_u, se_u)

    mean_b, se_b = estimates(False)
    expected_b = (1 / n + 1 / m) * (1.0 - gaussian_kernel_mean(np.zeros(dim), np.zeros(dim), 1.0, 1.0, h))
    assert mean_b > 20 * se_b  # clearly positive, not just noise
    assert abs(mean_b - expected_b) < 4 * se_b, (mean_b, expected_b, se_b)


@pytest.mark.slow
@pytest.mark.parametrize("bandwidths", [(1.0,), (0.5, 2.0)])
def test_mmd_matches_the_gaussian_closed_form(bandwidths):
    """N(0, 1) vs N(mu, 1) in 1-D: MMD^2 = sum_h [c_h(0, 0) + c_h(mu, mu) - 2 c_h(0, mu)]."""
    reps, n, mu = 12, 1500, 0.5
    truth = sum(
        gaussian_kernel_mean(0.0, 0.0, 1.0, 1.0, h)
        + gaussian_kernel_mean(mu, mu, 1.0, 1.0, h)
        - 2 * gaussian_kernel_mean(0.0, mu, 1.0, 1.0, h)
        for h in bandwidths
    )
    key_x, key_y = jax.random.split(jax.random.key(1))
    xs = jax.random.normal(key_x, (reps, n, 1))
    ys = mu + jax.random.normal(key_y, (reps, n + 100, 1))  # N != M

    def kernel(a, b):
        return sq.rbf_kernel(a, b, bandwidth=bandwidths)

    fn = jax.jit(lambda x, y: sq.mmd(x, y, kernel=kernel, block_size=512))
    values = np.array([float(fn(x, y)) for x, y in zip(xs, ys, strict=True)])
    mean, se = values.mean(), values.std(ddof=1) / math.sqrt(reps)
    assert se < 0.05 * truth  # the check below is sharp
    assert abs(mean - truth) < 4 * se, (mean, truth, se)


@pytest.mark.slow
@pytest.mark.parametrize("unbiased", [True, False])
def test_blockwise_mmd_equals_dense_formula(unbiased):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(700, 3)).astype(np.float32)
    y = (0.3 + 1.2 * rng.normal(size=(500, 3))).astype(np.float32)
    bandwidths = (0.7, 2.5)
    expected = dense_mmd(x, y, bandwidths, unbiased)
    assert abs(expected) > 1e-2  # a non-trivial difference to reproduce

    def kernel(a, b):
        return sq.rbf_kernel(a, b, bandwidth=bandwidths)

    for block_size in (128, 7, 5000):
        got = sq.mmd(x, y, kernel=kernel, unbiased=unbiased, block_size=block_size)
        np.testing.assert_allclose(float(got), expected, rtol=1e-4, atol=2e-6)
    jitted = jax.jit(lambda a, b: sq.mmd(a, b, kernel=kernel, unbiased=unbiased, block_size=128))
    np.testing.assert_allclose(float(jitted(x, y)), expected, rtol=1e-4, atol=2e-6)
    # [N, ...] inputs are flattened: a [700, 3, 1] view gives the same number.
    flat = sq.mmd(x[:, :, None], y[:, :, None], kernel=kernel, unbiased=unbiased)
    np.testing.assert_allclose(float(flat), expected, rtol=1e-4, atol=2e-6)


@pytest.mark.slow
def test_mmd_gradient_matches_autodiff_of_the_dense_formula():
    rng = np.random.default_rng(7)
    x, y = jnp.asarray(rng.normal(size=(40, 2))), jnp.asarray(0.5 + rng.normal(size=(30, 2)))

    def dense(a):  # the U-statistic written out on full Gram matrices, no blocks
        gram = lambda p, q: jnp.exp(-jnp.sum((p[:, None] - q[None]) ** 2, -1) / 2.0)
        off_diagonal = lambda k: (k.sum() - jnp.trace(k)) / (k.shape[0] * (k.shape[0] - 1))
        return off_diagonal(gram(a, a)) + off_diagonal(gram(y, y)) - 2 * gram(a, y).mean()

    def kernel(a, b):
        return sq.rbf_kernel(a, b, bandwidth=1.0)

    blocked = jax.grad(lambda a: sq.mmd(a, y, kernel=kernel, block_size=16))(x)
    np.testing.assert_allclose(blocked, jax.jit(jax.grad(dense))(x), rtol=1e-3, atol=1e-6)


def test_rbf_kernel_values_and_multi_bandwidth_sum():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(9, 4))
    sq_dist = np.sum((x[:, None] - y[None]) ** 2, axis=-1)
    single = [np.asarray(sq.rbf_kernel(x, y, bandwidth=h)) for h in (0.3, 1.0, 4.0)]
    for h, k in zip((0.3, 1.0, 4.0), single, strict=True):
        np.testing.assert_allclose(k, np.exp(-sq_dist / (2 * h**2)), rtol=1e-5, atol=1e-7)
    multi = sq.rbf_kernel(x, y, bandwidth=[0.3, 1.0, 4.0])
    assert multi.shape == (6, 9)
    np.testing.assert_allclose(multi, sum(single), rtol=1e-5, atol=1e-7)
    # Identical far-from-origin points: the expanded distance must clip at 0, never exceed k = 1.
    far = np.full((3, 2), 1e3, np.float32)
    np.testing.assert_array_equal(np.asarray(sq.rbf_kernel(far, far, bandwidth=1.0)), 1.0)


def test_median_bandwidth_by_hand_and_on_large_samples():
    # Pool {0, 1, 3}: distances 1, 3, 2 -> median 2.
    assert float(sq.median_bandwidth(np.array([[0.0], [1.0]]), np.array([[3.0]]))) == pytest.approx(2.0)
    # Pool {0, 1, 3, 7}: distances 1, 3, 7, 2, 6, 4 -> median (3 + 4) / 2.
    assert float(sq.median_bandwidth(np.array([[0.0], [1.0]]), np.array([[3.0], [7.0]]))) == pytest.approx(
        3.5
    )
    # |X - X'| for X, X' ~ N(0, 1) is half-normal with scale sqrt 2: median sqrt(2) * 0.67449.
    # 3000 points each exercise the 1000-point subsample.
    rng = np.random.default_rng(4)
    h = float(sq.median_bandwidth(rng.normal(size=(3000, 1)), rng.normal(size=(3000, 1))))
    assert h == pytest.approx(math.sqrt(2) * 0.6744898, rel=0.04)


def test_default_kernel_is_rbf_with_median_bandwidth():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 2)), 1.0 + rng.normal(size=(45, 2))
    h = float(sq.median_bandwidth(x, y))
    expected = dense_mmd(x, y, (h,), unbiased=True)
    # Under jit: the median heuristic is traceable too.
    np.testing.assert_allclose(float(jax.jit(sq.mmd)(x, y)), expected, rtol=1e-4)


def test_mmd_rejects_bad_inputs():
    with pytest.raises(AssertionError, match="same number of features"):  # chex
        sq.mmd(jnp.zeros((4, 2)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        sq.mmd(jnp.zeros((1, 2)), jnp.zeros((4, 2)))


# ---------------------------------------------------------------------------
# Mode coverage


def test_points_at_three_ring_centres():
    samples = np.repeat(RING_CENTERS[[0, 3, 6]], 5, axis=0)
    result = sq.mode_coverage(jnp.asarray(samples), RING_CENTERS, RING_STD)
    assert result["modes_captured"] == 3 and isinstance(result["modes_captured"], int)
    assert result["high_quality_fraction"] == 1.0
    np.testing.assert_array_equal(result["counts"], [5, 0, 0, 5, 0, 0, 5, 0])
    # p = 1/3 on 3 of 8 modes: sum 1/3 log(8/3) = log(8/3).
    assert result["mode_kl"] == pytest.approx(math.log(8 / 3), rel=1e-12)


def test_radius_boundary_and_min_count():
    direction = np.array([np.cos(0.7), np.sin(0.7)])
    inside = RING_CENTERS[2] + 2.9 * RING_STD * direction
    outside = RING_CENTERS[5] + 3.1 * RING_STD * direction  # nearest centre 5, but not high quality
    far_outside = RING_CENTERS[1] * 1.2  # 0.4 from centre 1 (20 std), still nearest to it
    samples = np.stack([inside, inside, outside, far_outside, RING_CENTERS[7]])
    result = sq.mode_coverage(samples, RING_CENTERS, RING_STD)
    np.testing.assert_array_equal(result["counts"], [0, 0, 2, 0, 0, 0, 0, 1])
    assert result["modes_captured"] == 2
    assert result["high_quality_fraction"] == pytest.approx(3 / 5)
    # p = (2/3, 1/3) on 2 modes: 2/3 log(16/3) + 1/3 log(8/3).
    assert result["mode_kl"] == pytest.approx(2 / 3 * math.log(16 / 3) + 1 / 3 * math.log(8 / 3))
    # min_count=2: mode 7 (one sample) is no longer captured; a wider radius admits the 3.1 std point.
    assert sq.mode_coverage(samples, RING_CENTERS, RING_STD, min_count=2)["modes_captured"] == 1
    wider = sq.mode_coverage(samples, RING_CENTERS, RING_STD, num_std=3.2)
    np.testing.assert_array_equal(wider["counts"], [0, 0, 2, 0, 0, 1, 0, 1])
    # A per-mode std: mode 5 three times wider also admits it.
    per_mode = np.full(8, RING_STD)
    per_mode[5] *= 3
    assert sq.mode_coverage(samples, RING_CENTERS, per_mode)["counts"][5] == 1


def test_mode_kl_hand_values():
    uniform = sq.mode_coverage(np.repeat(GRID_CENTERS, 2, axis=0), GRID_CENTERS, GRID_STD)
    assert uniform["modes_captured"] == 25 and uniform["mode_kl"] == pytest.approx(0.0, abs=1e-12)
    # counts (2, 1, 1): p = (1/2, 1/4, 1/4) -> 1/2 log 4 + 2 * 1/4 log 2 = 1.5 log 2.
    lopsided = sq.mode_coverage(RING_CENTERS[[0, 0, 1, 2]], RING_CENTERS, RING_STD)
    assert lopsided["mode_kl"] == pytest.approx(1.5 * math.log(2))
    collapsed = sq.mode_coverage(np.repeat(RING_CENTERS[:1], 10, axis=0), RING_CENTERS, RING_STD)
    assert collapsed["modes_captured"] == 1 and collapsed["mode_kl"] == pytest.approx(math.log(8))
    nothing = sq.mode_coverage(np.zeros((4, 2)), RING_CENTERS, RING_STD)  # origin: 2 from every centre
    assert nothing["modes_captured"] == 0 and nothing["high_quality_fraction"] == 0.0
    assert math.isnan(nothing["mode_kl"])


@pytest.mark.parametrize(
    "name, centers, std", [("ring", RING_CENTERS, RING_STD), ("25gaussians", GRID_CENTERS, GRID_STD)]
)
def test_true_samples_cover_every_mode(name, centers, std):
    """In 2-D P(|x - c| < 3 std) = 1 - exp(-9/2) (chi with 2 dof); 2 N KL ~ chi2 with K - 1 dof."""
    num = 20_000
    samples = toy2d.get(name).sample(np.random.default_rng(6), num)
    result = sq.mode_coverage(samples, centers, std)
    k = len(centers)
    assert result["modes_captured"] == k
    p = 1 - math.exp(-4.5)
    assert abs(result["high_quality_fraction"] - p) < 4 * math.sqrt(p * (1 - p) / num)
    assert 2 * result["counts"].sum() * result["mode_kl"] < (k - 1) + 5 * math.sqrt(2 * (k - 1))
