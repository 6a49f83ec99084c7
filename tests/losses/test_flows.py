"""Flow likelihood accounting: change of variables, dequantization, bits/dim."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import distributions, losses, metrics


def test_flow_log_prob_is_base_plus_log_det_and_matches_a_known_density():
    # z = (x - m) / s maps N(m, s^2) to N(0, 1); log|dz/dx| = -log s per dim.
    x = jax.random.normal(jax.random.key(0), (5, 3)) * 2.0 + 1.0
    mean, std = 1.0, 2.0
    z = (x - mean) / std
    log_det = jnp.full(5, -3 * math.log(std))
    expected = distributions.normal_log_prob(x, mean, jnp.full_like(x, 2 * math.log(std)))
    np.testing.assert_allclose(losses.flow_log_prob(z, log_det), expected, rtol=1e-6)
    logistic = losses.flow_log_prob(z, log_det, base_log_prob=distributions.standard_logistic_log_prob)
    np.testing.assert_allclose(logistic, distributions.standard_logistic_log_prob(z) + log_det, rtol=1e-6)


def test_uniform_dequantize_stays_in_each_bin_and_is_uniform():
    num_levels = 17
    x = jnp.tile(jnp.arange(num_levels), (4000, 1))
    y = losses.uniform_dequantize(jax.random.key(1), x, num_levels=num_levels)
    assert y.dtype == jnp.float32
    assert bool(jnp.all(jnp.floor(y * num_levels) == x))
    offsets = y * num_levels - x
    np.testing.assert_allclose(jnp.mean(offsets), 0.5, atol=0.01)
    np.testing.assert_allclose(jnp.var(offsets), 1 / 12, atol=0.01)


@pytest.mark.slow
def test_dequantized_log_prob_recovers_a_discrete_distribution_exactly():
    # A density constant on bins, p(y) = L^D P(bin(y)), is the dequantized
    # version of P; the accounting must give back log P(x) exactly.
    num_levels, num_dims = 3, 2
    probs = jax.random.dirichlet(jax.random.key(2), jnp.ones(num_levels**num_dims)).reshape(3, 3)
    x = jnp.array([[0, 0], [1, 2], [2, 1], [2, 2]])
    y = losses.uniform_dequantize(jax.random.key(3), x, num_levels=num_levels)
    bins = jnp.floor(y * num_levels).astype(int)
    log_density = jnp.log(probs[bins[:, 0], bins[:, 1]]) + num_dims * math.log(num_levels)
    discrete = losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
    np.testing.assert_allclose(discrete, jnp.log(probs[x[:, 0], x[:, 1]]), rtol=1e-5)
    # Summed over all L^D outcomes, the probabilities are normalised.
    grid = jnp.stack(jnp.meshgrid(jnp.arange(3), jnp.arange(3), indexing="ij"), -1).reshape(-1, 2)
    bins = grid
    log_density = jnp.log(probs[bins[:, 0], bins[:, 1]]) + num_dims * math.log(num_levels)
    total = jnp.sum(jnp.exp(losses.dequantized_log_prob(log_density, num_dims=2, num_levels=3)))
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


@pytest.mark.parametrize("num_levels", [2, 17, 256])
def test_uniform_density_scores_log2_levels_bits_per_dim(num_levels):
    # The uniform density on [0, 1)^D is the uniform distribution over L^D values.
    num_dims = 784
    log_density = jnp.zeros(3)
    discrete = losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
    np.testing.assert_allclose(metrics.bits_per_dim(-discrete, num_dims), math.log2(num_levels), rtol=1e-6)
    # The same figure straight from the continuous NLL.
    np.testing.assert_allclose(
        metrics.bits_per_dim(-log_density, num_dims, num_levels=num_levels), math.log2(num_levels), rtol=1e-6
    )


def test_bits_per_dim_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_dims"):
        metrics.bits_per_dim(1.0, 0)
    with pytest.raises(ValueError, match="num_levels"):
        metrics.bits_per_dim(1.0, 4, num_levels=1)
