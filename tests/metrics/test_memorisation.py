"""Nearest training neighbours against brute force; inversion against the least-squares closed form."""

import numpy as np
import pytest

from genjax.metrics.memorisation import inversion_reconstruction_error, nearest_neighbour_distances


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 3, 4)).astype(np.float32)
    samples = rng.normal(size=(50, 3, 4)).astype(np.float32)
    samples[:5] = train[[7, 3, 150, 3, 99]]  # memorised samples sit at distance 0
    distances, indices = nearest_neighbour_distances(train, samples, chunk_size=16)
    brute = np.linalg.norm(samples.reshape(50, 1, -1) - train.reshape(1, 200, -1), axis=-1)
    np.testing.assert_array_equal(np.asarray(indices), brute.argmin(axis=1))
    np.testing.assert_allclose(np.asarray(distances), brute.min(axis=1), rtol=1e-5, atol=1e-6)
    assert list(np.asarray(indices[:5])) == [7, 3, 150, 3, 99] and np.allclose(distances[:5], 0.0)


def test_inversion_of_a_linear_generator_reaches_the_least_squares_residual():
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    weights = rng.normal(size=(3, 8)).astype(np.float32)  # G(z) = z A: a 3-d subspace of R^8
    targets = rng.normal(size=(6, 8)).astype(np.float32)
    targets[:3] = rng.normal(size=(3, 3)) @ weights  # in G's range: reconstructible exactly
    solution, *_ = np.linalg.lstsq(weights.T, targets.T, rcond=None)
    residual = np.sum((solution.T @ weights - targets) ** 2, axis=1)
    errors, latents = inversion_reconstruction_error(
        jax.random.key(0), lambda z: z @ jnp.asarray(weights), targets, latent_shape=(3,), num_steps=800,
        num_restarts=2,
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(errors), residual, rtol=1e-3, atol=1e-4)
    assert np.all(np.asarray(errors[:3]) < 1e-4)
    np.testing.assert_allclose(np.asarray(latents), solution.T, rtol=1e-2, atol=1e-2)


def test_inversion_checks_what_it_is_given():
    import jax

    with pytest.raises(AssertionError, match="shaped like x"):
        inversion_reconstruction_error(jax.random.key(0), lambda z: z, np.zeros((2, 4)), latent_shape=(3,))
    with pytest.raises(ValueError, match="num_steps"):
        inversion_reconstruction_error(
            jax.random.key(0), lambda z: z, np.zeros((2, 3)), latent_shape=(3,), num_steps=0
        )


def test_nearest_neighbour_figure_pairs_each_sample_with_its_neighbour(tmp_path):
    from PIL import Image

    from genjax.visualize import save_nearest_neighbours

    samples = np.zeros((3, 4, 4, 1), np.float32)
    neighbours = np.ones((3, 4, 4, 1), np.float32)
    path = save_nearest_neighbours(tmp_path / "nn.png", samples, neighbours)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (3 * 5 + 1, 2 * 5 + 1)  # 3 rows of (sample, neighbour), 1-pixel padding
    assert grid[1:5, 1:5].max() == 0 and grid[1:5, 6:10].min() == 255
