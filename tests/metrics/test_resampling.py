"""Bootstrap: nominal coverage over repeated experiments, paired vs independent resampling, the loop path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import resampling as bs


def test_intervals_cover_a_known_mean_at_about_the_nominal_rate():
    """200 experiments of 100 N(3, 1) draws each, vmapped: the 95% interval holds 3 about 95% of the time."""
    reps, n, truth = 200, 100, 3.0
    data = truth + jax.random.normal(jax.random.key(1), (reps, n))
    keys = jax.random.split(jax.random.key(0), reps)
    result = jax.vmap(lambda k, x: bs.bootstrap(k, jnp.mean, x, num_resamples=400))(keys, data)
    coverage = float(jnp.mean((result.lower <= truth) & (truth <= result.upper)))
    assert 0.88 <= coverage <= 0.99, coverage
    # The bootstrap standard error of a mean is the plug-in sd / sqrt(n): about 1 / sqrt(n) on average.
    np.testing.assert_allclose(float(jnp.mean(result.std)), 1 / np.sqrt(n), rtol=0.05)
    np.testing.assert_allclose(result.estimate, jnp.mean(data, axis=1), rtol=1e-6)


def test_narrower_confidence_gives_a_nested_interval():
    x = jax.random.normal(jax.random.key(2), (80,))
    wide = bs.bootstrap(jax.random.key(3), jnp.mean, x, num_resamples=500, confidence=0.95)
    narrow = bs.bootstrap(jax.random.key(3), jnp.mean, x, num_resamples=500, confidence=0.5)
    assert wide.lower < narrow.lower < narrow.upper < wide.upper
    assert wide.resamples.shape == (500,)


def test_paired_resampling_keeps_rows_together():
    """x and y = x + tiny noise: the paired difference of means barely moves, the unpaired one does."""
    x = jax.random.normal(jax.random.key(4), (200,))
    y = x + 0.01 * jax.random.normal(jax.random.key(5), (200,))
    diff = lambda a, b: jnp.mean(a) - jnp.mean(b)
    paired = bs.bootstrap(jax.random.key(6), diff, x, y, num_resamples=300, paired=True)
    unpaired = bs.bootstrap(jax.random.key(6), diff, x, y, num_resamples=300)
    assert float(paired.std) < 0.002 and float(unpaired.std) > 0.05, (paired.std, unpaired.std)


def test_the_python_loop_path_matches_the_vectorized_one():
    x = np.random.default_rng(0).normal(size=60)
    y = np.random.default_rng(1).normal(size=25)
    numpy_metric = lambda a, b: np.median(a) - np.median(b)
    looped = bs.bootstrap(jax.random.key(7), numpy_metric, x, y, num_resamples=50, vectorized=False)
    jax_metric = lambda a, b: jnp.median(a) - jnp.median(b)
    mapped = bs.bootstrap(jax.random.key(7), jax_metric, x, y, num_resamples=50, batch_size=16)
    np.testing.assert_allclose(looped.resamples, mapped.resamples, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(looped.lower, mapped.lower, rtol=1e-5, atol=1e-6)


def test_options_are_checked():
    x = jnp.zeros((5,))
    with pytest.raises(ValueError, match="paired"):
        bs.bootstrap(jax.random.key(0), lambda a, b: jnp.mean(a), x, jnp.zeros((6,)), paired=True)
    with pytest.raises(ValueError, match="confidence"):
        bs.bootstrap(jax.random.key(0), jnp.mean, x, confidence=95)
    with pytest.raises(ValueError, match="scalar"):
        bs.bootstrap(jax.random.key(0), lambda a: a, x, num_resamples=4)
