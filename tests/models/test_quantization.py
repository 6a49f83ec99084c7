"""k-means and Lloyd-Max: textbook Gaussian quantiser, scikit-learn's inertia, monotone distortion."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.cluster import KMeans

from genjax.models.quantization import kmeans, lloyd_max


@pytest.fixture(scope="module")
def gaussian_grid():
    """N(0, 1) as its 100k quantiles at (i + 1/2) / N, each of weight 1/N: a quadrature fine enough
    (spacing ~3e-5 near the thresholds) that the discrete quantiser's optimum is the density's to 1e-4."""
    grid = stats.norm.ppf((np.arange(100_000) + 0.5) / 100_000)
    return grid, np.full_like(grid, 1e-5)


def test_lloyd_max_on_the_standard_normal_gives_the_textbook_four_levels(gaussian_grid):
    grid, density = gaussian_grid
    # Max (1960), Table I, N = 4: outputs ±0.4528, ±1.510, mean squared error 0.1175.
    # From asymmetric levels: the iteration itself must find the symmetric optimum.
    init = jnp.array([-3.0, -0.2, 0.1, 0.5])
    result = lloyd_max(jax.random.key(0), grid, 4, num_iters=300, weights=density, init=init)
    np.testing.assert_allclose(result.levels, [-1.510, -0.4528, 0.4528, 1.510], atol=1e-3)
    np.testing.assert_allclose(result.thresholds, [-0.9816, 0.0, 0.9816], atol=1e-3)
    np.testing.assert_allclose(result.mse, 0.1175, atol=2e-4)
    assert np.all(np.diff(result.mse_history) <= 1e-6)


def test_lloyd_max_from_a_sample_and_its_assignments():
    x = np.random.default_rng(0).normal(size=20_000).astype(np.float32)
    result = lloyd_max(jax.random.key(1), x, 4, num_iters=200)
    np.testing.assert_allclose(result.levels, [-1.510, -0.4528, 0.4528, 1.510], atol=0.03)
    # The assignments are the nearest levels and the MSE is theirs.
    nearest = np.argmin(np.abs(x[:, None] - np.asarray(result.levels)[None]), axis=1)
    np.testing.assert_array_equal(result.assignments, nearest)
    np.testing.assert_allclose(result.mse, np.mean((x - np.asarray(result.levels)[nearest]) ** 2), rtol=1e-5)


def test_kmeans_matches_scikit_learn_from_the_same_initial_centres():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(loc, 1.0, size=(100, 3)) for loc in (-3.0, 0.0, 3.0)]).astype(np.float32)
    init = x[rng.choice(len(x), 5, replace=False)]
    reference = KMeans(5, init=init, n_init=1, max_iter=300, tol=0.0, algorithm="lloyd")
    reference.fit(x.astype(np.float64))
    result = kmeans(jax.random.key(0), x, 5, num_iters=50, init=init)
    np.testing.assert_allclose(result.inertia, reference.inertia_, rtol=1e-5)
    np.testing.assert_array_equal(result.assignments, reference.labels_)
    np.testing.assert_allclose(result.centres, reference.cluster_centers_, atol=1e-4)
    assert np.all(np.diff(result.inertia_history) <= 1e-3)


def test_kmeans_plus_plus_finds_well_separated_clusters():
    rng = np.random.default_rng(1)
    means = np.array([[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0], [0.0, -10.0]])
    x = (means[rng.integers(0, 4, 400)] + 0.1 * rng.normal(size=(400, 2))).astype(np.float32)
    result = kmeans(jax.random.key(3), x, 4, num_iters=10)
    # k-means++ seeds one centre in each blob (a random init often does not), so Lloyd ends at the means.
    found = np.asarray(result.centres)[np.argsort(np.asarray(result.centres) @ [1.0, 0.1])]
    expected = means[np.argsort(means @ [1.0, 0.1])]
    np.testing.assert_allclose(found, expected, atol=0.05)
    assert result.inertia < 400 * 2 * 0.01 * 1.5


def test_bad_arguments_raise_value_error():
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="num_clusters"):
        kmeans(jax.random.key(0), x, 6, num_iters=1)
    with pytest.raises(ValueError, match="num_iters"):
        lloyd_max(jax.random.key(0), x[:, 0], 2, num_iters=0)
