"""MAF and IAF: exact inverses and log-dets, one-pass and D-pass directions agree, densities normalise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.flow.autoregressive import IAF, MAF
from genjax.models.flow.bijector import Chain, Reverse
from genjax.models.networks.made import random_ordering
from tests.models.flow.bijector_checks import check_bijector, perturbed_params

DIM = 4


def standard_normal_log_prob(z: jax.Array) -> jax.Array:
    """`[B, D] -> [B]`."""
    return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def grid_mass(layer, params, *, half_width: float = 6.0, points: int = 300) -> float:
    """Midpoint-rule integral over [-w, w]^2 of the 2-D density with a standard normal base."""
    step = 2 * half_width / points
    centres = -half_width + step * (jnp.arange(points) + 0.5)
    grid = jnp.stack(jnp.meshgrid(centres, centres, indexing="ij"), axis=-1).reshape(-1, 2)
    z, log_det = jax.jit(lambda x: layer.apply(params, x, method="forward"))(grid)
    return float(jnp.sum(jnp.exp(standard_normal_log_prob(z) + log_det)) * step**2)


def stack(kind, *, num_layers: int = 2, hidden_sizes=(8,)) -> Chain:
    """``num_layers`` layers of ``kind`` with a `Reverse` between consecutive ones (the standard stack)."""
    layers = []
    for index in range(num_layers):
        if index:
            layers.append(Reverse())
        layers.append(kind(hidden_sizes, activation="tanh"))
    return Chain(layers)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MAF, IAF])
def test_fresh_layer_is_identity(kind):
    x = jax.random.normal(jax.random.key(0), (3, DIM))
    layer = kind((8,))
    params = layer.init(jax.random.key(1), x, method="forward")
    for method in ("forward", "inverse"):
        y, log_det = layer.apply(params, x, method=method)
        np.testing.assert_allclose(y, x, atol=1e-6)
        np.testing.assert_allclose(log_det, 0.0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer",
    [
        MAF((8, 8)),
        IAF((8, 8)),
        MAF((8,), ordering=random_ordering(DIM, seed=5), scale_fn="sigmoid"),
        IAF((), ordering=random_ordering(DIM, seed=6), activation="tanh"),
        stack(MAF, num_layers=2),
        stack(IAF, num_layers=2),
    ],
    ids=["maf", "iaf", "maf-random-order-sigmoid", "iaf-random-order-linear", "maf-chain", "iaf-chain"],
)
def test_bijector_checks(layer):
    x = jax.random.normal(jax.random.key(0), (4, DIM))
    check_bijector(layer, perturbed_params(layer, x), x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MAF, IAF])
def test_one_dimension(kind):
    """D == 1: nothing to condition on, the D-pass direction runs no loop iterations."""
    x = jax.random.normal(jax.random.key(0), (3, 1))
    layer = kind(())
    check_bijector(layer, perturbed_params(layer, x), x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MAF, IAF])
def test_density_and_sampling_agree(kind):
    """log p(x) from a density pass equals the log-prob the sampling pass implied."""
    layer = stack(kind, num_layers=2, hidden_sizes=(16, 16))
    z = jax.random.normal(jax.random.key(3), (64, DIM))
    params = perturbed_params(layer, z, scale=0.3)
    x, inverse_log_det = jax.jit(lambda v: layer.apply(params, v, method="inverse"))(z)
    sampled_log_prob = standard_normal_log_prob(z) - inverse_log_det
    z_back, log_det = jax.jit(lambda v: layer.apply(params, v, method="forward"))(x)
    assert float(jnp.abs(inverse_log_det).max()) > 0.1  # not trivially the identity
    np.testing.assert_allclose(standard_normal_log_prob(z_back) + log_det, sampled_log_prob, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [MAF, IAF])
def test_two_dimensional_density_integrates_to_one(kind):
    layer = stack(kind, num_layers=3)
    params = perturbed_params(layer, jnp.zeros((1, 2)), seed=4, scale=0.2)
    np.testing.assert_allclose(grid_mass(layer, params), 1.0, atol=1e-2)


@pytest.mark.parametrize("kind", [MAF, IAF])
def test_rejects_images(kind):
    with pytest.raises(ValueError, match="vectors"):
        kind((4,)).init(jax.random.key(0), jnp.ones((1, 2, 2, 1)), method="forward")
