"""Toy networks for EBMs and noise-conditional models: the embedding formula and hand-computed forwards."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.networks.embeddings import sinusoidal_embedding
from genjax.models.networks.mlps import EnergyMLP, NoiseConditionalMLP


def numpy_silu(x):
    return x / (1.0 + np.exp(-x))


def numpy_embedding(values, dim, max_period=10000.0):
    """Written from the formula: column k < half is sin(v w_k), column half + k is cos(v w_k)."""
    half = dim // 2
    out = np.zeros((len(values), dim))
    for row, value in enumerate(values):
        for k in range(half):
            frequency = max_period ** (-k / half)
            out[row, k] = math.sin(value * frequency)
            out[row, half + k] = math.cos(value * frequency)
    return out


@pytest.mark.parametrize("dim", [1, 6, 7, 32])
def test_sinusoidal_embedding_matches_the_formula(dim):
    values = np.array([0.0, 1.0, -2.5, 999.0, np.log(0.01)], np.float32)
    got = np.asarray(sinusoidal_embedding(jnp.asarray(values), dim))
    assert got.shape == (5, dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, numpy_embedding(values.astype(np.float64), dim), atol=2e-4)
    # Value 0 has all sines 0 and all cosines 1: the frequencies cannot hide a phase error there.
    half = dim // 2
    np.testing.assert_array_equal(got[0, :half], 0.0)
    np.testing.assert_allclose(got[0, half : 2 * half], 1.0)


def test_sinusoidal_embedding_max_period_sets_the_lowest_frequency():
    # With 2 columns per half, frequencies are 1 and max_period^(-1/2) = 1/10 for max_period 100.
    got = np.asarray(sinusoidal_embedding(jnp.array([3.0]), 4, max_period=100.0))
    np.testing.assert_allclose(got[0], [np.sin(3.0), np.sin(0.3), np.cos(3.0), np.cos(0.3)], rtol=1e-6)


def dense(params, h):
    return h @ np.asarray(params["kernel"], np.float64) + np.asarray(params["bias"], np.float64)


def test_energy_mlp_is_a_scalar_per_example_and_matches_a_hand_forward():
    model = EnergyMLP(hidden=(16, 8))
    x = np.random.default_rng(0).standard_normal((5, 3, 2, 1)).astype(np.float32)
    params = jax.jit(model.init)(jax.random.key(0), x)
    energy = np.asarray(jax.jit(model.apply)(params, x))
    assert energy.shape == (5,)
    layers = params["params"]["MLP_0"]
    h = x.reshape(5, -1).astype(np.float64)
    h = numpy_silu(dense(layers["Dense_0"], h))
    h = numpy_silu(dense(layers["Dense_1"], h))
    np.testing.assert_allclose(energy, dense(layers["Dense_2"], h)[:, 0], rtol=1e-5, atol=1e-6)
    # Smooth by default: the Hessian of E in x is not identically zero (ReLU's would be).
    hessian = jax.jit(jax.hessian(lambda v: model.apply(params, v[None])[0]))(jnp.asarray(x[0]))
    assert np.abs(np.asarray(hessian)).max() > 1e-4


def perturbed(params, seed, scale=0.3):
    """Every leaf replaced by N(0, scale^2) draws (the zero-initialised output layer included)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: (scale * rng.standard_normal(x.shape)).astype(np.float32), params)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2,), (4, 4, 1)])
def test_noise_conditional_mlp_keeps_the_shape_and_starts_at_zero(shape):
    model = NoiseConditionalMLP(hidden=(16, 16), embedding_dim=8)
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(np.float32)
    cond = np.array([-1.0, 0.0, 2.0], np.float32)
    params = jax.jit(model.init)(jax.random.key(0), x, cond)
    out = jax.jit(model.apply)(params, x, cond)
    assert out.shape == x.shape and out.dtype == jnp.float32
    np.testing.assert_array_equal(out, 0.0)  # zero-initialised output layer


@pytest.mark.slow
def test_noise_conditional_mlp_adds_the_projected_embedding_to_every_hidden_layer():
    model = NoiseConditionalMLP(hidden=(12, 10), embedding_dim=6)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    cond = np.array([-4.6, -1.0, 0.5, 3.9], np.float32)  # e.g. log sigmas
    params = perturbed(jax.jit(model.init)(jax.random.key(0), x, cond), seed=1)
    apply = jax.jit(model.apply)
    out = np.asarray(apply(params, x, cond))
    p = params["params"]
    embedding = numpy_silu(dense(p["embed"], numpy_embedding(cond.astype(np.float64), 6)))
    h = x.astype(np.float64)
    for index in range(2):
        h = numpy_silu(dense(p[f"dense_{index}"], h) + dense(p[f"cond_{index}"], embedding))
    np.testing.assert_allclose(out, dense(p["out"], h), rtol=1e-4, atol=1e-5)
    # Conditioning matters: the same x at another level gives another output.
    other = np.asarray(apply(params, x, cond + 1.0))
    assert np.abs(other - out).min() > 1e-4


def test_noise_conditional_mlp_needs_a_hidden_layer():
    with pytest.raises(ValueError, match="hidden"):
        NoiseConditionalMLP(hidden=()).init(jax.random.key(0), jnp.zeros((2, 3)), jnp.zeros(2))
